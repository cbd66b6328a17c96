"""A scheduled backup: what runs (`desktopvm-cli backup …`), how often, and its entry's name."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

EVERY = ("hourly", "daily", "weekly")
PREFIX = "desktopvm-backup-"  # every entry DesktopVM makes starts with it; others are not ours
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: `--encoded`: MACHINE and DIR are given as UTF-8 in hex. Windows' Task Scheduler expands
#: %NAME% in a task's arguments and has no escape for '%', and XML 1.0 cannot hold most control
#: characters at all; such arguments reach the CLI this way instead (see windows.py).
ENCODED_FLAG = "--encoded"
#: `--scheduled`: the run was started by the entry (so its outcome is noted as scheduled).
SCHEDULED_FLAG = "--scheduled"
OWN_FORMAT_FLAG = "--own-format"  # desktopvm-cli backup: the hypervisor's own disk format


class ScheduleError(Exception):
    """A schedule cannot be set, read or removed here: one line saying why and what to do."""


@dataclass(frozen=True)
class Schedule:
    """Back up `machine` (a CLI reference, CONNECTION:NAME) into `destination`, `every` hour,
    day (at `at`, HH:MM) or week (Mondays at `at`), then prune with the retention numbers."""

    machine: str
    destination: str
    every: str = "daily"
    at: str = "03:00"  # hourly: only the minutes count
    keep_last: int = 0
    daily: int = 0
    weekly: int = 0
    full: bool = False
    compress: bool = True
    own_format: bool = False  # the hypervisor's own disk format (full sets)

    def __post_init__(self) -> None:
        if self.every not in EVERY:
            raise ScheduleError(f"--every must be one of {', '.join(EVERY)}, not {self.every!r}")
        if not _TIME.match(self.at):
            raise ScheduleError(f"--at takes a time of day as HH:MM (e.g. 03:00), not {self.at!r}")
        if not self.machine:
            raise ScheduleError("no machine named")
        if not (PurePosixPath(self.destination).is_absolute()
                or PureWindowsPath(self.destination).is_absolute()):
            raise ScheduleError(f"the backup folder must be an absolute path: {self.destination!r}")
        if min(self.keep_last, self.daily, self.weekly) < 0:
            raise ScheduleError("retention numbers cannot be negative")
        if self.every == "hourly" and self.hour:  # only the minutes count: one way to say it
            object.__setattr__(self, "at", f"00:{self.minute:02d}")
        if "\0" in self.machine + self.destination:
            raise ScheduleError("a machine or folder name cannot hold a NUL character")

    @property
    def hour(self) -> int:
        return int(self.at[:2])

    @property
    def minute(self) -> int:
        return int(self.at[3:])

    @property
    def name(self) -> str:
        """The entry's name: the prefix, a readable part of the machine reference and 8 hex of
        it (so two machines whose names read alike never share an entry)."""
        readable = re.sub(r"[^a-z0-9]+", "-", self.machine.lower()).strip("-")[:32] or "machine"
        digest = hashlib.sha256(self.machine.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"{PREFIX}{readable}-{digest}"

    def when(self) -> str:
        """'every day at 03:00' and the like, for people."""
        if self.every == "hourly":
            return f"every hour at minute {self.minute:02d}"
        if self.every == "daily":
            return f"every day at {self.at}"
        return f"every Monday at {self.at}"

    def arguments(self, *, encoded: bool = False) -> list[str]:
        """The CLI's arguments after the program: `backup MACHINE --to DIR` and the flags."""
        machine, destination = self.machine, self.destination
        if encoded:
            machine, destination = encode(machine), encode(destination)
        args = ["backup", machine, "--to", destination, SCHEDULED_FLAG]
        if encoded:
            args.append(ENCODED_FLAG)
        if self.full:
            args.append("--full")
        if not self.compress:
            args.append("--no-compress")
        if self.own_format:
            args.append(OWN_FORMAT_FLAG)
        for flag, value in (("--keep-last", self.keep_last), ("--daily", self.daily),
                            ("--weekly", self.weekly)):
            if value:
                args += [flag, str(value)]
        return args


def encode(text: str) -> str:
    """`text` as UTF-8 in hex (only [0-9a-f]: nothing any scheduler or shell acts on)."""
    return text.encode("utf-8", "surrogateescape").hex()


def decode(text: str) -> str:
    """The inverse of `encode`; ValueError for anything that is not its output."""
    return bytes.fromhex(text).decode("utf-8", "surrogateescape")


def from_arguments(args: Sequence[str], every: str, at: str) -> Schedule:
    """Read a schedule back from the CLI arguments its entry runs (ScheduleError when they are
    not a backup command DesktopVM wrote)."""
    args = list(args)
    if len(args) < 4 or args[0] != "backup" or args[2] != "--to":
        raise ScheduleError(f"not a DesktopVM backup command: {args!r}")
    machine, destination, rest = args[1], args[3], args[4:]
    values: dict[str, int] = {}
    full, compress, own_format, encoded = False, True, False, False
    while rest:
        flag = rest.pop(0)
        if flag == ENCODED_FLAG:
            encoded = True
        elif flag == SCHEDULED_FLAG:  # entries made before it existed lack it: both read
            pass
        elif flag == "--full":
            full = True
        elif flag == "--no-compress":
            compress = False
        elif flag == OWN_FORMAT_FLAG:
            own_format = True
        elif flag in ("--keep-last", "--daily", "--weekly") and rest and rest[0].isdigit():
            values[flag[2:].replace("-", "_")] = int(rest.pop(0))
        else:
            raise ScheduleError(f"unknown argument in a DesktopVM backup command: {flag!r}")
    if encoded:
        try:
            machine, destination = decode(machine), decode(destination)
        except ValueError as error:
            raise ScheduleError(f"damaged encoded argument: {error}") from None
    return Schedule(machine, destination, every, at, full=full, compress=compress,
                    own_format=own_format, **values)


def cli_program() -> list[str]:
    """How the operating system starts `desktopvm-cli` (absolute, so no PATH is needed):
    the frozen bundle's own program, the `desktopvm-cli` script beside this Python (a venv or
    an install), one on PATH, or this Python running the CLI module."""
    here = Path(sys.executable).resolve().parent
    suffix = ".exe" if os.name == "nt" else ""
    candidates = [here / f"desktopvm-cli{suffix}", Path(sys.executable).parent
                  / f"desktopvm-cli{suffix}"]
    if os.name == "nt":
        candidates.append(here / "Scripts" / "desktopvm-cli.exe")
    for candidate in candidates:
        if candidate.is_file():
            return [str(candidate)]
    found = shutil.which("desktopvm-cli")
    if found:
        return [str(Path(found).resolve())]
    return [str(Path(sys.executable).resolve()), "-m", "desktopvm.cli"]
