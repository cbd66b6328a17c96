"""Fixtures for backup tests: a capturing double with real qcow2 disks, a destination."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopvm.backup import BackupSet, back_up
from desktopvm.protocol import CancelToken, no_progress
from tests.backends.hyperv.conftest import (  # noqa: F401 - shared fixtures
    fake_host,
    remote_hyperv,
    winrm_server,
)
from tests.backends.qemu.conftest import guest_iso, qemu  # noqa: F401 - shared fixtures
from tests.backup.doubles import MIB, CaptureDouble


@pytest.fixture
def machine(tmp_path: Path) -> CaptureDouble:
    double = CaptureDouble(tmp_path / "machine", (4 * MIB, 2 * MIB))
    double.write(0, 0, 64 * 1024, 0x11)
    double.write(1, MIB, 4096, 0x21)
    return double


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def backup(machine: CaptureDouble, destination: Path, **options: bool) -> BackupSet:
    return back_up(machine, "m1", destination, progress=no_progress,  # type: ignore[arg-type]
                   cancel=CancelToken(), **options)
