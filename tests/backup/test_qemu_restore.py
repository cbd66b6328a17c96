"""Restore and restore_over onto the real QEMU backend, and back_up through its export (real
qemu-img; machines are created, never started)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from desktopvm.backup import BackupDamaged, back_up, list_backups, restore, restore_over
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    SerialMode,
    SerialPort,
    StorageController,
)
from desktopvm.model.devices import NetworkAdapter, NicModel
from desktopvm.protocol import (
    CancelToken,
    InvalidState,
    OperationCancelled,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from tests.backup.conftest import backup
from tests.backup.doubles import MIB, CaptureDouble, qemu_io, read_bytes

pytestmark = pytest.mark.qemu


class ExportOnly:
    """A backend as one without capture() sees it (back_up then exports)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        if name in ("capture", "forget_capture_points"):
            raise AttributeError(name)
        return getattr(self._backend, name)


def make_machine(qemu: Any, name: str = "source") -> str:
    spec = MachineSpec(
        name=name, notes="restored notes", os="other-linux",
        memory=MemorySpec(size_mib=128), firmware=FirmwareSpec(kind=Firmware.BIOS),
        storage=(StorageController(name="VirtIO", kind=ControllerKind.VIRTIO, disks=(
            Disk(format=DiskFormat.QCOW2, size_bytes=4 * MIB),)),),
        network=(NetworkAdapter(model=NicModel.VIRTIO),),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET),))
    return str(qemu.create(spec, progress=no_progress, cancel=CancelToken()))


def disk_of(qemu: Any, machine_id: str) -> Path:
    return Path(qemu.get_machine(machine_id).spec.all_disks()[0][1].path)


def run(function: Any, *args: Any, **options: Any) -> Any:
    return function(*args, progress=no_progress, cancel=CancelToken(), **options)


def test_export_route_backs_up_an_off_qemu_machine_and_restores_it(qemu, tmp_path):
    machine_id = make_machine(qemu)
    qemu_io(disk_of(qemu, machine_id), "write -P 0x5a 1M 64k")
    made = run(back_up, ExportOnly(qemu), machine_id, tmp_path / "backups")
    assert made.kind == "full" and not made.was_running and made.parent == ""
    assert made.spec.storage[0].kind is ControllerKind.VIRTIO  # the machine's own spec
    assert not [p for p in made.path.parent.iterdir() if p.name.startswith(".")]
    new_id = run(restore, made.path, qemu, name="restored")
    restored = qemu.get_machine(new_id).spec
    assert restored.name == "restored" and restored.notes == "restored notes"
    assert restored.storage[0].kind is ControllerKind.VIRTIO  # kept through OVF
    assert restored.network[0].model is NicModel.VIRTIO
    assert [p.mode for p in restored.serial] == [SerialMode.SOCKET]  # OVF has no serial ports
    assert restored.network[0].mac != qemu.get_machine(machine_id).spec.network[0].mac
    assert read_bytes(disk_of(qemu, new_id), MIB, 512) == b"\x5a" * 512
    assert not [p for p in made.path.parent.iterdir() if p.name.startswith(".")]


def test_a_running_machine_without_capture_is_refused_in_words(machine, destination):
    with pytest.raises(InvalidState, match="cannot back up a running machine; shut it down"):
        run(back_up, ExportOnly(machine), "m1", destination)
    assert list_backups(destination) == []


def test_each_point_of_a_chain_restores_as_a_new_qemu_machine(machine, destination, qemu):
    first = backup(machine, destination)
    machine.write(0, 2 * MIB, 4096, 0x33)
    machine.write(1, 0, 4096, 0x34)
    second = backup(machine, destination)
    one = run(restore, first.path, qemu, name="point-one")
    two = run(restore, second.path, qemu, name="point-two")
    for machine_id, expected in ((one, b"\0"), (two, b"\x33")):
        spec = qemu.get_machine(machine_id).spec
        disks = [Path(d.path) for _, d in spec.all_disks()]
        assert read_bytes(disks[0], 0, 512) == b"\x11" * 512
        assert read_bytes(disks[0], 2 * MIB, 512) == expected * 512
        assert len(disks) == 2
    assert read_bytes(Path(qemu.get_machine(two).spec.all_disks()[1][1].path), 0, 512) \
        == b"\x34" * 512


@pytest.mark.parametrize("damage", ["missing parent", "changed byte"])
def test_restoring_a_damaged_set_makes_nothing(machine, destination, qemu, damage):
    first = backup(machine, destination)
    machine.write(0, 0, 512, 0x77)
    second = backup(machine, destination)
    if damage == "missing parent":
        shutil.rmtree(first.path)
        expected = f"{second.id} is damaged: backup.json: its parent"
    else:  # one byte of the full set's disk data: only the digests tell
        disk = first.path / first.disks[0].file
        with disk.open("r+b") as file:
            file.seek(disk.stat().st_size - 100)
            byte = file.read(1)
            file.seek(-1, 1)
            file.write(bytes([byte[0] ^ 0xFF]))
        expected = f"{first.id} is damaged: {first.disks[0].file}: its contents"
    with pytest.raises(BackupDamaged, match=expected):
        run(restore, second.path, qemu, name="never")
    assert qemu.list_machines() == []
    assert not [p for p in second.path.parent.iterdir() if p.name.startswith(".")]


def test_a_cancelled_restore_removes_the_new_machine(machine, destination, qemu):
    made = backup(machine, destination)
    token = CancelToken()
    original = qemu.import_machine

    def import_then_cancel(*args: Any, **options: Any) -> str:
        made = str(original(*args, **options))
        token.cancel()  # the user cancels just after the machine was made
        return made
    qemu.import_machine = import_then_cancel
    with pytest.raises(OperationCancelled):
        restore(made.path, qemu, name="cancelled", progress=no_progress, cancel=token)
    assert qemu.list_machines() == []
    assert not [p for p in made.path.parent.iterdir() if p.name.startswith(".")]


def test_restore_over_puts_disks_and_hardware_back(qemu, tmp_path):
    machine_id = make_machine(qemu)
    disk = disk_of(qemu, machine_id)
    qemu_io(disk, "write -P 0x61 0 64k")
    made = run(back_up, ExportOnly(qemu), machine_id, tmp_path / "backups")
    qemu_io(disk, "write -P 0x62 0 64k")  # the machine breaks afterwards
    before = qemu.get_machine(machine_id).spec
    qemu.update(machine_id, before, before.model_copy(update={"notes": "changed"}),
                progress=no_progress, cancel=CancelToken())
    run(restore_over, made.path, qemu, machine_id)
    after = qemu.get_machine(machine_id).spec
    assert after.notes == "restored notes" and after.name == "source"
    assert disk_of(qemu, machine_id) == disk
    assert read_bytes(disk, 0, 512) == b"\x61" * 512
    assert sorted(p.name for p in disk.parent.iterdir() if ".before-restore-" in p.name
                  or ".restored-" in p.name) == []


def test_a_failed_restore_over_puts_the_current_disks_back(qemu, tmp_path):
    machine_id = make_machine(qemu)
    disk = disk_of(qemu, machine_id)
    qemu_io(disk, "write -P 0x61 0 64k")
    made = run(back_up, ExportOnly(qemu), machine_id, tmp_path / "backups")
    qemu_io(disk, "write -P 0x62 0 64k")

    def fail(*args: Any, **options: Any) -> None:
        raise RuntimeError("settings could not be applied")
    spec = qemu.get_machine(machine_id).spec
    qemu.update(machine_id, spec, spec.model_copy(update={"notes": "changed"}),
                progress=no_progress, cancel=CancelToken())
    qemu.update = fail
    with pytest.raises(RuntimeError):
        run(restore_over, made.path, qemu, machine_id)
    assert read_bytes(disk, 0, 512) == b"\x62" * 512  # the current disk, back in place
    assert [p.name for p in disk.parent.iterdir() if ".before-restore-" in p.name
            or ".restored-" in p.name] == []


def test_restore_over_refuses_a_running_or_snapshotted_machine_in_words(qemu, tmp_path):
    machine_id = make_machine(qemu)
    made = run(back_up, ExportOnly(qemu), machine_id, tmp_path / "backups")
    run(qemu.take_snapshot, machine_id, "before", include_memory=False)
    with pytest.raises(InvalidState, match="has snapshots"):
        run(restore_over, made.path, qemu, machine_id)


def test_qemu_capture_of_an_off_machine_chains_and_each_point_restores(qemu, tmp_path):
    machine_id = make_machine(qemu)
    disk = disk_of(qemu, machine_id)
    qemu_io(disk, "write -P 0x71 0 64k")
    destination = tmp_path / "backups"
    first = run(back_up, qemu, machine_id, destination)
    qemu_io(disk, "write -P 0x72 2M 64k")
    second = run(back_up, qemu, machine_id, destination)
    assert (first.kind, second.kind, second.parent) == ("full", "incremental", first.id)
    for made, expected in ((first, b"\0"), (second, b"\x72")):
        new_id = run(restore, made.path, qemu, name=f"from-{made.kind}")
        restored = disk_of(qemu, new_id)
        assert read_bytes(restored, 0, 512) == b"\x71" * 512
        assert read_bytes(restored, 2 * MIB, 512) == expected * 512


def test_a_disk_grown_between_backups_still_backs_up_incrementally(qemu, tmp_path):
    machine_id = make_machine(qemu)
    disk = disk_of(qemu, machine_id)
    qemu_io(disk, "write -P 0x71 0 64k")
    destination = tmp_path / "backups"
    first = run(back_up, qemu, machine_id, destination)
    qemu.resize_disk(disk, 8 * MIB, progress=no_progress, cancel=CancelToken())
    qemu_io(disk, "write -P 0x73 6M 64k")  # in the part that was added
    second = run(back_up, qemu, machine_id, destination)
    assert (second.kind, second.parent) == ("incremental", first.id)
    assert second.disks[0].virtual_size == 8 * MIB
    new_id = run(restore, second.path, qemu, name="grown")
    restored = disk_of(qemu, new_id)
    assert read_bytes(restored, 0, 512) == b"\x71" * 512
    assert read_bytes(restored, 6 * MIB, 512) == b"\x73" * 512


def test_a_spec_given_with_disks_moved_still_gets_each_disk_its_own_file(machine, destination,
                                                                         qemu):
    """copy_to hands restore a spec fitted elsewhere: disks on other controllers, in another
    order, still naming the machine's own files; each disk must get its own contents."""
    made = backup(machine, destination)
    (_, first), (_, second) = made.spec.all_disks()
    moved = made.spec.model_copy(update={"storage": (
        StorageController(name="IDE", kind=ControllerKind.IDE, disks=(
            second.model_copy(update={"port": 0}),)),
        StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
            first.model_copy(update={"port": 3}),)))})
    new_id = run(restore, made.path, qemu, name="moved disks", spec=moved)
    spec = qemu.get_machine(new_id).spec
    by_bus = {spec.storage[index].kind: Path(disk.path) for index, disk in spec.all_disks()}
    assert read_bytes(by_bus[ControllerKind.IDE], MIB, 512) == b"\x21" * 512
    assert read_bytes(by_bus[ControllerKind.SATA], 0, 512) == b"\x11" * 512


def test_restore_over_is_refused_in_words_where_disks_cannot_be_swapped(machine, destination):
    made = backup(machine, destination)
    machine.name = "virtualbox"  # its media registry knows each disk by the UUID inside
    machine.state = PowerState.OFF
    with pytest.raises(UnsupportedOperation, match="restore the backup as a new machine"):
        run(restore_over, made.path, machine, "m1")
    assert read_bytes(machine.disk(0), 0, 512) == b"\x11" * 512


@pytest.mark.parametrize(("source", "bus"), [("virtualbox", ControllerKind.SATA),
                                              ("qemu", ControllerKind.SCSI)])
def test_a_scsi_disk_from_virtualbox_restores_into_qemu_on_sata(tmp_path, qemu, source, bus):
    # QEMU's SCSI is virtio-scsi: a guest from VirtualBox's real SCSI has no driver for it.
    double = CaptureDouble(tmp_path / "machine", connection=source)
    controller = double.spec.storage[0].model_copy(update={"kind": ControllerKind.SCSI,
                                                           "name": "SCSI"})
    double.spec = double.spec.model_copy(update={"storage": (controller,)})
    made = backup(double, tmp_path / "backups")
    new_id = run(restore, made.path, qemu, name="from-" + source)
    assert qemu.get_machine(new_id).spec.storage[0].kind is bus


class UpdateThen:
    """The backend, whose update applies the settings and then runs `after` (a cancel by the
    user at that moment, or a failure)."""

    def __init__(self, backend: Any, after: Any) -> None:
        self._backend, self._after = backend, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def update(self, *args: Any, **options: Any) -> None:
        self._backend.update(*args, **options)
        self._after()


def _broken_after_backup(qemu: Any, tmp_path: Path) -> tuple[str, Path, Any]:
    """A machine backed up (128 MiB, disk 0x61), then changed (512 MiB, disk 0x62)."""
    machine_id = make_machine(qemu)
    disk = disk_of(qemu, machine_id)
    qemu_io(disk, "write -P 0x61 0 64k")
    made = run(back_up, ExportOnly(qemu), machine_id, tmp_path / "backups")
    qemu_io(disk, "write -P 0x62 0 64k")
    spec = qemu.get_machine(machine_id).spec
    qemu.update(machine_id, spec, spec.model_copy(update={"memory": MemorySpec(size_mib=512)}),
                progress=no_progress, cancel=CancelToken())
    return machine_id, disk, made


def test_a_cancel_after_the_update_comes_too_late_and_the_restore_completes(qemu, tmp_path):
    machine_id, disk, made = _broken_after_backup(qemu, tmp_path)
    token = CancelToken()
    restore_over(made.path, UpdateThen(qemu, token.cancel), machine_id, progress=no_progress,
                 cancel=token)
    assert qemu.get_machine(machine_id).spec.memory.size_mib == 128
    assert read_bytes(disk, 0, 512) == b"\x61" * 512


def test_an_update_failing_half_way_puts_hardware_and_disks_back(qemu, tmp_path):
    machine_id, disk, made = _broken_after_backup(qemu, tmp_path)

    def fail() -> None:
        raise RuntimeError("the hypervisor gave up half way")
    with pytest.raises(RuntimeError, match="half way"):
        run(restore_over, made.path, UpdateThen(qemu, fail), machine_id)
    assert qemu.get_machine(machine_id).spec.memory.size_mib == 512
    assert read_bytes(disk, 0, 512) == b"\x62" * 512


def test_restore_over_says_what_the_machine_cannot_do_before_reading_the_set(qemu, tmp_path):
    """A machine with snapshots is refused as such, before the set's digests are read."""
    machine_id = make_machine(qemu)
    made = run(back_up, ExportOnly(qemu), machine_id, tmp_path / "backups")
    with (made.path / made.disks[0].file).open("r+b") as file:
        file.seek(-16, 2)
        file.write(b"\xff" * 16)  # a digest mismatch verify would find
    run(qemu.take_snapshot, machine_id, "before", include_memory=False)
    with pytest.raises(InvalidState, match="has snapshots"):
        run(restore_over, made.path, qemu, machine_id)
