"""Hyper-V backups on a real host (live only): Export-VM of a running VM with a checkpoint.

    .venv\\Scripts\\python -m pytest --live-hyperv -m live_hyperv tests/backends/hyperv

Proves what the PowerShell double cannot: Export-VM accepts -CaptureLiveState
CaptureDataConsistentState for a running VM (here one without a guest OS, so without the
guest's backup service: whether Hyper-V then falls back or refuses is what this run shows),
the export's file names match the attached disks, Convert-VHD turns the checkpoint's .avhdx
into one whole disk, and the VM keeps running with its checkpoint tree as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.hyperv.backend import HyperVBackend
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    StorageController,
    UsbSpec,
)
from desktopvm.protocol import CancelToken, PowerState, no_progress
from tests.backends.hyperv.harness import hyperv_live_harness
from tests.conformance.harness import Harness
from tests.conformance.live import live_options

pytestmark = pytest.mark.live_hyperv


@pytest.fixture
def harness(pytestconfig: pytest.Config) -> Iterator[Harness]:
    with hyperv_live_harness(live_options(pytestconfig)) as live:
        yield live


def test_a_running_vm_with_a_checkpoint_comes_back_as_whole_disks(harness: Harness,
                                                                  tmp_path: Path):
    live = harness.backend
    assert isinstance(live, HyperVBackend)
    spec = MachineSpec(
        name=harness.name(f"backup-{uuid.uuid4().hex[:6]}"), os="other-linux",
        firmware=FirmwareSpec(kind=Firmware.UEFI), memory=MemorySpec(size_mib=512),
        usb=UsbSpec(version=None, tablet=False),
        storage=(StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VHDX, size_bytes=1 << 30),)),))
    vm_id = live.create(spec, progress=no_progress, cancel=CancelToken())
    live.take_snapshot(vm_id, "before the backup", include_memory=False, progress=no_progress,
                       cancel=CancelToken())
    tree = live.list_snapshots(vm_id)
    live.start(vm_id)
    try:
        folder = tmp_path / "backup"
        folder.mkdir()
        captured = live.capture(vm_id, folder, progress=no_progress, cancel=CancelToken())
        [disk] = captured.disks
        assert list(folder.iterdir()) == [disk.path]  # the staging export is gone
        info = live.disk_info(disk.path)
        assert (info.backing_file, info.virtual_size) == ("", 1 << 30)
        assert captured.was_running
        assert live.get_machine(vm_id).summary.state is PowerState.RUNNING
        assert live.list_snapshots(vm_id) == tree
    finally:
        live.power_off(vm_id)


def test_files_cross_the_session_in_pieces_and_come_back_whole(harness: Harness,
                                                              tmp_path: Path):
    """read_file, write_file, file_hash and new_folder on real Windows PowerShell (the same
    scripts a remote host runs over WinRM; here through the local session)."""
    live = harness.backend
    assert isinstance(live, HyperVBackend)
    data = bytes(700_000) + uuid.uuid4().bytes * 40_000  # an empty stretch, then data
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    folder = live.make_host_folder(harness.name("files"))
    try:
        copy = live.put_host_file(source, folder, "copy.bin", progress=no_progress,
                                  cancel=CancelToken())
        assert Path(copy).read_bytes() == data  # the host is this computer here
        back = tmp_path / "back.bin"
        live.get_host_file(copy, back, progress=no_progress, cancel=CancelToken())
        assert back.read_bytes() == data
    finally:
        live.remove_host_folder(folder)
    assert not Path(folder).exists()
