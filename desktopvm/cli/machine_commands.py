"""`desktopvm-cli` machine commands: inventory, lifecycle, delete, clone, export, import."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from desktopvm.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
    confirm,
    require_name,
    run_cancellable,
    table,
)
from desktopvm.cli.spec_commands import describe_spec
from desktopvm.model import printable
from desktopvm.model.specfile import spec_to_data
from desktopvm.protocol import BackendError, MachineSummary, PowerState, StartMode

LIFECYCLE = {
    "shutdown": ("shutdown", "asked to shut down (ACPI power button)"),
    "poweroff": ("power_off", "powered off"),
    "reset": ("reset", "reset"),
    "pause": ("pause", "paused"),
    "resume": ("resume", "resumed"),
}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the machine commands."""
    backends = sub.add_parser("backends", help="which hypervisors are usable here")
    backends.add_argument("--json", action="store_true")
    backends.set_defaults(handler=backends_command)

    listing = sub.add_parser("list", help="all machines of all backends")
    listing.add_argument("--backend")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    show = sub.add_parser("show", help="one machine: state, hardware, snapshots")
    show.add_argument("vm")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    start = sub.add_parser("start", help="start a machine")
    start.add_argument("vm")
    start.add_argument("--headless", action="store_true", help="no hypervisor window")
    start.set_defaults(handler=start_command)
    for command, (_, done) in LIFECYCLE.items():
        parser = sub.add_parser(command, help=f"the machine is {done}")
        parser.add_argument("vm")
        parser.set_defaults(handler=lifecycle_command, operation=command)
    save = sub.add_parser("save", help="save the machine's state and stop it")
    save.add_argument("vm")
    save.set_defaults(handler=save_command)

    delete = sub.add_parser("delete", help="delete a machine (keeps its disks unless asked)")
    delete.add_argument("vm")
    delete.add_argument("--delete-disks", action="store_true", help="also delete its disk files")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.set_defaults(handler=delete_command)

    clone = sub.add_parser("clone", help="copy a machine")
    clone.add_argument("vm")
    clone.add_argument("new_name")
    clone.add_argument("--linked", action="store_true", help="share the original's disks "
                       "(copy-on-write) instead of copying them")
    clone.add_argument("--snapshot", default="", help="clone from this snapshot")
    clone.set_defaults(handler=clone_command)

    export = sub.add_parser("export", help="export a machine (OVA/OVF or the backend's format)")
    export.add_argument("vm")
    export.add_argument("path", type=Path)
    export.set_defaults(handler=export_command)

    imported = sub.add_parser("import", help="import an appliance as a new machine")
    imported.add_argument("path", type=Path)
    imported.add_argument("--backend")
    imported.add_argument("--name", default="")
    imported.set_defaults(handler=import_command)


def backends_command(ctx: Context) -> int:
    """`backends`: every known backend and whether it is usable, with the reason if not."""
    results = [ctx.registry.probe_thoroughly(name) for name in ctx.registry.names()]
    if ctx.args.json:
        ctx.print_json([asdict(r) for r in results])
        return EXIT_OK
    rows = [(r.name, "yes" if r.available else "no", r.version or "-",
             r.reason + (f" ({r.install_hint})" if r.install_hint else "")) for r in results]
    ctx.print(table(rows, ("BACKEND", "AVAILABLE", "VERSION", "NOTE")))
    return EXIT_OK


def _summary_data(m: MachineSummary) -> dict[str, object]:
    return {"backend": m.backend, "host": m.host, "id": m.id, "name": m.name,
            "state": m.state.value, "os": m.os, "cpus": m.cpus, "memory_mib": m.memory_mib}


def list_command(ctx: Context) -> int:
    """`list`: one row per machine; a backend that fails is reported and the rest still listed."""
    if ctx.args.backend:
        backends = [ctx.registry.open(ctx.args.backend)]
    else:
        backends = ctx.registry.available()
    machines: list[MachineSummary] = []
    failed = False
    for backend in backends:
        try:
            machines += backend.list_machines()
        except BackendError as error:
            failed = True
            print(f"error: {backend.display_name}: {printable(error.summary)}", file=ctx.err)
    if ctx.args.json:
        ctx.print_json([_summary_data(m) for m in machines])
    elif not backends:
        print("No hypervisor backend is available here; `desktopvm-cli backends` says why.",
              file=ctx.err)
    elif machines:
        rows = [(m.backend, printable(m.name), m.state.value, m.os, str(m.cpus),
                 f"{m.memory_mib} MiB", m.id)
                for m in sorted(machines, key=lambda m: (m.backend, m.name.lower()))]
        ctx.print(table(rows, ("BACKEND", "NAME", "STATE", "OS", "CPUS", "MEMORY", "ID")))
    return EXIT_FAILED if failed else EXIT_OK


def show_command(ctx: Context) -> int:
    """`show VM`."""
    backend, summary = ctx.machine(ctx.args.vm)
    info = backend.get_machine(summary.id)
    if ctx.args.json:
        ctx.print_json({
            **_summary_data(info.summary),
            "spec": spec_to_data(info.spec),
            "snapshots": [asdict(s) for s in info.snapshots],
            "current_snapshot": info.current_snapshot,
            "guest_addresses": list(info.guest_addresses),
            "files": list(info.files),
            "log": info.log,
        })
        return EXIT_OK
    ctx.print(f"Backend:   {backend.display_name} on {info.summary.host}")
    ctx.print(f"Id:        {info.summary.id}")
    ctx.print(f"State:     {info.state.value}")
    if info.log:
        ctx.print(f"Log:       {info.log}")
    describe_spec(ctx, info.spec)
    for root in info.snapshots:
        for snapshot in root.walk():
            marker = " (current)" if snapshot.id == info.current_snapshot else ""
            ctx.print(f"Snapshot:  {printable(snapshot.name)}{marker}")
    return EXIT_OK


def start_command(ctx: Context) -> int:
    """`start VM [--headless]`."""
    backend, summary = ctx.machine(ctx.args.vm)
    backend.start(summary.id, mode=StartMode.HEADLESS if ctx.args.headless else StartMode.GUI)
    ctx.print(f"{printable(summary.name)}: started")
    return EXIT_OK


def lifecycle_command(ctx: Context) -> int:
    """`shutdown|poweroff|reset|pause|resume VM`."""
    method, done = LIFECYCLE[ctx.args.operation]
    backend, summary = ctx.machine(ctx.args.vm)
    if method == "power_off" and summary.state is PowerState.SAVED:
        done = "saved state discarded; powered off"  # what power_off does to a saved machine
    getattr(backend, method)(summary.id)
    ctx.print(f"{printable(summary.name)}: {done}")
    return EXIT_OK


def save_command(ctx: Context) -> int:
    """`save VM`."""
    backend, summary = ctx.machine(ctx.args.vm)
    run_cancellable(ctx, lambda p, c: backend.save_state(summary.id, progress=p, cancel=c))
    ctx.print(f"{printable(summary.name)}: state saved")
    return EXIT_OK


def delete_command(ctx: Context) -> int:
    """`delete VM`: asks first (or needs --yes); disks stay unless --delete-disks."""
    backend, summary = ctx.machine(ctx.args.vm)
    if not ctx.args.yes:
        what = "and its disk files " if ctx.args.delete_disks else ""
        if not confirm(ctx, f"Delete {printable(summary.name)} {what}({backend.display_name})?"):
            print("not deleted (use --yes to skip this question)", file=ctx.err)
            return EXIT_USAGE
    run_cancellable(ctx, lambda p, c: backend.delete(
        summary.id, delete_disks=ctx.args.delete_disks, progress=p, cancel=c))
    kept = "" if ctx.args.delete_disks else " (disks kept)"
    ctx.print(f"{printable(summary.name)}: deleted{kept}")
    return EXIT_OK


def clone_command(ctx: Context) -> int:
    """`clone VM NEW [--linked]`."""
    backend, summary = ctx.machine(ctx.args.vm)
    require_name(backend, ctx.args.new_name)
    new_id = run_cancellable(ctx, lambda p, c: backend.clone(
        summary.id, ctx.args.new_name, linked=ctx.args.linked, snapshot_id=ctx.args.snapshot,
        progress=p, cancel=c))
    ctx.print(f"cloned {printable(summary.name)} to {printable(ctx.args.new_name)} ({new_id})")
    return EXIT_OK


def export_command(ctx: Context) -> int:
    """`export VM PATH`."""
    backend, summary = ctx.machine(ctx.args.vm)
    if ctx.args.path.exists():
        raise UsageError(f"{ctx.args.path} already exists; export will not overwrite it")
    run_cancellable(ctx, lambda p, c: backend.export(summary.id, ctx.args.path, progress=p,
                                                     cancel=c))
    ctx.print(f"exported {printable(summary.name)} to {printable(str(ctx.args.path))}")
    return EXIT_OK


def import_command(ctx: Context) -> int:
    """`import PATH [--backend B] [--name N]`."""
    if not ctx.args.path.exists():
        raise UsageError(f"{ctx.args.path}: no such file")
    if ctx.args.backend:
        backend = ctx.registry.open(ctx.args.backend)
    else:
        available = ctx.registry.available()
        if not available:
            raise UsageError("no backend is available to import into")
        backend = available[0]
    if ctx.args.name:
        require_name(backend, ctx.args.name)
    new_id = run_cancellable(ctx, lambda p, c: backend.import_machine(
        ctx.args.path, name=ctx.args.name, progress=p, cancel=c))
    ctx.print(f"imported {printable(str(ctx.args.path))} into {backend.name} ({new_id})")
    return EXIT_OK
