"""Backups run the qemu-img the user set in Preferences (the app, the CLI and a scheduled
backup read the same settings file)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from desktopvm import paths
from desktopvm.backup import tools
from desktopvm.settings import Settings, save_settings


def test_the_qemu_img_set_in_preferences_is_the_one_run(tmp_path: Path) -> None:
    real = shutil.which("qemu-img")
    assert real is not None
    chosen = tmp_path / "tools" / "qemu-img"
    chosen.parent.mkdir()
    chosen.symlink_to(real)
    save_settings(Settings(qemu_img_path=str(chosen)), paths.config_file())
    door = tools.qemu_img()
    assert door._binary == str(chosen)
    assert os.environ.get("DESKTOPVM_HOME")  # the suite's own home, not the user's
    save_settings(Settings(), paths.config_file())
    assert tools.qemu_img()._binary == real
