"""QEMU -> Hyper-V: the mapping report from the capabilities and switches the PowerShell
double reports, the request Hyper-V's own plans make of the fitted spec (generation,
controllers, switch), and the whole copy through the double: the VHDX files the restore made
are compared with the source's disks by `qemu-img compare` and then, as the double keeps disks
as JSON records and reads no real VHDX, replaced by such a record just before `create`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv import placement, plans
from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NicModel,
    StorageController,
)
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.transfer import copy_to, move_to, plan_copy
from tests.backends.qemu.backup_kit import MIB, disk_paths, same, write

pytestmark = pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                reason="qemu-storage-daemon is not installed")


@pytest.fixture
def hyperv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HyperVBackend,
                                                                           FakeHost]]:
    host = FakeHost(tmp_path / "hyperv-host")
    for key, value in host.environment.items():
        monkeypatch.setenv(key, value)
    backend = HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                            metadata=MetadataStore("localhost", tmp_path / "hyperv-metadata"))
    yield backend, host
    backend.close()


def qemu_machine(tmp_path: Path, firmware: Firmware) -> tuple[QemuBackend, str]:
    qemu = QemuBackend(Settings(library_dir=str(tmp_path / "qemu"), qemu_accel="tcg"))
    spec = MachineSpec(name="to-hyperv", os="debian12", firmware=FirmwareSpec(kind=firmware),
                       memory=MemorySpec(size_mib=512),
                       storage=(StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
                           Disk(format=DiskFormat.QCOW2, size_bytes=16 * MIB),
                           Disk(format=DiskFormat.QCOW2, size_bytes=8 * MIB, port=1))),),
                       network=(NetworkAdapter(model=NicModel.E1000),))
    machine = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    first, second = disk_paths(qemu, machine)
    write(first, MIB, b"BOOT DISK " * 10000, tmp_path)
    write(second, 2 * MIB, b"DATA DISK " * 5000, tmp_path)
    return qemu, machine


def created(host: FakeHost) -> dict[str, Any]:
    requests: list[dict[str, Any]] = [entry["args"] for entry in host.log()
                                      if entry["op"] == "create_vm"]
    assert len(requests) == 1
    return requests[0]


@pytest.mark.parametrize(("firmware", "generation", "boot_bus"),
                         [(Firmware.BIOS, 1, "IDE"), (Firmware.UEFI, 2, "SCSI")])
def test_the_plan_and_the_request_hyperv_would_get(hyperv: tuple[HyperVBackend, FakeHost],
                                                   tmp_path: Path, firmware: Firmware,
                                                   generation: int, boot_bus: str):
    backend, _ = hyperv
    qemu, machine = qemu_machine(tmp_path, firmware)
    plan = plan_copy(qemu, machine, backend)  # Hyper-V's capabilities and switches: the double's
    report = {(c.what, c.before, c.after): c.reason for c in plan.changes}
    assert plan.blockers == ()
    if generation == 1:
        assert report[("disk 1 bus", "SATA port 0", "IDE port 0")] == \
            "Hyper-V generation 1 boots only from IDE"
        assert report[("disk 2 bus", "SATA port 1", "SCSI port 0")] == \
            "Hyper-V has no SATA controller"
    else:
        assert report[("disk 1 bus", "SATA port 0", "SCSI port 0")] == \
            "Hyper-V has no SATA controller"
    assert ("disk 1 format", "QCOW2", "VHDX") in report
    assert report[("network adapter 1 model", "e1000", "synthetic")].startswith(
        "Hyper-V has no e1000 adapter")
    # What Hyper-V's own plans make of the fitted spec (the disks as a restore attaches them).
    storage = tuple(c.model_copy(update={"disks": tuple(
        d.model_copy(update={"path": f"C:\\disks\\d{n}.vhdx", "existing": True})
        for n, d in enumerate(c.disks))}) for c in plan.spec.storage)
    request = plans.create(plan.spec.model_copy(update={"storage": storage}), "Default Switch")
    assert not [p for p in placement.problems(plan.spec) if p.severity.value == "error"]
    assert request.args["Generation"] == generation
    assert [d["ControllerType"] for d in request.args["Disks"]] == [boot_bus, "SCSI"] \
        if generation == 1 else ["SCSI", "SCSI"]
    assert [a["SwitchName"] for a in request.args["NetworkAdapters"]] == ["Default Switch"]


def comparing_create(backend: HyperVBackend, sources: list[Path], compared: list[bool],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_create = backend.create

    def create(spec: MachineSpec, **options: Any) -> str:
        """Compare each real VHDX with its source disk, then hand the double the JSON record
        it keeps disks as (it reads no real VHDX), as tests/backup/test_restore_hyperv does."""
        for source, (_, disk) in zip(sources, spec.all_disks(), strict=True):
            vhdx = Path(disk.path)
            compared.append(same(str(source), vhdx, fmt="vhdx"))
            size = int(json.loads(subprocess.run(
                ["qemu-img", "info", "--output=json", "-f", "vhdx", str(vhdx)], check=True,
                capture_output=True, text=True).stdout)["virtual-size"])
            vhdx.write_text(json.dumps({"VhdFormat": "VHDX", "VhdType": "Dynamic",
                                        "Size": size, "ParentPath": ""}))
        return real_create(spec, **options)

    monkeypatch.setattr(backend, "create", create)


def test_qemu_to_hyperv_through_the_double(hyperv: tuple[HyperVBackend, FakeHost],
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    backend, host = hyperv
    qemu, machine = qemu_machine(tmp_path, Firmware.BIOS)
    compared: list[bool] = []
    comparing_create(backend, disk_paths(qemu, machine), compared, monkeypatch)
    new_id = copy_to(qemu, machine, backend, name="moved in", progress=no_progress,
                     cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert compared == [True, True]  # both disks hold the source's bytes
    request = created(host)
    assert (request["Name"], request["Generation"]) == ("moved in", 1)
    assert [d["ControllerType"] for d in request["Disks"]] == ["IDE", "SCSI"]
    assert all(not d["Create"] and d["Path"].endswith(".vhdx") for d in request["Disks"])
    assert [a["SwitchName"] for a in request["NetworkAdapters"]] == ["Default Switch"]
    got = backend.get_machine(new_id).spec
    assert (got.name, got.firmware.kind, len(got.all_disks())) == ("moved in", Firmware.BIOS, 2)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_qemu_moved_to_a_remote_hyperv_host_over_winrm(remote_hyperv: HyperVBackend,
                                                        fake_host: FakeHost,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    qemu, machine = qemu_machine(tmp_path, Firmware.UEFI)
    compared: list[bool] = []
    comparing_create(remote_hyperv, disk_paths(qemu, machine), compared, monkeypatch)
    stages: list[str] = []
    new_id = move_to(qemu, machine, remote_hyperv, name="moved over", cancel=CancelToken(),
                     progress=lambda _f, stage: stages.append(stage),
                     scratch=tmp_path / "scratch")
    assert compared == [True, True]  # the disks on the host hold the source's bytes
    assert "write_file" in fake_host.ops()
    request = created(fake_host)
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert all(Path(d["Path"]).parent.parent == root for d in request["Disks"])
    assert request["Generation"] == 2
    assert remote_hyperv.get_machine(new_id).spec.name == "moved over"
    assert qemu.list_machines() == []  # moved: the original went after the checks
    assert any("each disk file by SHA-256 as it was copied there" in s for s in stages)
    assert list((tmp_path / "scratch").iterdir()) == []
