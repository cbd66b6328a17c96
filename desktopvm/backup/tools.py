"""The qemu-img backups run: the one the user set in Preferences, as the QEMU backend finds it."""

from __future__ import annotations

import shutil
from pathlib import Path

from backends.qemu.qemu_img import QemuImg, find_qemu_img
from desktopvm.settings import load_settings


def qemu_img() -> QemuImg:
    """A qemu-img door honouring Preferences (qemu-img path, or beside the QEMU binary).

    Backups run from the app, the CLI and the OS scheduler alike; all three save or read the
    same settings file, so it is read here rather than threaded through every call.
    """
    settings = load_settings()
    binary = settings.qemu_binary
    beside = binary if not binary or Path(binary).is_file() else shutil.which(binary) or ""
    return QemuImg(find_qemu_img(settings.qemu_img_path, beside))
