"""`desktopvm-cli set`, `edit`, `spec get` and `spec apply`: change a machine as Settings does.

Every change is applied with `backend.update(old, new)`, where `old` is the spec read before the
edit: only the groups that differ are applied, so a change made elsewhere meanwhile is kept.
Problems in the changed groups stop the change before anything is applied; problems in parts
the edit did not touch are shown as warnings (a missing ISO should not block renaming).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from desktopvm.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
    confirm,
    parse_size,
    require_name,
    run_cancellable,
)
from desktopvm.cli.spec_commands import print_problems
from desktopvm.model import (
    MachineSpec,
    Severity,
    SpecFileError,
    changed_groups,
    load_spec,
    printable,
    validate,
)
from desktopvm.model.specfile import spec_to_data, spec_to_json
from desktopvm.protocol import Backend, InvalidSpec, MachineSummary


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                spec_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `set`, `edit`, `spec get` and `spec apply`."""
    change = sub.add_parser("set", help="change common settings of a machine",
                            description="Change common settings; only what you name changes. "
                            "Hardware changes need the machine off (see `edit` for the rest).")
    change.add_argument("vm")
    change.add_argument("--name", help="a new name")
    change.add_argument("--notes", help="new notes (replaces them)")
    change.add_argument("--cpus", type=int, help="number of virtual CPUs")
    change.add_argument("--memory", help="e.g. 4G or 4096M (plain numbers are MiB)")
    media = change.add_mutually_exclusive_group()
    media.add_argument("--iso", type=Path, help="put this ISO in the first optical drive")
    media.add_argument("--eject", action="store_true", help="empty the first optical drive")
    change.set_defaults(handler=set_command)

    edit = sub.add_parser("edit", help="edit a machine's spec in $EDITOR, then apply the changes",
                          description="Opens the machine's spec (JSON) in $VISUAL or $EDITOR. "
                          "When you save and quit, it is checked and only what you changed is "
                          "applied; an invalid edit can be edited again or abandoned, and then "
                          "nothing changes.")
    edit.add_argument("vm")
    edit.set_defaults(handler=edit_command)

    get = spec_sub.add_parser("get", help="print a machine's spec file")
    get.add_argument("vm")
    get.add_argument("-o", "--output", type=Path, help="write it to this file instead")
    get.set_defaults(handler=get_command)
    apply = spec_sub.add_parser("apply", help="apply a spec file to a machine (changes only)")
    apply.add_argument("vm")
    apply.add_argument("file", type=Path)
    apply.add_argument("--dry-run", action="store_true", help="say what would change; change "
                       "nothing")
    apply.set_defaults(handler=apply_command)


def group_of(field: str) -> str:
    """The spec group a problem field belongs to: 'network[1].mac' -> 'network'."""
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def check_change(ctx: Context, backend: Backend, machine: MachineSummary, old: MachineSpec,
                 new: MachineSpec, *, source: str) -> set[str]:
    """The changed groups; every problem printed; InvalidSpec when a changed group has an
    error or the new name is refused (nothing applied then)."""
    changed = changed_groups(old, new)
    if not changed:
        return changed
    if "name" in changed:
        try:
            require_name(backend, new.name, renaming=machine.id)
        except InvalidSpec as refused:
            print_problems(ctx, refused.problems, source)
            raise
    problems = validate(new, backend.capabilities(), check_paths=backend.host == "localhost")
    blocking = [p for p in problems if p.severity is Severity.ERROR and group_of(p.field)
                in changed]
    shown = [p if p in blocking or p.severity is not Severity.ERROR else
             p.model_copy(update={"severity": Severity.WARNING}) for p in problems]
    print_problems(ctx, shown, source)
    if blocking:
        raise InvalidSpec(blocking)
    return changed


def apply_change(ctx: Context, backend: Backend, machine: MachineSummary, old: MachineSpec,
                 new: MachineSpec, *, source: str) -> int:
    """Check, then `update(old, new)`; says what changed."""
    changed = check_change(ctx, backend, machine, old, new, source=source)
    name = printable(machine.name)
    if not changed:
        ctx.print(f"{name}: nothing to change")
        return EXIT_OK
    run_cancellable(ctx, lambda p, c: backend.update(machine.id, old, new, progress=p, cancel=c))
    ctx.print(f"{name}: changed {', '.join(sorted(changed))}")
    return EXIT_OK


def _with_iso(spec: MachineSpec, iso: str) -> MachineSpec:
    """`spec` whose first optical drive holds `iso` ('' empties it)."""
    storage = list(spec.storage)
    for index, controller in enumerate(storage):
        if controller.optical:
            first = controller.optical[0].model_copy(update={"iso": iso})
            storage[index] = controller.model_copy(
                update={"optical": (first, *controller.optical[1:])})
            return spec.model_copy(update={"storage": tuple(storage)})
    raise UsageError(f"{printable(spec.name)} has no optical drive; add one with "
                     "`desktopvm-cli edit`")


def set_command(ctx: Context) -> int:
    """`set VM --name/--notes/--cpus/--memory/--iso/--eject`."""
    args = ctx.args
    if all(v is None for v in (args.name, args.notes, args.cpus, args.memory, args.iso)) \
            and not args.eject:
        raise UsageError("say what to change: --name, --notes, --cpus, --memory, --iso or "
                         "--eject")
    backend, machine = ctx.machine(args.vm)
    old = backend.get_machine(machine.id).spec
    update: dict[str, object] = {}
    if args.name is not None:
        update["name"] = args.name
    if args.notes is not None:
        update["notes"] = args.notes
    if args.cpus is not None:
        update["cpu"] = old.cpu.model_copy(update={"count": args.cpus})
    if args.memory is not None:
        mib = parse_size(args.memory, "M") // 1024**2
        update["memory"] = old.memory.model_copy(update={"size_mib": mib})
    new = old.model_copy(update=update)
    if args.iso is not None:
        new = _with_iso(new, str(args.iso.expanduser().resolve()))
    elif args.eject:
        new = _with_iso(new, "")
    return apply_change(ctx, backend, machine, old, new, source=printable(machine.name))


def get_command(ctx: Context) -> int:
    """`spec get VM [-o FILE]`."""
    backend, machine = ctx.machine(ctx.args.vm)
    spec = backend.get_machine(machine.id).spec
    if ctx.args.output:
        ctx.args.output.write_text(spec_to_json(spec), encoding="utf-8")
        ctx.print(f"wrote {printable(str(ctx.args.output))}")
    else:
        ctx.print_json(spec_to_data(spec))
    return EXIT_OK


def apply_command(ctx: Context) -> int:
    """`spec apply VM FILE [--dry-run]`."""
    new = load_spec(ctx.args.file)
    backend, machine = ctx.machine(ctx.args.vm)
    old = backend.get_machine(machine.id).spec
    if ctx.args.dry_run:
        changed = check_change(ctx, backend, machine, old, new, source=str(ctx.args.file))
        ctx.print(f"{printable(machine.name)}: would change {', '.join(sorted(changed))}"
                  if changed else f"{printable(machine.name)}: nothing to change")
        return EXIT_OK
    return apply_change(ctx, backend, machine, old, new, source=str(ctx.args.file))


# -- edit ------------------------------------------------------------------------------------
def editor_command() -> list[str]:
    """$VISUAL or $EDITOR split into words; else Notepad on Windows, vi elsewhere."""
    chosen = os.environ.get("VISUAL") or os.environ.get("EDITOR") or \
        ("notepad" if sys.platform == "win32" else "vi")
    words = shlex.split(chosen, posix=sys.platform != "win32")
    if not words:
        raise UsageError("$EDITOR is empty")
    return words


def run_editor(path: Path) -> int:
    """The one door to the user's editor: run it on `path` in this terminal and wait."""
    words = editor_command()
    program = shutil.which(words[0])
    if program is None:
        raise UsageError(f"the editor {words[0]!r} was not found; set $EDITOR")
    # The user's own editor, by argv (no shell), waited for: it owns the terminal meanwhile.
    return os.spawnv(os.P_WAIT, program, [program, *words[1:], str(path)])  # noqa: S606


def edit_command(ctx: Context) -> int:
    """`edit VM`: the spec in $EDITOR; checked; applied as a diff. An edit that cannot be read
    or has errors in what changed is offered again (on a terminal) or abandoned."""
    backend, machine = ctx.machine(ctx.args.vm)
    old = backend.get_machine(machine.id).spec
    with tempfile.TemporaryDirectory(prefix="desktopvm-edit-") as folder:
        path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', machine.name)[:40]}.json"
        path.write_text(spec_to_json(old), encoding="utf-8")
        while True:
            code = run_editor(path)
            if code != 0:
                print(f"the editor exited with code {code}; nothing changed", file=ctx.err)
                return EXIT_USAGE
            try:
                new = load_spec(path)
                changed = check_change(ctx, backend, machine, old, new, source="edit")
            except SpecFileError as error:
                print(f"error: {printable(str(error).replace(str(path), 'edit'))}",
                      file=ctx.err)
            except InvalidSpec:
                pass  # check_change printed the problems
            else:
                break
            if not confirm(ctx, "Edit again?"):
                print("nothing changed", file=ctx.err)
                return EXIT_USAGE
    name = printable(machine.name)
    if not changed:
        ctx.print(f"{name}: nothing to change")
        return EXIT_OK
    run_cancellable(ctx, lambda p, c: backend.update(machine.id, old, new, progress=p, cancel=c))
    ctx.print(f"{name}: changed {', '.join(sorted(changed))}")
    return EXIT_OK

