"""Machines through the real SOAP exchange: list, read, create, update by diff, delete."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi.SoapAdapter import SoapStubAdapter

from backends.esxi import inventory
from backends.esxi.backend import EsxiBackend
from backends.esxi.session import vim
from desktopvm.model import MachineSpec
from desktopvm.model.devices import (
    ControllerKind,
    Disk,
    DiskFormat,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    StorageController,
)
from desktopvm.model.machine import CpuSpec, Firmware, FirmwareSpec, MemorySpec, UsbSpec
from desktopvm.protocol import (
    CancelToken,
    InvalidSpec,
    InvalidState,
    MachineNotFound,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from tests.backends.esxi.conftest import removed

pytestmark = pytest.mark.vcsim
GIB = 2**30


def spec(name: str) -> MachineSpec:
    return MachineSpec(
        name=name, notes="made by the ESXi tests", os="debian12",
        firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True),
        cpu=CpuSpec(count=2), memory=MemorySpec(size_mib=2048),
        storage=(StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VMDK, size_bytes=8 * GIB),)),
                 StorageController(kind=ControllerKind.SATA, optical=(OpticalDrive(),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="VM Network",
                                model=NicModel.VMXNET3),),
        usb=UsbSpec(version=None))


@pytest.fixture
def made(esx_backend: EsxiBackend, request: pytest.FixtureRequest) -> Iterator[str]:
    machine_id = esx_backend.create(spec(f"dvmtest-{request.node.name[:40]}"),
                                    progress=no_progress, cancel=CancelToken())
    yield machine_id
    removed(esx_backend, machine_id)


def comparable(value: MachineSpec) -> MachineSpec:
    """What vSphere keeps of a spec: controller names are its own labels, disk files its own
    paths, and a created disk is an existing one from then on."""
    return value.model_copy(update={"id": "", "storage": tuple(
        c.model_copy(update={"name": "", "disks": tuple(
            d.model_copy(update={"path": "", "existing": True}) for d in c.disks)})
        for c in value.storage)})


def test_the_list_is_one_round_trip_however_many_machines(
        esx_backend: EsxiBackend, vpx_backend: EsxiBackend,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()
    original = SoapStubAdapter.InvokeMethod

    def counting(self: SoapStubAdapter, mo: object, info: object, args: object,
                 outer_stub: object = None) -> object:
        calls[getattr(info, "wsdlName", "?")] += 1
        return original(self, mo, info, args, outer_stub)

    monkeypatch.setattr(SoapStubAdapter, "InvokeMethod", counting)
    counts = {}
    for backend in (esx_backend, vpx_backend):
        backend.list_machines()  # logs in and makes the session's container view
        calls.clear()
        counts[backend.name] = len(backend.list_machines())
        assert calls == Counter({"RetrievePropertiesEx": 1}), calls
    # vCenter's several hosts hold several times the machines of one ESXi host.
    assert counts[vpx_backend.name] > 2 * counts[esx_backend.name]


def test_the_list_shows_what_the_host_has(esx_backend: EsxiBackend) -> None:
    rows = {m.name: m for m in esx_backend.list_machines()}
    assert rows["ha-host_VM0"].state is PowerState.RUNNING  # the simulator starts them
    assert rows["ha-host_VM0"].backend == esx_backend.name
    assert rows["ha-host_VM0"].memory_mib == 32
    assert rows["ha-host_VM0"].host == "127.0.0.1"


def test_a_created_machine_reads_back_as_its_spec(esx_backend: EsxiBackend, made: str) -> None:
    info = esx_backend.get_machine(made)
    wanted = spec(info.spec.name)
    assert comparable(info.spec) == comparable(wanted)
    assert info.state is PowerState.OFF
    assert info.spec.storage[0].disks[0].path.startswith("[LocalDS_0] ")
    assert made in {m.id for m in esx_backend.list_machines()}


def test_an_update_changes_only_what_changed(esx_backend: EsxiBackend, made: str) -> None:
    old = esx_backend.get_machine(made).spec
    scsi, sata = old.storage
    grown = scsi.disks[0].model_copy(update={"size_bytes": 12 * GIB})
    new = old.model_copy(update={
        "notes": "changed", "cpu": CpuSpec(count=1), "memory": MemorySpec(size_mib=3072),
        "storage": (scsi.model_copy(update={"disks": (
            grown, Disk(format=DiskFormat.VMDK, size_bytes=GIB, port=1))}),
            sata.model_copy(update={"optical": (OpticalDrive(iso="[LocalDS_0] x.iso"),)})),
        "network": (old.network[0].model_copy(update={"model": NicModel.E1000E}),)})
    esx_backend.update(made, old, new, progress=no_progress, cancel=CancelToken())
    after = esx_backend.get_machine(made).spec
    assert comparable(after) == comparable(new)
    assert after.storage[0].disks[0].path == scsi.disks[0].path  # grown in place


def buses(backend: EsxiBackend, machine_id: str) -> list[tuple[int, int]]:
    """(busNumber, disks on it) per SCSI or SATA controller the host holds, by key."""
    devices = inventory.read(backend.session, machine_id, ["config.hardware.device"])[
        "config.hardware.device"]
    disks = Counter(d.controllerKey for d in devices if isinstance(d, vim.vm.device.VirtualDisk))
    kinds = vim.vm.device.VirtualSCSIController | vim.vm.device.VirtualAHCIController
    return [(d.busNumber, disks[d.key]) for d in sorted(devices, key=lambda d: d.key)
            if isinstance(d, kinds)]


def test_a_second_controller_added_by_an_edit_gets_its_own_bus(
        esx_backend: EsxiBackend, made: str) -> None:
    old = esx_backend.get_machine(made).spec
    second_scsi = StorageController(kind=ControllerKind.SCSI, disks=(
        Disk(format=DiskFormat.VMDK, size_bytes=2 * GIB), Disk(format=DiskFormat.VMDK,
                                                               size_bytes=GIB, port=1)))
    second_sata = StorageController(kind=ControllerKind.SATA, disks=(
        Disk(format=DiskFormat.VMDK, size_bytes=3 * GIB),))
    new = old.model_copy(update={"storage": (*old.storage, second_scsi, second_sata)})
    esx_backend.update(made, old, new, progress=no_progress, cancel=CancelToken())
    after = esx_backend.get_machine(made).spec
    assert comparable(after) == comparable(new)
    assert [d.size_bytes for d in after.storage[2].disks] == [2 * GIB, GIB]
    # SCSI 0, SATA 0 (made with the machine), then SCSI 1 and SATA 1 (added here)
    assert buses(esx_backend, made) == [(0, 1), (0, 0), (1, 2), (1, 1)]


def test_two_controllers_of_a_kind_round_trip_through_create(esx_backend: EsxiBackend) -> None:
    two = spec("dvmtest-two-controllers").model_copy(update={"storage": (
        StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VMDK, size_bytes=GIB),)),
        StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VMDK, size_bytes=2 * GIB),
            Disk(format=DiskFormat.VMDK, size_bytes=3 * GIB, port=2))),
        StorageController(kind=ControllerKind.SATA, optical=(OpticalDrive(),)))})
    machine_id = esx_backend.create(two, progress=no_progress, cancel=CancelToken())
    try:
        got = esx_backend.get_machine(machine_id).spec
        assert comparable(got) == comparable(two)
        assert buses(esx_backend, machine_id) == [(0, 1), (1, 2), (0, 0)]
    finally:
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())


def on_datastore(backend: EsxiBackend, path: str) -> Path:
    """The local file behind '[LocalDS_0] folder/file' (vcsim keeps datastores in folders)."""
    store, _, relative = path.partition("] ")
    found = next(s for s in backend.facts().datastores if s.name == store.lstrip("["))
    url = backend.session.properties(found.ref, ["summary.url"])["summary.url"]
    return Path(url) / relative


def test_a_disk_left_out_of_the_spec_is_detached_not_deleted(
        esx_backend: EsxiBackend, made: str) -> None:
    old = esx_backend.get_machine(made)
    path = old.spec.storage[0].disks[0].path
    assert on_datastore(esx_backend, path).exists()
    new = old.spec.model_copy(update={"storage": (
        old.spec.storage[0].model_copy(update={"disks": ()}), old.spec.storage[1])})
    esx_backend.update(made, old.spec, new, progress=no_progress, cancel=CancelToken())
    assert not esx_backend.get_machine(made).spec.storage[0].disks
    assert on_datastore(esx_backend, path).exists()


def test_delete_can_keep_the_disks(esx_backend: EsxiBackend, made: str) -> None:
    path = esx_backend.get_machine(made).spec.storage[0].disks[0].path
    esx_backend.delete(made, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert made not in {m.id for m in esx_backend.list_machines()}
    kept = on_datastore(esx_backend, path)
    assert kept.exists()
    kept.unlink()  # the test's own clean-up (what the user would do in the datastore browser)


def test_a_disk_cannot_shrink(esx_backend: EsxiBackend, made: str) -> None:
    old = esx_backend.get_machine(made).spec
    scsi = old.storage[0]
    new = old.model_copy(update={"storage": (scsi.model_copy(update={"disks": (
        scsi.disks[0].model_copy(update={"size_bytes": GIB}),)}), old.storage[1])})
    with pytest.raises(UnsupportedOperation, match="cannot shrink"):
        esx_backend.update(made, old, new, progress=no_progress, cancel=CancelToken())


def test_a_spec_the_host_cannot_run_is_refused_before_anything_is_made(
        esx_backend: EsxiBackend) -> None:
    before = {m.id for m in esx_backend.list_machines()}
    bad = spec("dvmtest-bad").model_copy(update={"cpu": CpuSpec(count=4096)})
    with pytest.raises(InvalidSpec):
        esx_backend.create(bad, progress=no_progress, cancel=CancelToken())
    assert {m.id for m in esx_backend.list_machines()} == before


def test_delete_removes_the_machine_and_its_disks(esx_backend: EsxiBackend, made: str) -> None:
    path = esx_backend.get_machine(made).spec.storage[0].disks[0].path
    esx_backend.delete(made, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert made not in {m.id for m in esx_backend.list_machines()}
    with pytest.raises(MachineNotFound):
        esx_backend.get_machine(made)
    assert not on_datastore(esx_backend, path).exists()


def test_a_running_machine_is_not_deleted(esx_backend: EsxiBackend, made: str) -> None:
    esx_backend.start(made)
    with pytest.raises(InvalidState, match="power it off"):
        esx_backend.delete(made, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert made in {m.id for m in esx_backend.list_machines()}


def test_an_unknown_machine_is_machine_not_found(esx_backend: EsxiBackend) -> None:
    with pytest.raises(MachineNotFound):
        esx_backend.get_machine("vm-does-not-exist")
