"""Fixtures for QEMU tests: the test guest ISO and a backend on a private library."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.protocol import CancelToken, PowerState, no_progress
from desktopvm.settings import Settings


@pytest.fixture(scope="session")
def guest_iso() -> Path:
    from desktopvm.testing.guest.build_iso import build_test_iso

    return build_test_iso()


@pytest.fixture(scope="session")
def generic_iso() -> Path:
    """The test guest on Debian's generic kernel: mouse, tablet and bochs drivers (boots slower)."""
    from desktopvm.testing.guest.build_iso import build_test_iso

    return build_test_iso(flavour="generic")


@pytest.fixture
def qemu(tmp_path: Path) -> Iterator[object]:
    from backends.qemu.backend import QemuBackend

    backend = QemuBackend(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))
    yield backend
    for machine in backend.list_machines():  # never leave a QEMU running
        if machine.state not in (PowerState.OFF, PowerState.ABORTED):
            try:
                backend.power_off(machine.id)
            except Exception:
                runtime = backend.store.running_runtime(backend.store.files(machine.id))
                if runtime is not None:
                    from backends.qemu import process
                    process.kill(runtime.pid)
        backend.delete(machine.id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())
