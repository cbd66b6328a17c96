"""A move deletes its source only when the copy's disks hold the backup's bytes and the source
did not change after it was copied (review of issue 20, finding 8), on real QEMU tools."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.backup import restore as restore_set
from desktopvm.protocol import CancelToken, InvalidState, MachineInfo, no_progress
from desktopvm.transfer import CopyMismatch, copying, move_to
from tests.backends.qemu.backup_kit import MIB, disk_paths, random_bytes, same, write
from tests.transfer.test_copy_qemu import library, machine_with_bytes, snapshot_of

pytestmark = pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                reason="qemu-storage-daemon is not installed")


@pytest.fixture
def source(tmp_path: Path) -> QemuBackend:
    return library(tmp_path, "source")


@pytest.fixture
def target(tmp_path: Path) -> QemuBackend:
    return library(tmp_path, "target")


def after_restore(monkeypatch: pytest.MonkeyPatch, then: Any) -> None:
    """Run `then(new_id)` right after the move's restore made the copy."""
    real = restore_set

    def restore(*args: Any, **kwargs: Any) -> str:
        new_id = real(*args, **kwargs)
        then(new_id)
        return new_id

    monkeypatch.setattr(copying, "restore", restore)


def reporting_size(backend: QemuBackend, size: int) -> Any:
    """`backend.get_machine`, each disk of the machine reported as `size` bytes (QEMU's own
    reports 0 for a disk it did not create: its size is the file's)."""
    real = backend.get_machine

    def sized(machine_id: str) -> MachineInfo:
        info = real(machine_id)
        storage = tuple(c.model_copy(update={"disks": tuple(
            d.model_copy(update={"size_bytes": size}) for d in c.disks)})
            for c in info.spec.storage)
        return replace(info, spec=info.spec.model_copy(update={"storage": storage}))

    return sized


def test_a_copy_whose_disk_holds_other_bytes_is_removed_and_the_source_kept(
        source: QemuBackend, target: QemuBackend, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_bytes(source, tmp_path)
    original = snapshot_of(source, machine, tmp_path)
    # The target "imports" the disk wrongly: same hardware, same size, other bytes.
    after_restore(monkeypatch, lambda new_id: write(disk_paths(target, new_id)[0], 2 * MIB,
                                                    random_bytes(4096), tmp_path))
    with pytest.raises(CopyMismatch, match="disk 1 does not hold the bytes of the backup"):
        move_to(source, machine, target, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert target.list_machines() == []
    assert [m.id for m in source.list_machines()] == [machine]
    assert same(str(original), disk_paths(source, machine)[0])


def test_a_disk_size_a_target_elsewhere_reports_as_0_is_no_match(source: QemuBackend,
                                                         target: QemuBackend, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_bytes(source, tmp_path)
    monkeypatch.setattr(target, "get_machine", reporting_size(target, 0))
    # Elsewhere, the size the target reports is all there is to check.
    monkeypatch.setattr(target, "host", "elsewhere.example")
    with pytest.raises(CopyMismatch, match=r"disk 1 size \(bytes\): 16777216 in the backup, "
                                           "no size on the target"):
        move_to(source, machine, target, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert [m.id for m in source.list_machines()] == [machine]


def test_a_source_written_to_after_the_copy_is_not_deleted(source: QemuBackend,
                                                           target: QemuBackend, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_bytes(source, tmp_path)
    # Someone starts the original while the copy is restored and it writes to its disk.
    after_restore(monkeypatch, lambda _: write(disk_paths(source, machine)[0], 8 * MIB,
                                               random_bytes(4096), tmp_path))
    with pytest.raises(InvalidState, match=r"changed after it was copied \(its disk .* was "
                                           r"written to\), so it was not deleted: the copy "
                                           "moved .* and the original are both kept"):
        move_to(source, machine, target, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert [m.id for m in source.list_machines()] == [machine]
    assert [m.name for m in target.list_machines()] == ["moved"]


def test_a_source_started_after_the_copy_is_not_deleted(source: QemuBackend,
                                                        target: QemuBackend, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_bytes(source, tmp_path)
    real = source.get_machine
    started: list[bool] = []
    after_restore(monkeypatch, lambda _: started.append(True))

    def running_once_started(machine_id: str) -> MachineInfo:
        info = real(machine_id)
        if not started:
            return info
        from desktopvm.protocol import PowerState
        return replace(info, summary=replace(info.summary, state=PowerState.RUNNING))

    monkeypatch.setattr(source, "get_machine", running_once_started)
    with pytest.raises(InvalidState, match="it was off, now running"):
        move_to(source, machine, target, name="moved", progress=no_progress,
                cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert [m.id for m in source.list_machines()] == [machine]
    assert [m.name for m in target.list_machines()] == ["moved"]


def test_a_target_elsewhere_is_checked_by_sizes_and_says_so(source: QemuBackend,
                                                           target: QemuBackend, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_bytes(source, tmp_path)
    monkeypatch.setattr(target, "host", "elsewhere.example")
    monkeypatch.setattr(target, "get_machine", reporting_size(target, 16 * MIB))
    stages: list[str] = []
    move_to(source, machine, target, name="moved", progress=lambda _f, s: stages.append(s),
            cancel=CancelToken(), scratch=tmp_path / "scratch")
    assert source.list_machines() == []
    assert any("its hardware and disk sizes were checked here, not the disks' bytes" in s
               for s in stages)
    assert not any(s.startswith("Comparing disk") for s in stages)
