"""The QEMU facade: what it promises where it cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_backend_says_it_does_not_run_on_windows(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path):
    from backends.qemu import WINDOWS_REASON, detect
    from backends.qemu.backend import QemuBackend
    from desktopvm.settings import Settings

    settings = Settings(library_dir=str(tmp_path))
    backend = QemuBackend(settings)
    monkeypatch.setattr("sys.platform", "win32")
    assert detect(settings).reason == WINDOWS_REASON
    probe = backend.probe()
    assert not probe.available and "not run on Windows" in probe.reason
