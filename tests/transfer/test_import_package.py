"""OVA/OVF into Hyper-V, which reads no OVF (issue: "OVA import into Hyper-V is this same
path"): the package's disks checked, converted to VHDX by the real qemu-img, placed on the
host (this computer's or a remote one over WinRM) and the machine created with them.

The package is the real QEMU backend's own export; Hyper-V is the real backend over the
PowerShell double, which keeps disks as JSON records, so each VHDX is compared with the
source disk and then swapped for such a record just before create (test_copy_hyperv.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import Firmware
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidSpec,
    OperationCancelled,
    no_progress,
)
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.transfer.copying import scratch_root
from desktopvm.transfer.packages import import_package
from tests.backends.qemu.backup_kit import disk_paths
from tests.backup.test_restore_hyperv import cancelling_after_create
from tests.images.hostile import TRICKS, canary, contains_canary
from tests.images.test_hostile_imports import make_ova as hostile_ova
from tests.transfer.test_copy_hyperv import comparing_create, created, qemu_machine


@pytest.fixture
def hyperv(fake_host: FakeHost, tmp_path: Path) -> Any:
    backend = HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                            metadata=MetadataStore("localhost", tmp_path / "hyperv-metadata"))
    yield backend
    backend.close()


def exported_ova(tmp_path: Path, firmware: Firmware) -> tuple[Path, list[Path]]:
    """test_copy_hyperv's QEMU machine (two written disks), exported as an OVA by QEMU."""
    qemu, machine = qemu_machine(tmp_path, firmware)
    ova = tmp_path / "appliance.ova"
    qemu.export(machine, ova, progress=no_progress, cancel=CancelToken())
    return ova, list(disk_paths(qemu, machine))


def test_an_ova_becomes_a_hyperv_machine_with_its_disks_as_vhdx(hyperv, fake_host, tmp_path,
                                                                monkeypatch):
    ova, sources = exported_ova(tmp_path, Firmware.UEFI)
    compared: list[bool] = []
    comparing_create(hyperv, sources, compared, monkeypatch)
    stages: list[str] = []
    new_id = import_package(ova, hyperv, name="from ova", cancel=CancelToken(),
                            progress=lambda _f, stage: stages.append(stage))
    assert compared == [True, True]  # both disks hold the package's bytes
    request = created(fake_host)
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert (request["Name"], request["Generation"]) == ("from ova", 2)
    assert all(Path(d["Path"]).parent.parent == root and not d["Create"]
               for d in request["Disks"])
    assert Path(request["Disks"][0]["Path"]).parent.name.startswith("from_ova-imported-")
    assert any("Changed for Hyper-V" in s and "SCSI" in s for s in stages)  # the mapping said
    assert hyperv.get_machine(new_id).spec.name == "from ova"


def test_an_ova_goes_onto_a_remote_hyperv_host_over_winrm(remote_hyperv, fake_host,
                                                          tmp_path, monkeypatch):
    ova, sources = exported_ova(tmp_path, Firmware.BIOS)
    compared: list[bool] = []
    comparing_create(remote_hyperv, sources, compared, monkeypatch)
    new_id = import_package(ova, remote_hyperv, name="remote ova", progress=no_progress,
                            cancel=CancelToken())
    assert compared == [True, True]
    assert "write_file" in fake_host.ops()
    assert created(fake_host)["Generation"] == 1
    assert remote_hyperv.get_machine(new_id).spec.name == "remote ova"


@pytest.mark.parametrize("trick", ["qcow2 backing file, absolute",
                                   "VMDK descriptor, absolute extent"])
def test_a_hostile_ova_is_refused_before_anything_reaches_hyperv(hyperv, fake_host, tmp_path,
                                                                 trick: str):
    host = canary(tmp_path / "host")
    downloads = tmp_path / "downloads" / "pkg"
    downloads.mkdir(parents=True)
    build, url = TRICKS[trick]
    ova = hostile_ova(downloads.parent / "evil.ova", build(downloads, host), url)
    with pytest.raises(BackendError, match=r"Cannot import evil\.ova: "):
        import_package(ova, hyperv, progress=no_progress, cancel=CancelToken())
    assert not {"new_folder", "create_vm"} & set(fake_host.ops())
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert not root.exists() or not contains_canary(root)
    assert hyperv.list_machines() == []


def test_a_name_hyperv_refuses_is_refused_before_the_package_is_read(hyperv, fake_host,
                                                                     tmp_path):
    with pytest.raises(InvalidSpec):
        import_package(tmp_path / "missing.ova", hyperv, name="x" * 200,
                       progress=no_progress, cancel=CancelToken())
    assert "create_vm" not in fake_host.ops()


def test_a_failed_create_leaves_no_disk_on_the_host(hyperv, fake_host, tmp_path, monkeypatch):
    ova, sources = exported_ova(tmp_path, Firmware.BIOS)
    comparing_create(hyperv, sources, [], monkeypatch)
    fake_host.fault("create_vm", "error", error={
        "category": "InvalidOperation", "fqid": "OperationFailed", "message": "The operation "
        "failed.", "type": "Microsoft.HyperV.PowerShell.VirtualizationException"})
    with pytest.raises(BackendError, match="The operation failed"):
        import_package(ova, hyperv, name="failing", progress=no_progress,
                       cancel=CancelToken())
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert not root.exists() or list(root.iterdir()) == []
    assert hyperv.list_machines() == []


def test_an_import_cancelled_right_after_create_leaves_nothing(hyperv, fake_host, tmp_path,
                                                               monkeypatch):
    ova, sources = exported_ova(tmp_path, Firmware.BIOS)
    comparing_create(hyperv, sources, [], monkeypatch)
    token = CancelToken()
    cancelling_after_create(hyperv, token, monkeypatch)
    with pytest.raises(OperationCancelled):
        import_package(ova, hyperv, name="cancelled", progress=no_progress, cancel=token)
    assert hyperv.list_machines() == []
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert not root.exists() or list(root.iterdir()) == []
    assert [p.name for p in scratch_root().glob(".partial-*")] == []  # the unpacked package
