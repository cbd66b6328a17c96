"""`desktopvm-cli snapshot list|take|restore|delete`."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from desktopvm.cli.common import EXIT_OK, Context, UsageError, run_cancellable
from desktopvm.model import printable
from desktopvm.protocol import Backend, Snapshot


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `snapshot`."""
    snap = sub.add_parser("snapshot", help="snapshots: list, take, restore, delete")
    snap_sub = snap.add_subparsers(dest="snapshot_command", required=True, metavar="ACTION")
    listing = snap_sub.add_parser("list", help="the snapshot tree")
    listing.add_argument("vm")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)
    take = snap_sub.add_parser("take", help="take a snapshot")
    take.add_argument("vm")
    take.add_argument("name")
    take.add_argument("--description", default="")
    take.add_argument("--no-memory", action="store_true",
                      help="disks only, even while the machine runs")
    take.set_defaults(handler=take_command)
    for action, text in (("restore", "go back to a snapshot (the current state is lost)"),
                         ("delete", "delete a snapshot (the current state is kept)")):
        parser = snap_sub.add_parser(action, help=text)
        parser.add_argument("vm")
        parser.add_argument("name", help="snapshot name or id")
        parser.set_defaults(handler=restore_command if action == "restore" else delete_command)


def _find(backend: Backend, machine_id: str, wanted: str) -> Snapshot:
    roots, _ = backend.list_snapshots(machine_id)
    every = [s for root in roots for s in root.walk()]
    by_id = [s for s in every if s.id == wanted]
    matches = by_id or [s for s in every if s.name == wanted]
    if not matches:
        raise UsageError(f"no snapshot {wanted!r}")
    if len(matches) > 1:
        ids = ", ".join(s.id for s in matches)
        raise UsageError(f"several snapshots are called {wanted!r}; name one by id: {ids}")
    return matches[0]


def list_command(ctx: Context) -> int:
    """`snapshot list VM`: an indented tree, the current one marked."""
    backend, summary = ctx.machine(ctx.args.vm)
    roots, current = backend.list_snapshots(summary.id)
    if ctx.args.json:
        ctx.print_json({"current": current, "snapshots": [asdict(r) for r in roots]})
        return EXIT_OK

    def show(snapshot: Snapshot, depth: int) -> None:
        marks = (" [memory]" if snapshot.has_memory else "") + (
            " *current*" if snapshot.id == current else "")
        ctx.print(f"{'  ' * depth}{printable(snapshot.name)}{marks}  ({snapshot.id}, "
                  f"{snapshot.created})")
        if snapshot.description:
            ctx.print(f"{'  ' * depth}  {printable(snapshot.description)}")
        for child in snapshot.children:
            show(child, depth + 1)

    for root in roots:
        show(root, 0)
    return EXIT_OK


def take_command(ctx: Context) -> int:
    """`snapshot take VM NAME`."""
    backend, summary = ctx.machine(ctx.args.vm)
    snapshot = run_cancellable(ctx, lambda p, c: backend.take_snapshot(
        summary.id, ctx.args.name, description=ctx.args.description,
        include_memory=not ctx.args.no_memory, progress=p, cancel=c))
    ctx.print(f"{printable(summary.name)}: took snapshot {printable(snapshot.name)} "
              f"({snapshot.id})")
    return EXIT_OK


def restore_command(ctx: Context) -> int:
    """`snapshot restore VM NAME`."""
    backend, summary = ctx.machine(ctx.args.vm)
    snapshot = _find(backend, summary.id, ctx.args.name)
    run_cancellable(ctx, lambda p, c: backend.restore_snapshot(summary.id, snapshot.id,
                                                               progress=p, cancel=c))
    ctx.print(f"{printable(summary.name)}: restored {printable(snapshot.name)}")
    return EXIT_OK


def delete_command(ctx: Context) -> int:
    """`snapshot delete VM NAME`."""
    backend, summary = ctx.machine(ctx.args.vm)
    snapshot = _find(backend, summary.id, ctx.args.name)
    run_cancellable(ctx, lambda p, c: backend.delete_snapshot(summary.id, snapshot.id,
                                                              progress=p, cancel=c))
    ctx.print(f"{printable(summary.name)}: deleted snapshot {printable(snapshot.name)}")
    return EXIT_OK
