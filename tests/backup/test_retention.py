"""Retention: which sets a policy keeps (pure), and prune on real sets (never a needed parent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktopvm.backup import BackupSet, Retention, list_backups, prune, verify
from desktopvm.backup.retention import chosen
from desktopvm.model import MachineSpec
from desktopvm.protocol import CancelToken, no_progress
from tests.backup.conftest import backup

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, midnight


def fake(hours: int, kind: str = "full", parent: str = "") -> BackupSet:
    created = START + timedelta(hours=hours)
    return BackupSet(path=Path(f"/x/{hours}"), id=f"s{hours}", machine_key="k",
                     machine_name="m", source="qemu", created=created, kind=kind,
                     parent=parent, was_running=False, size_bytes=1, spec=MachineSpec(name="m"))


# Four sets a day (every 6 hours) for 21 days.
SETS = [fake(h) for h in range(0, 21 * 24, 6)]


def test_keep_last_keeps_the_newest():
    assert chosen(SETS, Retention(keep_last=3)) == {"s486", "s492", "s498"}


def test_daily_keeps_the_newest_of_each_of_the_last_days():
    kept = chosen(SETS, Retention(daily=3))
    assert kept == {"s498", "s474", "s450"}  # 18:00 of the last three days


def test_weekly_keeps_the_newest_of_each_week():
    kept = chosen(SETS, Retention(weekly=2))
    assert kept == {"s498", "s330"}  # the last set of week 3 and of week 2 (Sunday 18:00)


def test_policies_add_up_and_nothing_means_keep_everything():
    assert chosen(SETS, Retention(keep_last=1, daily=2)) == {"s498", "s474"}
    assert Retention().keeps_everything
    with pytest.raises(ValueError, match="negative"):
        Retention(keep_last=-1)


def test_prune_never_removes_a_set_a_kept_set_depends_on(machine, destination):
    first = backup(machine, destination)
    machine.write(0, 0, 512, 0x66)
    second = backup(machine, destination)
    third = backup(machine, destination, incremental=False)
    machine.write(0, 512, 512, 0x67)
    fourth = backup(machine, destination)
    assert (second.parent, fourth.parent) == (first.id, third.id)
    key = first.machine_key
    would = prune(destination, key, Retention(keep_last=1), dry_run=True)
    assert [s.id for s in would] == [second.id, first.id]
    assert len(list_backups(destination)) == 4  # a dry run removes nothing
    removed = prune(destination, key, Retention(keep_last=1))
    assert [s.id for s in removed] == [second.id, first.id]
    assert [s.id for s in list_backups(destination)] == [third.id, fourth.id]
    verify(fourth.path, progress=no_progress, cancel=CancelToken())  # its chain is whole
    assert not [p for p in fourth.path.parent.iterdir() if p.name.startswith(".")]


def test_prune_keeps_everything_without_a_policy_and_other_machines_always(machine,
                                                                           destination):
    made = backup(machine, destination)
    backup(machine, destination)
    assert prune(destination, made.machine_key, Retention()) == []
    assert prune(destination, "another machine", Retention(keep_last=1)) == []
    assert len(list_backups(destination)) == 2


def test_prune_keeps_what_a_damaged_set_builds_on(machine, destination):
    """A set damaged by a lost disk file still names its parent, which prune keeps."""
    first = backup(machine, destination)
    machine.write(0, 0, 512, 0x61)
    second = backup(machine, destination)
    (second.path / second.disks[0].file).unlink()  # lost, quarantined, not yet synced …
    third = backup(machine, destination, incremental=False)
    machine.write(0, 0, 512, 0x62)
    fourth = backup(machine, destination)
    listed = {s.id: s for s in list_backups(destination)}
    assert listed[second.id].problem and listed[second.id].parent == first.id
    assert listed[second.id].machine_key == first.machine_key
    removed = prune(destination, first.machine_key, Retention(keep_last=1))
    assert removed == []  # fourth needs third; the damaged second (kept) needs first
    assert {s.id for s in list_backups(destination)} == {first.id, second.id, third.id,
                                                         fourth.id}


def test_prune_removes_nothing_beside_a_set_whose_record_is_unreadable(machine, destination):
    first = backup(machine, destination)
    machine.write(0, 0, 512, 0x61)
    second = backup(machine, destination)
    third = backup(machine, destination, incremental=False)
    (second.path / "backup.json").write_text("{not json")  # which set it builds on: unknown
    assert prune(destination, first.machine_key, Retention(keep_last=1)) == []
    assert {s.id for s in list_backups(destination)} == {first.id, second.id, third.id}
