"""Backups the operating system runs on schedule, with the app closed: `desktopvm-cli backup`.

Linux: a systemd user timer (systemd.py); Windows: a Task Scheduler task (windows.py). Each
entry's name starts with `desktopvm-backup-`; only such entries are listed or removed. One
entry per machine: scheduling a machine again replaces its entry.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from desktopvm.schedule.entry import EVERY, PREFIX, Schedule, ScheduleError, cli_program

__all__ = ["EVERY", "PREFIX", "Entry", "Schedule", "ScheduleError", "entries", "install",
           "remove", "system_name"]


@dataclass(frozen=True)
class Entry:
    """A scheduled backup found on this computer; `problem` says why it could not be read."""

    name: str
    schedule: Schedule | None
    problem: str = ""


def system_name() -> str:
    """The scheduler this computer uses, in words ('' when DesktopVM has none for it)."""
    if sys.platform.startswith("linux"):
        return "systemd user timer"
    if sys.platform == "win32":
        return "Windows Task Scheduler"
    return ""


class _Found(Protocol):
    name: str
    schedule: Schedule | None
    problem: str


class _System(Protocol):
    """What systemd.py and windows.py each offer."""

    def install(self, schedule: Schedule, program: Sequence[str]) -> str: ...
    def remove(self, name: str) -> None: ...
    def installed(self) -> Sequence[_Found]: ...


def _module() -> _System:
    if sys.platform.startswith("linux"):
        from desktopvm.schedule import systemd

        return systemd  # type: ignore[return-value]
    if sys.platform == "win32":
        from desktopvm.schedule import windows

        return windows  # type: ignore[return-value]
    raise ScheduleError(f"DesktopVM cannot schedule backups on this system ({sys.platform}) "
                        "yet; run `desktopvm-cli backup` from your own scheduler")


def install(schedule: Schedule, program: Sequence[str] | None = None) -> str:
    """Create or replace the machine's entry; returns its name. Runs a scheduler tool: call
    it in a job, never on the GUI thread."""
    return str(_module().install(schedule, list(program or cli_program())))


def entries() -> list[Entry]:
    """Every entry DesktopVM made here, read back."""
    return [Entry(found.name, found.schedule, found.problem) for found in _module().installed()]


def remove(machine: str) -> list[str]:
    """Remove the entries that back up `machine` (as scheduled, or by an entry's name);
    returns their names. ScheduleError when there is none."""
    found = entries()
    matching = [e for e in found if e.name == machine or e.name.endswith("\\" + machine)
                or (e.schedule is not None and e.schedule.machine == machine)]
    if not matching:  # a plain name matches CONNECTION:NAME when only one connection has it
        matching = [e for e in found if e.schedule is not None
                    and e.schedule.machine.rpartition(":")[2] == machine]
        if len(matching) > 1:
            raise ScheduleError(f"{machine!r} is scheduled on several connections; say which: "
                                + ", ".join(e.schedule.machine for e in matching
                                            if e.schedule is not None))
    if not matching:
        raise ScheduleError(f"no backup of {machine!r} is scheduled")
    module = _module()
    for entry in matching:
        module.remove(entry.name)
    return [entry.name for entry in matching]
