"""`desktopvm-cli backup` (now, schedule, schedules, unschedule) and `backups list|verify|prune`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from desktopvm import schedule as scheduling
from desktopvm.backup import BackupSet, Retention, back_up, list_backups, prune, verify
from desktopvm.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Context,
    UsageError,
    format_size,
    run_cancellable,
    table,
)
from desktopvm.model import printable
from desktopvm.protocol import Backend, BackendError, MachineSummary
from desktopvm.schedule import runs
from desktopvm.schedule.entry import ENCODED_FLAG, OWN_FORMAT_FLAG, SCHEDULED_FLAG, decode

WORDS = ("schedule", "schedules", "unschedule")
USAGE = """desktopvm-cli backup MACHINE --to DIR [--full] [--no-compress] [--own-format]
                           [RETENTION]
       desktopvm-cli backup schedule MACHINE --to DIR --every hourly|daily|weekly [--at HH:MM]
                                     [--full] [--no-compress] [--own-format] [RETENTION]
       desktopvm-cli backup schedules [--json]
       desktopvm-cli backup unschedule MACHINE
RETENTION: --keep-last N --daily N --weekly N (prune the machine's older sets after)"""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `backup` and `backups`."""
    backup = sub.add_parser(
        "backup", usage=USAGE, help="back up a machine now, or on a schedule",
        description="Back up a machine (running or off) into a folder: a self-describing set "
        "(spec, OVF, disks, notes, SHA256SUMS). The next backup of the same machine into the "
        "same folder is incremental where the hypervisor tracks changed blocks. A machine "
        "called like one of the words schedule/schedules/unschedule is named CONNECTION:NAME.")
    backup.add_argument("words", nargs="+", metavar="MACHINE")
    backup.add_argument("--to", help="the backup folder (it must exist)")
    backup.add_argument("--full", action="store_true", help="a full backup, not incremental")
    backup.add_argument("--no-compress", action="store_true", help="do not compress the disks")
    backup.add_argument(OWN_FORMAT_FLAG, action="store_true",
                        help="keep the disks in the hypervisor's own format (VDI, VHDX, VMDK, "
                        "qcow2) instead of compressed qcow2; always a full backup")
    _retention_arguments(backup)
    backup.add_argument("--every", choices=scheduling.EVERY, help="schedule: how often")
    backup.add_argument("--at", default="03:00", help="schedule: time of day, HH:MM (hourly: "
                        "the minutes; weekly: on Mondays)")
    backup.add_argument("--json", action="store_true", help="schedules: as JSON")
    # How a scheduled task on Windows passes names holding '%' (see desktopvm/schedule).
    backup.add_argument(ENCODED_FLAG, action="store_true", help=argparse.SUPPRESS)
    # Set by the scheduler's entry: the run's outcome is noted for the app to show.
    backup.add_argument(SCHEDULED_FLAG, action="store_true", help=argparse.SUPPRESS)
    backup.set_defaults(handler=backup_command)

    sets = sub.add_parser("backups", help="backup sets in a folder: list, verify, prune")
    sets_sub = sets.add_subparsers(dest="backups_command", required=True, metavar="ACTION")
    listing = sets_sub.add_parser("list", help="the sets in a backup folder")
    listing.add_argument("folder", type=Path)
    listing.add_argument("--machine", help="only this machine's sets (name or key)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)
    check = sets_sub.add_parser("verify", help="check a set and the sets it depends on")
    check.add_argument("set", type=Path, help="the set's folder")
    check.set_defaults(handler=verify_command)
    trim = sets_sub.add_parser("prune", help="delete a machine's sets that retention lets go")
    trim.add_argument("folder", type=Path)
    trim.add_argument("--machine", required=True, help="the machine's name or key")
    _retention_arguments(trim)
    trim.add_argument("--dry-run", action="store_true", help="only say what would go")
    trim.set_defaults(handler=prune_command)


def _retention_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, text in (("--keep-last", "keep the newest N sets"),
                       ("--daily", "keep the newest set of each of the last N days"),
                       ("--weekly", "keep the newest set of each of the last N weeks")):
        parser.add_argument(flag, type=_count, default=0, metavar="N", help=text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return int(text)


def _retention(args: argparse.Namespace) -> Retention:
    return Retention(keep_last=args.keep_last, daily=args.daily, weekly=args.weekly)


def _folder(text: str | None, *, what: str = "--to") -> Path:
    """An existing folder, absolute. A missing one is refused rather than made: an unplugged
    drive's mount point would otherwise fill the system disk."""
    if not text:
        raise UsageError(f"{what} DIR is needed: the folder to back up into")
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise UsageError(f"{printable(text)}: no such folder (is the drive connected? create "
                         "the folder first)")
    return folder.resolve()


def backup_command(ctx: Context) -> int:
    """`backup …`: dispatch on the first word."""
    words, args = ctx.args.words, ctx.args
    if words[0] in WORDS and len(words) <= 2:
        if args.encoded:
            raise UsageError(f"{ENCODED_FLAG} is only for `backup MACHINE`")
        return {"schedule": schedule_command, "schedules": schedules_command,
                "unschedule": unschedule_command}[words[0]](ctx, words[1:])
    if len(words) != 1:
        raise UsageError("back up one machine at a time: backup MACHINE --to DIR")
    if args.every:
        raise UsageError("--every belongs to `backup schedule MACHINE --to DIR --every …`")
    machine, to = words[0], args.to
    if args.encoded:  # from a Windows scheduled task: MACHINE and DIR are UTF-8 in hex
        try:
            machine, to = decode(machine), decode(to or "")
        except ValueError:
            raise UsageError(f"{ENCODED_FLAG}: MACHINE and --to must be hex") from None
    # Noted whatever went wrong (no such folder, host unreachable, Ctrl-C): with the app
    # closed, this line is how the user learns a scheduled backup did not happen. The machine
    # is noted as CONNECTION:NAME once it is found (as schedules and the app name it).
    reference, destination, made = machine, to or "", None
    # A run nobody watches is the scheduler's: its own entry says so, and so does a run with
    # no terminal (an entry written before --scheduled existed, cron, a script).
    unattended = args.scheduled or not _on_a_terminal(ctx)
    try:
        backend, summary = ctx.machine(machine)
        reference = f"{backend.name}:{summary.name}"
        folder = _folder(to)
        destination = str(folder)
        made = back_up_now(ctx, backend, summary, folder)
        _prune_after(ctx, folder, made)
    except BaseException as error:
        line = runs.error_line(error)
        if made is not None:  # the set is there; what failed is the pruning after it
            line = f"the {made.kind} set {made.id} was made, but pruning older sets failed: " \
                   f"{line}"
        runs.record(reference, destination, ok=False, line=line, scheduled=unattended)
        raise
    runs.record(reference, destination, ok=True, scheduled=unattended,
                line=runs.made_line(made.kind, made.id, format_size(made.size_bytes)))
    return EXIT_OK


def _on_a_terminal(ctx: Context) -> bool:
    isatty = getattr(ctx.err, "isatty", None)
    return bool(isatty and isatty())


def back_up_now(ctx: Context, backend: Backend, summary: MachineSummary,
                destination: Path) -> BackupSet:
    """Back up; returns the set made."""
    args = ctx.args
    made = run_cancellable(ctx, lambda p, c: back_up(
        backend, summary.id, destination, incremental=not args.full,
        compress=not args.no_compress, own_format=args.own_format, progress=p, cancel=c))
    running = " (running: crash-consistent)" if made.was_running else ""
    ctx.print(f"backed up {printable(summary.name)}: {made.kind} set {made.id}, "
              f"{format_size(made.size_bytes)}{running}")
    ctx.print(f"  {printable(str(made.path))}")
    return made


def _prune_after(ctx: Context, destination: Path, made: BackupSet) -> None:
    """Prune the machine's older sets with the retention flags (if any)."""
    policy = _retention(ctx.args)
    if not policy.keeps_everything:
        for gone in prune(destination, made.machine_key, policy):
            ctx.print(f"pruned {gone.id} ({gone.kind}, {format_size(gone.size_bytes)})")


def set_data(backup: BackupSet) -> dict[str, Any]:
    """A set as --json shows it."""
    return {"id": backup.id, "path": str(backup.path), "machine": backup.machine_name,
            "machine_key": backup.machine_key, "source": backup.source,
            "created": backup.created.isoformat(), "kind": backup.kind, "parent": backup.parent,
            "was_running": backup.was_running, "size_bytes": backup.size_bytes,
            "problem": backup.problem}


def _of_machine(sets: list[BackupSet], wanted: str) -> list[BackupSet]:
    """The sets of the machine named `wanted` (its name, or the start of its key); a name
    two machines had is refused with their keys."""
    by_key = [s for s in sets if s.machine_key and s.machine_key.startswith(wanted.lower())]
    chosen = by_key or [s for s in sets if s.machine_name == wanted]
    keys = sorted({s.machine_key for s in chosen})
    if len(keys) > 1:
        raise UsageError(f"several machines called {printable(wanted)!r} have sets here; name "
                         "one by key: " + ", ".join(k[:8] for k in keys))
    return chosen


def list_command(ctx: Context) -> int:
    """`backups list DIR`: one row per set, damaged ones with their problem."""
    folder = ctx.args.folder
    if not folder.is_dir():
        raise UsageError(f"{printable(str(folder))}: no such folder")
    sets = list_backups(folder)
    if ctx.args.machine:
        sets = _of_machine(sets, ctx.args.machine)
    if ctx.args.json:
        ctx.print_json([set_data(s) for s in sets])
        return EXIT_OK
    if not sets:
        print(f"no backup sets in {printable(str(folder))}", file=ctx.err)
        return EXIT_OK
    rows = [(printable(s.machine_name), s.machine_key[:8], s.id,
             s.created.astimezone().strftime("%Y-%m-%d %H:%M"), s.kind,
             format_size(s.size_bytes) if not s.problem else "-", s.source or "-",
             "running" if s.was_running else "off", printable(s.problem) or "ok")
            for s in sets]
    ctx.print(table(rows, ("MACHINE", "KEY", "SET", "TIME", "KIND", "SIZE", "SOURCE", "WAS",
                           "CHECK")))
    return EXIT_OK


def verify_command(ctx: Context) -> int:
    """`backups verify SET`."""
    path = ctx.args.set
    if not path.is_dir():
        raise UsageError(f"{printable(str(path))}: no such set folder")
    checked = run_cancellable(ctx, lambda p, c: verify(path.resolve(), progress=p, cancel=c))
    chain = f", with the {checked.parent} chain" if checked.parent else ""
    ctx.print(f"{checked.id} of {printable(checked.machine_name)}: verified (digests, "
              f"descriptor, disks{chain})")
    return EXIT_OK


def prune_command(ctx: Context) -> int:
    """`backups prune DIR --machine M [retention] [--dry-run]`."""
    folder, policy = ctx.args.folder, _retention(ctx.args)
    if not folder.is_dir():
        raise UsageError(f"{printable(str(folder))}: no such folder")
    if policy.keeps_everything:
        raise UsageError("say what to keep: --keep-last N, --daily N and/or --weekly N")
    sets = _of_machine(list_backups(folder), ctx.args.machine)
    if not sets:
        raise UsageError(f"no sets of {printable(ctx.args.machine)!r} in "
                         f"{printable(str(folder))}")
    gone = prune(folder, sets[0].machine_key, policy, dry_run=ctx.args.dry_run)
    verb = "would delete" if ctx.args.dry_run else "deleted"
    for backup in gone:
        ctx.print(f"{verb} {backup.id} ({backup.kind}, {format_size(backup.size_bytes)})")
    kept = len(sets) - len(gone)
    said = "would be deleted" if ctx.args.dry_run else "deleted"
    ctx.print(f"{len(gone)} set(s) {said}, {kept} kept")
    return EXIT_OK


# -- schedules ------------------------------------------------------------------------------
def _scheduling_failed(error: scheduling.ScheduleError) -> BackendError:
    return BackendError(str(error))


def schedule_command(ctx: Context, rest: list[str]) -> int:
    """`backup schedule MACHINE --to DIR --every …`: checks the machine and folder now."""
    if len(rest) != 1:
        raise UsageError("backup schedule MACHINE --to DIR --every hourly|daily|weekly")
    args = ctx.args
    if not args.every:
        raise UsageError("--every hourly|daily|weekly is needed")
    backend, summary = ctx.machine(rest[0])
    destination = _folder(args.to)
    try:
        entry = scheduling.Schedule(
            f"{backend.name}:{summary.name}", str(destination), args.every, args.at,
            keep_last=args.keep_last, daily=args.daily, weekly=args.weekly, full=args.full,
            compress=not args.no_compress, own_format=args.own_format)
    except scheduling.ScheduleError as error:
        raise UsageError(str(error)) from None
    try:
        name = scheduling.install(entry)
    except scheduling.ScheduleError as error:
        raise _scheduling_failed(error) from None
    ctx.print(f"scheduled: back up {printable(entry.machine)} {entry.when()} into "
              f"{printable(entry.destination)}")
    ctx.print(f"  {scheduling.system_name()} {printable(name)}")
    return EXIT_OK


def schedules_command(ctx: Context, rest: list[str]) -> int:
    """`backup schedules`: every scheduled backup DesktopVM made on this computer."""
    if rest:
        raise UsageError("backup schedules takes no machine")
    try:
        found = scheduling.entries()
    except scheduling.ScheduleError as error:
        raise _scheduling_failed(error) from None
    if ctx.args.json:
        ctx.print_json([{"entry": e.name, "problem": e.problem,
                         **({"machine": e.schedule.machine, "to": e.schedule.destination,
                             "every": e.schedule.every, "at": e.schedule.at,
                             "keep_last": e.schedule.keep_last, "daily": e.schedule.daily,
                             "weekly": e.schedule.weekly, "full": e.schedule.full,
                             "compress": e.schedule.compress,
                             "own_format": e.schedule.own_format} if e.schedule else {})}
                        for e in found])
        return EXIT_OK
    if not found:
        print("no backups are scheduled", file=ctx.err)
        return EXIT_OK
    rows = []
    for e in found:
        s = e.schedule
        if s is None:
            rows.append(("?", "?", "?", "?", f"{e.name}: {printable(e.problem)}"))
            continue
        keep = ", ".join(f"{label} {value}" for label, value in (
            ("last", s.keep_last), ("daily", s.daily), ("weekly", s.weekly)) if value) or "all"
        rows.append((printable(s.machine), s.when(), printable(s.destination), keep, e.name))
    ctx.print(table(rows, ("MACHINE", "WHEN", "TO", "KEEP", "ENTRY")))
    return EXIT_FAILED if any(e.schedule is None for e in found) else EXIT_OK


def unschedule_command(ctx: Context, rest: list[str]) -> int:
    """`backup unschedule MACHINE`."""
    if len(rest) != 1:
        raise UsageError("backup unschedule MACHINE")
    try:
        removed = scheduling.remove(rest[0])
    except scheduling.ScheduleError as error:
        raise _scheduling_failed(error) from None
    for name in removed:
        ctx.print(f"unscheduled {printable(name)}")
    return EXIT_OK
