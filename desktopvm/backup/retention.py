"""Retention: which sets of a machine to keep (last N, daily, weekly) and `prune` of the rest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from desktopvm.backup.checking import list_backups
from desktopvm.backup.publish import remove_set, sweep
from desktopvm.backup.setfile import BackupSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """Keep the newest `keep_last` sets, the newest set of each of the last `daily` days and
    of each of the last `weekly` ISO weeks that have sets (UTC). All zero: keep everything."""

    keep_last: int = 0
    daily: int = 0
    weekly: int = 0

    def __post_init__(self) -> None:
        if min(self.keep_last, self.daily, self.weekly) < 0:
            raise ValueError("retention counts cannot be negative")

    @property
    def keeps_everything(self) -> bool:
        """True when the policy names no limit (prune then removes nothing)."""
        return not (self.keep_last or self.daily or self.weekly)


def chosen(sets: list[BackupSet], policy: Retention) -> set[str]:
    """The ids the policy keeps by itself (before the sets they depend on are added)."""
    newest_first = sorted(sets, key=lambda s: (s.created, s.id), reverse=True)
    keep = {s.id for s in newest_first[:policy.keep_last]}
    for count, period in ((policy.daily, _day), (policy.weekly, _week)):
        seen: list[object] = []
        for backup in newest_first:
            bucket = period(backup)
            if bucket not in seen:
                if len(seen) == count:
                    break
                seen.append(bucket)
                keep.add(backup.id)
    return keep


def _day(backup: BackupSet) -> object:
    return backup.created.astimezone(UTC).date()


def _week(backup: BackupSet) -> object:
    return backup.created.astimezone(UTC).isocalendar()[:2]


def prune(destination: Path, machine_key: str, policy: Retention, *,
          dry_run: bool = False) -> list[BackupSet]:
    """Remove the machine's sets the policy does not keep; the sets removed (or, with
    `dry_run`, that would be). A set a kept set depends on is never removed, nor a damaged
    set (it is the user's to look at) or a set one builds on, nor anything when the policy
    keeps everything — nor anything at all beside a damaged set whose record is unreadable
    (what it builds on is unknown)."""
    listed = list_backups(destination)
    sets = [s for s in listed if s.machine_key == machine_key]
    if policy.keeps_everything or not sets:
        return []
    folders = {s.path.parent for s in sets}
    unknown = [s for s in listed if s.path.parent in folders and s.problem and not s.machine_key]
    if unknown:  # its record is unreadable: any set here may be an ancestor it needs
        log.warning("not pruning %s: the damaged set %s may build on any set there",
                    unknown[0].path.parent, unknown[0].id)
        return []
    sound = [s for s in sets if not s.problem]
    by_id = {s.id: s for s in sound}
    keep = chosen(sound, policy)
    # Every ancestor of a kept set stays, and of a damaged one (it may yet be repaired).
    for backup in [by_id[i] for i in keep] + [s for s in sets if s.problem]:
        parent = backup.parent
        while parent and parent in by_id and parent not in keep:
            keep.add(parent)
            parent = by_id[parent].parent
    doomed = sorted((s for s in sound if s.id not in keep),
                    key=lambda s: (s.created, s.id), reverse=True)
    if not dry_run:
        for backup in doomed:  # newest first: a child goes before the set it depends on
            remove_set(backup.path)
        if doomed:
            sweep(doomed[0].path.parent)
    return doomed
