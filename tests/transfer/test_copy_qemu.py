"""Copy and move between two QEMU libraries for real: qemu-storage-daemon, qemu-img, qemu-io.

The source machine's disk holds known bytes (qemu-io); the copy's disk must read the same
(`qemu-img compare`), the source must be untouched by a failed or cancelled copy, and a move
deletes the source only after the copy was checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    NetworkAdapter,
    NicModel,
    OpticalDrive,
    StorageController,
)
from desktopvm.protocol import CancelToken, OperationCancelled, no_progress
from desktopvm.settings import Settings
from desktopvm.transfer import CopyMismatch, copy_to, copying, move_to, plan_copy
from tests.backends.qemu.backup_kit import MIB, disk_paths, random_bytes, same, write

pytestmark = pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                reason="qemu-storage-daemon is not installed")


def library(tmp_path: Path, name: str) -> QemuBackend:
    return QemuBackend(Settings(library_dir=str(tmp_path / name), qemu_accel="tcg"))


@pytest.fixture
def source(tmp_path: Path) -> QemuBackend:
    return library(tmp_path, "source")


@pytest.fixture
def target(tmp_path: Path) -> QemuBackend:
    return library(tmp_path, "target")


def machine_with_bytes(backend: QemuBackend, tmp_path: Path) -> tuple[str, bytes]:
    """A BIOS machine, its 16 MiB disk on SATA holding 3 MiB of random bytes at 1 MiB."""
    spec = MachineSpec(name="src", os="debian12", firmware=FirmwareSpec(kind=Firmware.BIOS),
                       storage=(StorageController(name="SATA", kind=ControllerKind.SATA,
                                                  disks=(Disk(format=DiskFormat.QCOW2,
                                                              size_bytes=16 * MIB),),
                                                  optical=(OpticalDrive(port=1),)),),
                       network=(NetworkAdapter(model=NicModel.E1000),))
    machine = backend.create(spec, progress=no_progress, cancel=CancelToken())
    data = random_bytes(3 * MIB)
    write(disk_paths(backend, machine)[0], MIB, data, tmp_path)
    return machine, data


def snapshot_of(backend: QemuBackend, machine: str, tmp_path: Path) -> Path:
    """A copy of the machine's disk file now, to compare what the guest reads later.

    (The file itself may change: a backup adds a capture point, a dirty bitmap, to it.)
    """
    kept = tmp_path / "before.qcow2"
    kept.write_bytes(disk_paths(backend, machine)[0].read_bytes())
    return kept


def test_copy_to_another_library_reads_the_same_bytes(source: QemuBackend, target: QemuBackend,
                                                       tmp_path: Path):
    machine, _ = machine_with_bytes(source, tmp_path)
    before = source.get_machine(machine).spec
    original = snapshot_of(source, machine, tmp_path)
    plan = plan_copy(source, machine, target)
    assert plan.blockers == () and plan.changes == ()  # QEMU to QEMU: nothing to change

    stages: list[str] = []
    new_id = copy_to(source, machine, target, name="the copy",
                     progress=lambda _f, stage: stages.append(stage), cancel=CancelToken(),
                     scratch=tmp_path / "scratch")

    made = target.get_machine(new_id).spec
    assert made.name == "the copy"
    assert [c.kind for c in made.storage] == [ControllerKind.SATA]
    assert made.firmware.kind is Firmware.BIOS and made.network[0].model is NicModel.E1000
    assert same(str(disk_paths(source, machine)[0]), disk_paths(target, new_id)[0])
    assert "Copied" in stages
    # The source is as it was, and nothing is left in the scratch folder.
    assert source.get_machine(machine).spec == before
    assert same(str(original), disk_paths(source, machine)[0])
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.parametrize("at", [0.2, 0.6, 0.96], ids=["backing-up", "restoring", "checking"])
def test_a_cancel_mid_copy_leaves_nothing_on_the_target(source: QemuBackend,
                                                        target: QemuBackend, tmp_path: Path,
                                                        at: float):
    machine, _ = machine_with_bytes(source, tmp_path)
    original = snapshot_of(source, machine, tmp_path)
    cancel = CancelToken()
    on_target: list[int] = []

    def progress(fraction: float | None, _stage: str) -> None:
        if fraction is not None and fraction >= at and not cancel.cancelled:
            on_target.append(len(target.list_machines()))
            cancel.cancel()

    with pytest.raises(OperationCancelled):
        copy_to(source, machine, target, name="copy", progress=progress, cancel=cancel,
                scratch=tmp_path / "scratch")
    if at > 0.95:
        assert on_target == [1]  # the copy existed when the cancel came: it was removed
    assert target.list_machines() == []
    left = [p for p in (tmp_path / "target").rglob("*") if p.is_file() and p.name != ".lock"]
    assert left == []  # (.lock is the library's own)
    assert list((tmp_path / "scratch").iterdir()) == []
    assert [m.id for m in source.list_machines()] == [machine]
    assert same(str(original), disk_paths(source, machine)[0])


def test_move_deletes_the_source_only_after_the_copy_is_checked(source: QemuBackend,
                                                                target: QemuBackend,
                                                                tmp_path: Path):
    machine, _ = machine_with_bytes(source, tmp_path)
    kept = snapshot_of(source, machine, tmp_path)
    new_id = move_to(source, machine, target, name="moved", progress=no_progress,
                     cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert source.list_machines() == []
    assert same(str(kept), disk_paths(target, new_id)[0])


def test_a_move_that_fails_after_the_copy_leaves_the_source_and_no_copy(
        source: QemuBackend, target: QemuBackend, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_bytes(source, tmp_path)
    before = source.get_machine(machine).spec
    original = snapshot_of(source, machine, tmp_path)
    # The copy is made, then the check finds it is not what was planned.
    monkeypatch.setattr(copying, "differences", lambda *_: ["disk 1 bus: sata planned, ide"])
    with pytest.raises(CopyMismatch, match="not what was planned"):
        move_to(source, machine, target, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert target.list_machines() == []
    assert source.get_machine(machine).spec == before
    assert same(str(original), disk_paths(source, machine)[0])
