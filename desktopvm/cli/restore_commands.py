"""`desktopvm-cli restore SET`, `copy-to MACHINE CONNECTION` and `move-to MACHINE CONNECTION`."""

from __future__ import annotations

import argparse
from pathlib import Path

from desktopvm.backup import restore, restore_over
from desktopvm.backup.checking import load_set
from desktopvm.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
    confirm,
    find_host,
    require_name,
    run_cancellable,
    target_backend,
)
from desktopvm.model import printable
from desktopvm.model.porting import Fitting
from desktopvm.protocol import Backend
from desktopvm.transfer import copy_to, move_to, plan_copy


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `restore`, `copy-to` and `move-to`."""
    back = sub.add_parser("restore", help="a backup set as a new machine, or over the original",
                          description="Restore a backup set (verified first) as a new machine on "
                          "any connection, or --over the machine it was made of (its current "
                          "disks are kept until the restore has succeeded).")
    back.add_argument("set", type=Path, help="the set's folder (`backups list` shows them)")
    back.add_argument("--to", help="the connection for the new machine (default: the first "
                      "local backend usable here)")
    back.add_argument("--host", help="restore onto this added host (id, address or label)")
    back.add_argument("--name", default="", help="the new machine's name (default: the "
                      "backed-up machine's)")
    back.add_argument("--over", metavar="MACHINE", help="replace this machine's disks and "
                      "hardware with the backup's (asks first)")
    back.add_argument("--yes", action="store_true", help="with --over: do not ask")
    back.set_defaults(handler=restore_command)
    for command, verb in (("copy-to", "copy"), ("move-to", "move")):
        parser = sub.add_parser(command, help=f"{verb} a machine to another hypervisor or host "
                                "(prints what changes there first)")
        parser.add_argument("vm")
        parser.add_argument("connection", help="a connection id (qemu, virtualbox, "
                            "hyperv@hv01…) or an added host's address or label")
        parser.add_argument("--name", default="", help="its name there (default: the same)")
        if command == "move-to":
            parser.add_argument("--yes", action="store_true", help="do not ask")
        parser.set_defaults(handler=transfer_command, move=command == "move-to")


def restore_command(ctx: Context) -> int:
    """`restore SET [--to C | --host H] [--name N]` or `restore SET --over MACHINE [--yes]`."""
    args = ctx.args
    if not args.set.is_dir():
        raise UsageError(f"{printable(str(args.set))}: no such set folder")
    path = args.set.resolve()
    backup = load_set(path)
    when = backup.created.astimezone().strftime("%Y-%m-%d %H:%M")
    if args.over:
        if args.to or args.host or args.name:
            raise UsageError("--over replaces a machine: --to, --host and --name do not apply")
        backend, summary = ctx.machine(args.over)
        if not args.yes and not confirm(
                ctx, f"Replace {printable(summary.name)} with the backup of "
                f"{printable(backup.machine_name)} from {when}? What changed since is lost"):
            print("not restored (use --yes to skip this question)", file=ctx.err)
            return EXIT_USAGE
        run_cancellable(ctx, lambda p, c: restore_over(path, backend, summary.id, progress=p,
                                                       cancel=c))
        ctx.print(f"{printable(summary.name)}: restored from {backup.id}")
        return EXIT_OK
    if args.yes:
        raise UsageError("--yes belongs to --over")
    target = target_backend(ctx, args.to, args.host)
    name = args.name or backup.machine_name
    require_name(target, name)
    new_id = run_cancellable(ctx, lambda p, c: restore(path, target, name=name, progress=p,
                                                       cancel=c))
    ctx.print(f"restored {backup.id} as {printable(name)} on {target.name} ({new_id})")
    return EXIT_OK


def _connection(ctx: Context, value: str) -> Backend:
    """A connection by id, or an added host by id, address or label."""
    if value in ctx.registry.names():
        return ctx.registry.open(value)
    return ctx.registry.open(find_host(ctx, value).id)


def print_report(ctx: Context, fitting: Fitting, source: str, target: Backend) -> None:
    """What changes on the target and why; what blocks the move (stdout, before anything)."""
    ctx.print(f"From {source} to {target.name} ({target.display_name}):")
    for change in fitting.changes:
        ctx.print(f"  {printable(change.what)}: {printable(change.before)} -> "
                  f"{printable(change.after)} ({printable(change.reason)})")
    if not fitting.changes:
        ctx.print("  nothing changes")
    for blocker in fitting.blockers:
        ctx.print(f"  cannot: {printable(blocker)}")


def transfer_command(ctx: Context) -> int:
    """`copy-to|move-to VM CONNECTION [--name N] [--yes]`: the report, then the copy."""
    args = ctx.args
    source, summary = ctx.machine(args.vm)
    target = _connection(ctx, args.connection)
    if target.name == source.name:
        raise UsageError(f"{printable(summary.name)} is on {source.name} already; `clone` "
                         "copies it there")
    name = args.name or summary.name
    fitting = plan_copy(source, summary.id, target)
    print_report(ctx, fitting, source.name, target)
    if fitting.blockers:
        print(f"error: {target.name} cannot take {printable(summary.name)} (see above)",
              file=ctx.err)
        return EXIT_FAILED
    require_name(target, name)
    if args.move and not args.yes and not confirm(
            ctx, f"Move {printable(summary.name)} to {target.name}? Once the copy is checked, "
            f"it is deleted from {source.name} with its disks and snapshots"):
        print("not moved (use --yes to skip this question)", file=ctx.err)
        return EXIT_USAGE
    call = move_to if args.move else copy_to
    new_id = run_cancellable(ctx, lambda p, c: call(source, summary.id, target, name=name,
                                                    progress=p, cancel=c))
    done = "moved" if args.move else "copied"
    ctx.print(f"{done} {printable(summary.name)} to {target.name} as {printable(name)} "
              f"({new_id})")
    return EXIT_OK
