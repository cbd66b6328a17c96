"""What became of each backup run (app, CLI or the OS scheduler): a log the app reads back.

A scheduled backup runs with the app closed, so its outcome would otherwise be only in
journalctl or Task Scheduler's history, where nobody looks. Every run appends one JSON line
to `backup-runs.jsonl` in DesktopVM's state folder; the app shows the last run of a machine in
its Back up dialog and, at start, the scheduled runs that failed since the user last looked.

The file is appended to, one `write` of one line per run (O_APPEND: on POSIX two runs ending
at once never mix their lines; Windows' C runtime seeks then writes, so there two runs ending
in the same instant could lose one line), and trimmed to the newest `KEEP` lines once it
holds `TRIM_AT` (a line appended by another run during the trim may be lost). A damaged line
is skipped, never fatal: this is a report, not a record anything depends on — which is why
it takes no lock.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from desktopvm.paths import atomic_write_text, state_root

log = logging.getLogger(__name__)

KEEP = 400  # lines kept when the file is trimmed
TRIM_AT = 500  # trimmed once it holds this many
SEEN_FILE = "backup-runs.seen"  # the time up to which the user has seen the failures


@dataclass(frozen=True)
class Run:
    """One backup run: which machine, into where, when, and how it ended."""

    machine: str  # the CLI reference (CONNECTION:NAME) or, from the app, the same form
    destination: str
    ended: str  # ISO 8601, UTC
    ok: bool
    line: str = ""  # the error in one line, or what was made ("full set 20261204-…, 1.2 GiB")
    scheduled: bool = False  # started by the operating system's scheduler

    @property
    def ended_at(self) -> datetime:
        return datetime.fromisoformat(self.ended)


def log_file() -> Path:
    return state_root() / "backup-runs.jsonl"


def record(machine: str, destination: str, *, ok: bool, line: str = "",
           scheduled: bool = False) -> Run:
    """Append the run's outcome. Never raises for a log it cannot write (a full disk must not
    turn a backup that worked into one that failed): it logs a warning instead."""
    run = Run(machine, destination, datetime.now(UTC).isoformat(),
              ok, " ".join(line.split())[:500], scheduled)
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(asdict(run), ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if _count_lines(path) >= TRIM_AT:
            runs = read()
            atomic_write_text(path, "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n"
                                            for r in runs[-KEEP:]))
    except OSError as error:
        log.warning("could not note the backup run of %s in %s: %s", machine, path, error)
    return run


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def read() -> list[Run]:
    """Every run the log holds, oldest first; damaged lines are skipped."""
    try:
        text = log_file().read_text(encoding="utf-8", errors="replace")
    except OSError:  # none yet, or unreadable: nothing to report
        return []
    runs = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            data = json.loads(line)
            run = Run(**{key: data[key] for key in Run.__dataclass_fields__ if key in data})
            run.ended_at  # noqa: B018 - a damaged time is a damaged line
        except (ValueError, TypeError, KeyError):
            log.info("skipping line %d of %s: not a backup run", number, log_file())
            continue
        runs.append(run)
    return runs


def last_run(machine: str) -> Run | None:
    """The newest run of `machine`, if any."""
    return next((run for run in reversed(read()) if run.machine == machine), None)


def unseen_failures() -> list[Run]:
    """Scheduled runs that failed after the time `mark_seen` last noted and that no later
    successful run of the same machine into the same folder made good: the newest of each
    machine and folder (a machine may be scheduled into two), newest first. A run by hand that
    failed too changes nothing: the scheduled one still failed."""
    seen = _seen()
    open_failures: dict[tuple[str, str], Run] = {}
    for run in read():
        key = (run.machine, run.destination)
        if run.ok:
            open_failures.pop(key, None)
        elif run.scheduled:
            open_failures[key] = run
    failed = [run for run in open_failures.values() if seen is None or run.ended_at > seen]
    return sorted(failed, key=lambda run: run.ended_at, reverse=True)


def error_line(error: BaseException) -> str:
    """A failure in the run log's words: the error's summary (never its details, which may
    quote a tool's whole output), or "cancelled"."""
    from desktopvm.protocol import OperationCancelled

    if isinstance(error, (KeyboardInterrupt, OperationCancelled)):
        return "cancelled"
    return str(getattr(error, "summary", "") or error) or type(error).__name__


def made_line(kind: str, set_id: str, size: str) -> str:
    """A set made, in the run log's words ("full set 20261204T030000Z-full, 1.2 GiB")."""
    return f"{kind} set {set_id}, {size}"


def mark_seen(until: datetime | None = None) -> None:
    """The user has seen the failures up to `until` (now when None)."""
    moment = until or datetime.now(UTC)
    atomic_write_text(state_root() / SEEN_FILE, moment.isoformat() + "\n")


def _seen() -> datetime | None:
    try:
        return datetime.fromisoformat((state_root() / SEEN_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
