"""Chains: a disk chains only onto the same disk, chains restart with a full (review of #20)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from desktopvm.backup import BackupDamaged, Retention, checking, list_backups, making, prune, verify
from desktopvm.backup.chain import reassemble
from desktopvm.backup.checking import chain_of
from desktopvm.backup.setfile import file_digest, format_sums, read_sums
from desktopvm.model import DiskFormat
from desktopvm.protocol import CancelToken, no_progress
from tests.backup.conftest import backup
from tests.backup.doubles import MIB, CaptureDouble


def _swap_ports(machine: CaptureDouble) -> None:
    """The two disks trade ports (their files, and so their change tracking, stay theirs)."""
    controller = machine.spec.storage[0]
    first, second = controller.disks
    disks = (first.model_copy(update={"port": second.port}),
             second.model_copy(update={"port": first.port}))
    machine.spec = machine.spec.model_copy(update={"storage": (controller.model_copy(
        update={"disks": disks}),)})


def _point(backup_path: Path, slot: tuple[int, int, int], out: Path) -> bytes:
    reassemble(chain_of(backup_path), slot, out, DiskFormat.RAW, cancel=CancelToken())
    return out.read_bytes()


def test_disks_that_swapped_ports_never_chain_onto_each_other(tmp_path, destination):
    machine = CaptureDouble(tmp_path / "m", (2 * MIB, 2 * MIB))
    machine.write(0, 0, 4096, 0xAA)  # disk A, port 0
    machine.write(1, 0, 4096, 0xBB)  # disk B, port 1
    first = backup(machine, destination)
    assert [d.source_file for d in first.disks] == [str(machine.disk(0)), str(machine.disk(1))]
    _swap_ports(machine)  # now A is on port 1, B on port 0
    machine.write(0, MIB, 4096, 0xCC)  # into A
    second = backup(machine, destination)
    # The capture's changes of A do not fit B's copy at port 1: backed up full instead.
    assert second.kind == "full" and machine.captures == ["", "point-1", ""]
    verify(second.path, progress=no_progress, cancel=CancelToken())
    port0 = _point(second.path, (0, 0, 0), tmp_path / "p0.raw")
    port1 = _point(second.path, (0, 1, 0), tmp_path / "p1.raw")
    assert port0[:4] == b"\xbb" * 4 and port0[MIB:MIB + 4] == b"\0" * 4  # B, unchanged
    assert port1[:4] == b"\xaa" * 4 and port1[MIB:MIB + 4] == b"\xcc" * 4  # A with its change


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_scheduled_sequence_restarts_its_chain_and_retention_frees_space(tmp_path,
                                                                          destination):
    """Backups as a schedule makes them, each after a change: the chain restarts with a full
    after MAX_LINKS incremental links, so keeping the last few lets the old chain go."""
    machine = CaptureDouble(tmp_path / "m", (MIB,))
    made = []
    for number in range(making.MAX_LINKS + 4):
        machine.write(0, (number % 8) * 4096, 4096, 0x10 + number)
        made.append(backup(machine, destination))
    kinds = [m.kind for m in made]
    assert kinds[0] == "full" and kinds[making.MAX_LINKS + 1] == "full"
    assert set(kinds[1:making.MAX_LINKS + 1]) == {"incremental"}
    assert made[making.MAX_LINKS + 2].parent == made[making.MAX_LINKS + 1].id
    before = _folder_bytes(destination)
    removed = prune(destination, made[0].machine_key, Retention(keep_last=2))
    assert sorted(s.id for s in removed) == sorted(m.id for m in made[:making.MAX_LINKS + 1])
    assert _folder_bytes(destination) < before
    verify(made[-1].path, progress=no_progress, cancel=CancelToken())


def test_a_chain_whose_full_is_a_week_old_restarts(tmp_path, destination):
    machine = CaptureDouble(tmp_path / "m", (MIB,))
    first = backup(machine, destination)
    record = json.loads((first.path / "backup.json").read_text())
    old = datetime.fromisoformat(record["created"]) - making.MAX_CHAIN_AGE - timedelta(hours=1)
    record["created"] = old.isoformat()  # as if made eight days ago
    (first.path / "backup.json").write_text(json.dumps(record))
    sums = read_sums(first.path)
    sums["backup.json"] = file_digest(first.path / "backup.json")
    (first.path / "SHA256SUMS").write_text(format_sums(sums))
    machine.write(0, 0, 4096, 0x42)
    assert backup(machine, destination).kind == "full"
    machine.write(0, 0, 4096, 0x43)
    assert backup(machine, destination).kind == "incremental"  # the new chain is young


def test_verify_and_the_list_apply_one_chain_limit(tmp_path, destination, monkeypatch):
    """A chain longer than MAX_CHAIN (made by an older DesktopVM, or forged) is refused by
    verify and listed as damaged alike."""
    monkeypatch.setattr(making, "MAX_LINKS", 10)
    monkeypatch.setattr(checking, "MAX_CHAIN", 3)
    machine = CaptureDouble(tmp_path / "m", (MIB,))
    made = []
    for number in range(checking.MAX_CHAIN + 1):
        machine.write(0, 0, 4096, number + 1)
        made.append(backup(machine, destination))
    assert made[-1].kind == "incremental"
    listed = {s.id: s.problem for s in list_backups(destination)}
    for depth, backup_set in enumerate(made):
        if depth < checking.MAX_CHAIN:
            assert listed[backup_set.id] == ""
            verify(backup_set.path, progress=no_progress, cancel=CancelToken())
        else:
            assert "chain" in listed[backup_set.id]
            with pytest.raises(BackupDamaged, match="chain"):
                verify(backup_set.path, progress=no_progress, cancel=CancelToken())
