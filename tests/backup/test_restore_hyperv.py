"""Restore onto Hyper-V (no OVF import): disks put together as real VHDX files by qemu-img in the
host's disk folder, then the real backend's create over the PowerShell double.

What proves what: the VHDX files are real (read back with qemu-img); the machine's settings
and the create_vm request are the real Hyper-V backend's plan, answered by the double
(desktopvm/testing/doubles/hyperv), which checks existing disks like Assert-DvmOwnDisk. The
double stores its disks as small JSON records, so the test hands it such a record in place of
each real VHDX just before create (the bytes were checked first). Real Hyper-V: live suite.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.backup import BackupSet, restore
from desktopvm.model import ControllerKind, DiskFormat, Firmware, FirmwareSpec, MachineSpec
from desktopvm.protocol import BackendError, CancelToken, OperationCancelled, no_progress
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from tests.backup.conftest import backup
from tests.backup.doubles import MIB


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    host = FakeHost(tmp_path / "host")
    for key, value in host.environment.items():
        monkeypatch.setenv(key, value)
    return host


@pytest.fixture
def hyperv(fake_host: FakeHost, tmp_path: Path) -> Iterator[HyperVBackend]:
    backend = HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                            metadata=MetadataStore("localhost", tmp_path / "metadata"))
    yield backend
    backend.close()


def raw(vhdx: Path) -> bytes:
    out = vhdx.with_suffix(".raw")
    subprocess.run(["qemu-img", "convert", "-f", "vhdx", "-O", "raw", str(vhdx), str(out)],
                   check=True, capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


def chain_of_two(machine: Any, destination: Path) -> BackupSet:
    machine.spec = machine.spec.model_copy(update={
        "os": "debian12", "firmware": FirmwareSpec(kind=Firmware.UEFI)})
    backup(machine, destination)
    machine.write(1, MIB, 4096, 0x52)
    return backup(machine, destination)


def as_the_double_keeps_disks(hyperv: HyperVBackend, seen: list[MachineSpec],
                              monkeypatch: pytest.MonkeyPatch,
                              contents: list[bytes] | None = None) -> None:
    """Record the spec create gets (and each disk's guest-visible bytes in `contents`); hand
    the double its JSON disk records for the VHDX files."""
    real_create = hyperv.create

    def create(spec: MachineSpec, **options: Any) -> str:
        seen.append(spec)
        for _, disk in spec.all_disks():
            path = Path(disk.path)
            data = raw(path)  # a real VHDX, read by qemu-img
            if contents is not None:
                contents.append(data)
            path.write_text(json.dumps({"VhdFormat": "VHDX", "VhdType": "Dynamic",
                                        "Size": len(data), "ParentPath": ""}))
        return real_create(spec, **options)
    monkeypatch.setattr(hyperv, "create", create)


def cancelling_after_create(backend: Any, token: CancelToken,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The user cancels the moment the machine exists (create has returned)."""
    created = backend.create

    def create_then_cancel(spec: MachineSpec, **options: Any) -> str:
        new_id = str(created(spec, **options))
        token.cancel()
        return new_id
    monkeypatch.setattr(backend, "create", create_then_cancel)


def test_a_point_restored_onto_hyperv_is_created_with_vhdx_disks(machine, destination, hyperv,
                                                                  fake_host, monkeypatch):
    point = chain_of_two(machine, destination)
    seen: list[MachineSpec] = []
    as_the_double_keeps_disks(hyperv, seen, monkeypatch)
    new_id = restore(point.path, hyperv, name="on hyperv", progress=no_progress,
                     cancel=CancelToken())
    [spec] = seen
    disks = [Path(d.path) for _, d in spec.all_disks()]
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert all(p.parent.parent == root and p.suffix == ".vhdx" for p in disks)
    assert all(d.existing and d.format is DiskFormat.VHDX for _, d in spec.all_disks())
    assert spec.firmware.kind is Firmware.UEFI
    assert {c.kind for c in spec.storage} == {ControllerKind.SCSI}  # generation 2
    [request] = [e for e in fake_host.log() if e["op"] == "create_vm"]
    args = request["args"]
    assert args["Generation"] == 2 and args["Name"] == "on hyperv"
    assert [(d["Path"], d["Create"]) for d in args["Disks"]] == [(str(p), False) for p in disks]
    info = hyperv.get_machine(new_id)
    assert info.spec.name == "on hyperv" and len(info.spec.all_disks()) == 2


def test_the_vhdx_disks_hold_the_point(machine, destination, hyperv, monkeypatch):
    point = chain_of_two(machine, destination)
    contents: list[bytes] = []

    def create(spec: MachineSpec, **options: Any) -> str:
        contents.extend(raw(Path(d.path)) for _, d in spec.all_disks())
        raise BackendError("stop here")

    monkeypatch.setattr(hyperv, "create", create)
    with pytest.raises(BackendError, match="stop here"):
        restore(point.path, hyperv, name="bytes", progress=no_progress, cancel=CancelToken())
    first, second = contents
    assert (len(first), len(second)) == (4 * MIB, 2 * MIB)
    assert first[:512] == b"\x11" * 512
    assert second[MIB:MIB + 4096] == b"\x52" * 4096


def test_a_failed_create_leaves_no_disks_on_the_host(machine, destination, hyperv, fake_host,
                                                     monkeypatch):
    point = chain_of_two(machine, destination)
    seen: list[MachineSpec] = []
    as_the_double_keeps_disks(hyperv, seen, monkeypatch)
    fake_host.fault("create_vm", "error", error={
        "category": "InvalidOperation", "fqid": "OperationFailed,Microsoft.HyperV.PowerShell."
        "Commands.NewVM", "message": "The operation failed.",
        "type": "Microsoft.HyperV.PowerShell.VirtualizationException"})
    with pytest.raises(BackendError, match="The operation failed"):
        restore(point.path, hyperv, name="failing", progress=no_progress,
                cancel=CancelToken())
    assert len(seen) == 1 and Path(seen[0].all_disks()[0][1].path).parent.name
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert not root.exists() or list(root.iterdir()) == []
    assert hyperv.list_machines() == []


def test_a_restore_cancelled_right_after_create_leaves_no_machine(machine, destination, hyperv,
                                                                  fake_host, monkeypatch):
    point = chain_of_two(machine, destination)
    seen: list[MachineSpec] = []
    as_the_double_keeps_disks(hyperv, seen, monkeypatch)
    token = CancelToken()
    cancelling_after_create(hyperv, token, monkeypatch)
    with pytest.raises(OperationCancelled):
        restore(point.path, hyperv, name="cancelled", progress=no_progress, cancel=token)
    assert len(seen) == 1
    assert hyperv.list_machines() == []
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert not root.exists() or list(root.iterdir()) == []
