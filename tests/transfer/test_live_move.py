"""Move a QEMU machine into this computer's VirtualBox and boot it there (live, opt-in):

    .venv/bin/python -m pytest --live-virtualbox -m live_virtualbox tests/transfer/test_live_move.py

VirtualBox cannot run machines on the computers the other suites run on (no kernel driver), so
whether a moved guest boots is proved only here; docs/live-tests.md says how to run it. The
machine gets the run's prefix (--live-prefix, default dvmtest-) and the guard of
tests/conformance/live.py: only machines the test made are removed afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    Disk,
    DiskFormat,
    MachineSpec,
    MemorySpec,
    OpticalDrive,
    SerialMode,
    SerialPort,
    StorageController,
)
from desktopvm.protocol import CancelToken, StartMode, no_progress
from desktopvm.settings import Settings
from desktopvm.testing.qemu_guest import READY, SerialReader
from desktopvm.transfer import move_to, plan_copy
from tests.backends.qemu.backup_kit import MIB, disk_paths, write
from tests.backends.virtualbox.harness import virtualbox_live_harness
from tests.conformance.harness import Harness
from tests.conformance.live import live_options

pytestmark = [pytest.mark.live_virtualbox, pytest.mark.slow,
              pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                 reason="qemu-storage-daemon is not installed")]

SECTOR = 2048  # the marker's place on the raw disk (512-byte sectors)
MARKER = b"MOVED-1\n"


@pytest.fixture
def harness(tmp_path: Path, pytestconfig: pytest.Config) -> Iterator[Harness]:
    with virtualbox_live_harness(tmp_path, live_options(pytestconfig)) as live:
        yield live


def test_a_qemu_machine_moved_into_virtualbox_boots_and_reads_its_disk(harness: Harness,
                                                                       tmp_path: Path):
    from desktopvm.testing.guest.build_iso import build_test_iso

    qemu = QemuBackend(Settings(library_dir=str(tmp_path / "qemu"), qemu_accel="tcg"))
    spec = MachineSpec(
        name="traveller", os="other-linux", memory=MemorySpec(size_mib=256),
        storage=(StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
            Disk(format=DiskFormat.QCOW2, size_bytes=64 * MIB),), optical=(
            OpticalDrive(iso=str(build_test_iso()), port=1),)),),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET),),
        boot_order=(BootDevice.OPTICAL, BootDevice.DISK))
    machine = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    write(disk_paths(qemu, machine)[0], SECTOR * 512, MARKER, tmp_path)
    vbox = harness.backend

    plan = plan_copy(qemu, machine, vbox)
    assert plan.blockers == ()
    print("\n".join(f"{c.what}: {c.before} -> {c.after} ({c.reason})" for c in plan.changes))
    moved = move_to(qemu, machine, vbox, name=f"{harness.prefix}moved", progress=no_progress,
                    cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert qemu.list_machines() == []

    vbox.start(moved, mode=StartMode.HEADLESS)
    reader = SerialReader(vbox, moved)
    try:
        reader.wait_for(READY, timeout=180)
        out = reader.run(f"echo READ-$(dd if=/dev/sda bs=512 skip={SECTOR} count=1 "
                         "2>/dev/null | head -c 7)-$((6*7))", b"-42\r")
        found = re.search(rb"READ-(\S*)-42", out)
        assert found is not None and found[1] == MARKER.strip(), out
    finally:
        reader.close()
        vbox.power_off(moved)
