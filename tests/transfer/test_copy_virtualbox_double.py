"""QEMU -> VirtualBox through the VBoxManage stand-in, which imports a standard OVF as
VirtualBox does (fakevbox/foreign.py): `copy_to` and `move_to` complete, and a move compares
the copy's disk (the VMDK the import keeps) with the backup before deleting the source.

What the real VirtualBox 7.2 makes of the same restore is `test_copy_virtualbox_real.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.backup import restore as restore_set
from desktopvm.model import ControllerKind, DiskFormat, Firmware
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from desktopvm.transfer import CopyMismatch, copy_to, copying, move_to
from tests.backends.qemu.backup_kit import MIB, disk_paths, same, write
from tests.transfer.test_copy_qemu import machine_with_bytes, snapshot_of

pytestmark = pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                reason="qemu-storage-daemon is not installed")


@pytest.fixture
def source(tmp_path: Path) -> QemuBackend:
    return QemuBackend(Settings(library_dir=str(tmp_path / "source"), qemu_accel="tcg"))


@pytest.fixture
def vbox(tmp_path: Path) -> tuple[VirtualBoxBackend, FakeVBox]:
    fake = FakeVBox(tmp_path / "vbox", "7.2")
    return VirtualBoxBackend(Settings(vboxmanage_path=str(fake.executable))), fake


def vbox_disk(backend: VirtualBoxBackend, machine_id: str) -> tuple[Path, DiskFormat]:
    (_, disk), = backend.get_machine(machine_id).spec.all_disks()
    return Path(disk.path), disk.format


def test_copy_into_the_stand_in_holds_the_sources_bytes(source: QemuBackend, vbox, tmp_path):
    backend, _ = vbox
    machine, _ = machine_with_bytes(source, tmp_path)
    stages: list[str] = []
    new_id = copy_to(source, machine, backend, name="copied",
                     progress=lambda _f, s: stages.append(s), cancel=CancelToken(),
                     scratch=tmp_path / "scratch")
    made = backend.get_machine(new_id).spec
    assert made.name == "copied" and made.firmware.kind is Firmware.BIOS
    assert [c.kind for c in made.storage if c.disks] == [ControllerKind.SATA]
    path, fmt = vbox_disk(backend, new_id)
    assert fmt is DiskFormat.VMDK and path.suffix == ".vmdk"  # kept as the import got it
    assert same(str(disk_paths(source, machine)[0]), path, fmt="vmdk")
    assert "Copied" in stages


def test_move_into_the_stand_in_compares_the_disk_then_deletes_the_source(
        source: QemuBackend, vbox, tmp_path: Path):
    backend, _ = vbox
    machine, _ = machine_with_bytes(source, tmp_path)
    kept = snapshot_of(source, machine, tmp_path)
    stages: list[str] = []
    new_id = move_to(source, machine, backend, name="moved",
                     progress=lambda _f, s: stages.append(s), cancel=CancelToken(),
                     scratch=tmp_path / "scratch")
    assert source.list_machines() == []
    assert "Comparing disk 1 of the copy with the backup" in stages
    path, _ = vbox_disk(backend, new_id)
    assert same(str(kept), path, fmt="vmdk")


def test_a_disk_the_import_got_wrong_keeps_the_source(source: QemuBackend, vbox, tmp_path,
                                                      monkeypatch: pytest.MonkeyPatch):
    """The stand-in's import writes other bytes into the disk: the move removes the copy."""
    backend, _ = vbox
    machine, _ = machine_with_bytes(source, tmp_path)
    real = restore_set

    def damaging(*args, **kwargs) -> str:
        new_id = real(*args, **kwargs)
        path, fmt = vbox_disk(backend, new_id)
        write(path, 2 * MIB, b"\x5a" * 4096, tmp_path, fmt=fmt.value)
        return new_id

    monkeypatch.setattr(copying, "restore", damaging)
    with pytest.raises(CopyMismatch, match="does not hold the bytes of the backup"):
        move_to(source, machine, backend, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert [m.id for m in source.list_machines()] == [machine]
    assert backend.list_machines() == []


def test_a_virtio_disk_is_planned_and_copied_onto_sata(source: QemuBackend, vbox, tmp_path):
    # OVF has no VirtIO bus and VBoxManage import reads none: the plan says what will happen.
    from desktopvm.model import defaults_for
    from desktopvm.transfer import plan_copy

    backend, _ = vbox
    spec = defaults_for("other-linux", source.capabilities(), name="web")
    assert spec.storage[0].kind is ControllerKind.VIRTIO  # QEMU's default for Linux
    machine = source.create(spec, progress=no_progress, cancel=CancelToken())
    plan = plan_copy(source, machine, backend)
    [bus] = [c for c in plan.changes if c.what == "disk 1 bus"]
    assert bus.after.startswith("SATA") and "import reads no VirtIO bus" in bus.reason
    new_id = copy_to(source, machine, backend, name="web", progress=no_progress,
                     cancel=CancelToken(), scratch=tmp_path / "scratch")
    made = backend.get_machine(new_id).spec
    assert [c.kind for c in made.storage if c.disks] == [ControllerKind.SATA]
