"""Hyper-V backups over the PowerShell double: capture_vm (Export-VM), remote refusal, clean-up.

What the double checks: the request and its values (through the real session), the export's
folder layout from Export-VM's reference, a running VM left running, a differencing disk given
back whole, every file of a failed or cancelled capture removed. What only a real host proves
(Export-VM with CaptureDataConsistentState on a live guest, Convert-VHD flattening an .avhdx,
the export's file names) is in docs/hyperv.md and docs/live-tests.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import DiskFormat, defaults_for
from desktopvm.protocol import (
    CancelToken,
    CapturingBackend,
    CommandFailed,
    OperationCancelled,
    PowerState,
    no_progress,
)
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost


def open_backend(tmp_path: Path, *, local: bool = True) -> HyperVBackend:
    return HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)), local=local,
                         host="localhost" if local else "hv01.example.org",
                         metadata=MetadataStore("localhost", tmp_path / "metadata"))


@pytest.fixture
def backend(fake_host: FakeHost, tmp_path: Path) -> Iterator[HyperVBackend]:
    hyperv = open_backend(tmp_path)
    yield hyperv
    hyperv.close()


def make(backend: HyperVBackend, name: str = "web ‘01’") -> str:
    spec = defaults_for("debian12", backend.capabilities(), name=name)
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def empty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "backup $(x) ‘set’"
    folder.mkdir()
    return folder


def test_a_running_vm_is_exported_disk_by_disk_and_keeps_running(backend: HyperVBackend,
                                                                  fake_host: FakeHost,
                                                                  tmp_path: Path):
    assert isinstance(backend, CapturingBackend)
    caps = backend.capabilities()
    assert (caps.backup_running, caps.backup_incremental) == (True, False)
    vm_id = make(backend)
    backend.start(vm_id)
    spec = backend.get_machine(vm_id).spec
    folder = empty_folder(tmp_path)

    captured = backend.capture(vm_id, folder, progress=no_progress, cancel=CancelToken())

    assert captured.was_running and captured.point == "" and captured.spec == spec
    [(index, controller)] = [(i, c) for i, c in enumerate(spec.storage) if c.disks]
    [disk] = captured.disks
    [source] = controller.disks
    assert (disk.controller, disk.port, disk.device) == (index, source.port, source.device)
    assert (disk.format, disk.virtual_size) == (DiskFormat.VHDX, source.size_bytes)
    assert disk.path.read_bytes() == Path(source.path).read_bytes()
    # Only the disks are left (the export's staging folder is gone); the values went as data.
    assert sorted(p.name for p in folder.iterdir()) == [disk.path.name]
    request = next(e["args"] for e in fake_host.log() if e["op"] == "capture_vm")
    assert request == {"Id": vm_id, "Staging": str(folder / ".hyperv-export"),
                       "Destination": str(folder)}
    assert backend.get_machine(vm_id).summary.state is PowerState.RUNNING


def test_a_differencing_disk_comes_back_whole(backend: HyperVBackend, fake_host: FakeHost,
                                              tmp_path: Path):
    vm_id = make(backend, "with checkpoint")
    base = Path(backend.get_machine(vm_id).spec.all_disks()[0][1].path)
    child = base.with_name("disk_6C1B.avhdx")
    child.write_text(json.dumps({"VhdFormat": "VHDX", "VhdType": "Differencing",
                                 "Size": 3 << 30, "ParentPath": str(base)}), "utf-8")

    def attach_child(state: dict[str, Any]) -> None:
        state["vms"][vm_id]["HardDrives"][0]["Path"] = str(child)

    fake_host.update(attach_child)
    folder = empty_folder(tmp_path)
    captured = backend.capture(vm_id, folder, progress=no_progress, cancel=CancelToken())
    [disk] = captured.disks
    written = json.loads(disk.path.read_text("utf-8"))
    assert (disk.path.name, disk.format, disk.virtual_size) == ("disk-0.vhdx", DiskFormat.VHDX,
                                                               3 << 30)
    assert (written["VhdType"], written["ParentPath"]) == ("Dynamic", "")
    assert not captured.was_running


def test_a_remote_machine_is_exported_there_copied_here_and_the_export_there_removed(
        remote_hyperv: HyperVBackend, fake_host: FakeHost, tmp_path: Path):
    assert remote_hyperv.capabilities().backup_running
    vm_id = make(remote_hyperv, "remote ‘db’")
    remote_hyperv.start(vm_id)
    source = Path(remote_hyperv.get_machine(vm_id).spec.all_disks()[0][1].path)
    folder = empty_folder(tmp_path)
    stages: list[str] = []

    captured = remote_hyperv.capture(vm_id, folder, cancel=CancelToken(),
                                     progress=lambda _fraction, stage: stages.append(stage))

    [disk] = captured.disks
    assert disk.path.parent == folder and disk.path.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == [disk.path.name]
    # The export was written on the host, in a folder made there for it, which is gone now.
    request = next(e["args"] for e in fake_host.log() if e["op"] == "capture_vm")
    there = Path(request["Destination"])
    assert there.parent == Path(fake_host.state()["host"]["VirtualMachinePath"])
    assert there.name.startswith("DesktopVM-backup-remote") and not there.exists()
    assert request["Staging"] == str(there / ".hyperv-export")
    assert any(stage.startswith("Copying disk-0.vhdx from 127.0.0.1") for stage in stages)
    assert remote_hyperv.get_machine(vm_id).summary.state is PowerState.RUNNING


def test_a_remote_capture_that_fails_on_the_way_removes_both_copies(
        remote_hyperv: HyperVBackend, fake_host: FakeHost, tmp_path: Path):
    vm_id = make(remote_hyperv)
    folder = empty_folder(tmp_path)
    fake_host.fault("read_file", "error", error={
        "category": "ReadError", "fqid": "IOException", "message": "The device is not ready.",
        "type": "System.Management.Automation.MethodInvocationException"})
    with pytest.raises(CommandFailed, match="device is not ready"):
        remote_hyperv.capture(vm_id, folder, progress=no_progress, cancel=CancelToken())
    assert list(folder.iterdir()) == []
    there = Path(next(e["args"] for e in fake_host.log()
                      if e["op"] == "capture_vm")["Destination"])
    assert not there.exists()


def test_a_cancelled_capture_removes_what_the_export_wrote(backend: HyperVBackend,
                                                           fake_host: FakeHost, tmp_path: Path):
    vm_id = make(backend)
    backend.start(vm_id)
    folder = empty_folder(tmp_path)
    cancel = CancelToken()

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith("Exporting"):
            cancel.cancel()  # Hyper-V's copy runs to its end, then is removed

    with pytest.raises(OperationCancelled):
        backend.capture(vm_id, folder, progress=progress, cancel=cancel)
    assert "capture_vm" in fake_host.ops()
    assert list(folder.iterdir()) == []
    assert backend.get_machine(vm_id).summary.state is PowerState.RUNNING


def test_a_disk_swapped_as_the_backup_starts_fails_it_and_removes_the_copies(
        backend: HyperVBackend, fake_host: FakeHost, tmp_path: Path):
    vm_id = make(backend)
    drive = Path(backend.get_machine(vm_id).spec.all_disks()[0][1].path)
    other = drive.with_name("replacement.vhdx")
    other.write_bytes(drive.read_bytes())

    def swap(state: dict[str, Any]) -> None:
        state["vms"][vm_id]["HardDrives"][0]["Path"] = str(other)

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith("Exporting"):  # after the spec was read, before the export
            fake_host.update(swap)

    folder = empty_folder(tmp_path)
    with pytest.raises(CommandFailed, match="did not give back the disk"):
        backend.capture(vm_id, folder, progress=progress, cancel=CancelToken())
    assert list(folder.iterdir()) == []
