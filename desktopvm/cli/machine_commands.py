"""`desktopvm-cli` machine commands: inventory, lifecycle, delete, clone, export, import."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from desktopvm.cli import unattended_commands
from desktopvm.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
    confirm,
    connection_for,
    require_name,
    run_cancellable,
    table,
    target_backend,
)
from desktopvm.cli.spec_commands import describe_spec
from desktopvm.connections import State, is_remote, kind_of
from desktopvm.model import printable
from desktopvm.model.specfile import spec_to_data
from desktopvm.protocol import BackendError, MachineSummary, PowerState, StartMode
from desktopvm.registry import Listing
from desktopvm.transfer.packages import PACKAGE_SUFFIXES, import_package

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

    listing = sub.add_parser("list", help="all machines of all backends and added hosts")
    listing.add_argument("--backend", help="only this backend or connection id")
    listing.add_argument("--host", help="only this added host (id, address or label)")
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
    imported.add_argument("--backend", help="a local backend or a connection id (default: "
                          "the first backend usable on this computer)")
    imported.add_argument("--host", help="import into this added host (id, address or label)")
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


def _summary_data(m: MachineSummary, connection: str = "") -> dict[str, object]:
    return {"connection": connection or m.backend, "backend": kind_of(m.backend),
            "host": m.host, "id": m.id, "name": m.name, "state": m.state.value, "os": m.os,
            "cpus": m.cpus, "memory_mib": m.memory_mib,
            **({"problem": m.problem} if m.problem else {})}


def list_command(ctx: Context) -> int:
    """`list`: one row per machine of every connection (local backends and added hosts); a
    connection that does not answer gets one line on stderr and the others are still listed.
    Exit 0 when at least one connection answered (or there was none to ask), 1 when none did."""
    if ctx.args.backend or ctx.args.host:
        name = connection_for(ctx, ctx.args.backend, ctx.args.host)
        try:
            listing = Listing({name: ctx.registry.list_machines(name)}, {})
        except BackendError as failure:
            listing = Listing({}, {name: failure})
    else:
        listing = ctx.registry.list_everything()
    rows = [(name, m) for name, machines in listing.machines.items() for m in machines]
    order = {name: index for index, name in enumerate(ctx.registry.names())}
    rows.sort(key=lambda r: (is_remote(r[0]), order.get(r[0], len(order)), r[0],
                             r[1].name.lower()))
    for name, error in listing.failures.items():
        print(f"{name}: {_failure_line(ctx, name, error)}", file=ctx.err)
    for name, machines in listing.machines.items():
        unattended_commands.sweep(ctx, ctx.registry.open(name), machines)
    for name, machine in rows:  # listed, but the backend cannot read it: say why
        if machine.problem:
            print(f"{name}:{machine.id}: {printable(machine.problem)}", file=ctx.err)
    if ctx.args.json:
        ctx.print_json({
            "machines": [_summary_data(m, name) for name, m in rows],
            "failures": [{"connection": name, "state": _failure_state(ctx, name),
                          "error": error.summary}
                         for name, error in listing.failures.items()]})
    elif not listing.machines and not listing.failures:
        print("No hypervisor backend is available here; `desktopvm-cli backends` says why.",
              file=ctx.err)
    elif rows:
        table_rows = [(name if is_remote(name) else "local", kind_of(name), printable(m.name),
                       m.state.value, m.os, str(m.cpus), f"{m.memory_mib} MiB", m.id)
                      for name, m in rows]
        ctx.print(table(table_rows, ("HOST", "BACKEND", "NAME", "STATE", "OS", "CPUS",
                                     "MEMORY", "ID")))
    return EXIT_FAILED if listing.failures and not listing.machines else EXIT_OK


def _failure_state(ctx: Context, name: str) -> str:
    """A remote host's state ('unreachable', 'authentication failed', …) when it did not
    answer; 'failed' for a local backend, or a host that answered but failed the request."""
    state = ctx.registry.monitor.status(name).state
    if not is_remote(name) or state in (State.CONNECTED, State.CONNECTING):
        return "failed"
    return str(state.value)


def _failure_line(ctx: Context, name: str, error: BackendError) -> str:
    """'unreachable: Cannot reach WinRM on hv01' (a host's state first, when it has one)."""
    state, summary = _failure_state(ctx, name), printable(error.summary)
    return summary if state == "failed" or state in summary else f"{state}: {summary}"


def show_command(ctx: Context) -> int:
    """`show VM`."""
    backend, summary = ctx.machine(ctx.args.vm)
    unattended_commands.sweep(ctx, backend, [summary])
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
            "first_boot": unattended_commands.first_boot(backend, summary.id),
        })
        return EXIT_OK
    if is_remote(backend.name):  # the connection id is what CONNECTION:NAME references use
        ctx.print(f"Host:      {backend.name} ({printable(backend.display_name)})")
    else:
        ctx.print(f"Backend:   {backend.display_name} on {info.summary.host}")
    ctx.print(f"Id:        {info.summary.id}")
    ctx.print(f"State:     {info.state.value}")
    if first_boot := unattended_commands.first_boot(backend, summary.id):
        ctx.print(f"First boot: {first_boot} (once; then from the disk)")
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
    unattended_commands.start(ctx, backend, summary,
                              StartMode.HEADLESS if ctx.args.headless else StartMode.GUI)
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
    # On a remote host PATH is the host's own (Export-VM refuses an export already there).
    if backend.host == "localhost" and ctx.args.path.exists():
        raise UsageError(f"{ctx.args.path} already exists; export will not overwrite it")
    run_cancellable(ctx, lambda p, c: backend.export(summary.id, ctx.args.path, progress=p,
                                                     cancel=c))
    ctx.print(f"exported {printable(summary.name)} to {printable(str(ctx.args.path))}")
    return EXIT_OK


def import_command(ctx: Context) -> int:
    """`import PATH [--backend B | --host H] [--name N]`. An OVA/OVF package is read here
    (onto Hyper-V, which reads no OVF, its disks are converted and copied there); a
    hypervisor's own export on a remote host is a path on that host (it says itself when
    there is nothing there)."""
    backend = target_backend(ctx, ctx.args.backend, ctx.args.host)
    package = ctx.args.path.suffix.lower() in PACKAGE_SUFFIXES
    if (backend.host == "localhost" or package) and not ctx.args.path.exists():
        raise UsageError(f"{ctx.args.path}: no such file")
    if ctx.args.name:
        require_name(backend, ctx.args.name)
    new_id = run_cancellable(ctx, lambda p, c: import_package(
        ctx.args.path, backend, name=ctx.args.name, progress=p, cancel=c))
    ctx.print(f"imported {printable(str(ctx.args.path))} into {backend.name} ({new_id})")
    return EXIT_OK
