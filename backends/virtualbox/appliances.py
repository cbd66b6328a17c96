"""Export and import of OVF/OVA appliances with progress; failures leave nothing behind.

`import` prints two progress runs (reading the appliance, then copying its disks; Vagrant
waits for the `OK.` between them), so progress is split between the two runs. The imported
machine's UUID is found by comparing `list vms` before and after: `import` takes no --uuid.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from backends.virtualbox.execution import LONG_TIMEOUT, remove_machine
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.parse import parse_vm_list
from desktopvm.model import Capabilities, name_problems
from desktopvm.ovf import OvfError, check_appliance
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidSpec,
    Progress,
    UnsupportedOperation,
    states,
)
from desktopvm.protocol.states import Operation

FORMATS = (".ova", ".ovf")


def _files_in(folder: Path) -> set[Path]:
    try:
        return set(folder.iterdir())
    except OSError:
        return set()


def export(inventory: Inventory, machine_id: str, path: Path, *, progress: Progress,
           cancel: CancelToken) -> None:
    """`export --output=<file>.ova|.ovf --manifest`; a failed export removes its files."""
    if path.suffix.lower() not in FORMATS:
        raise UnsupportedOperation(f"VirtualBox exports .ova or .ovf files, not {path.name}")
    target = path.expanduser().resolve()
    if target.exists():
        raise CommandFailed(f"{target} already exists; choose another file name")
    record = inventory.record(machine_id)
    states.require(Operation.EXPORT, record.state, record.spec.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    before = _files_in(target.parent)
    try:
        inventory.vbox.run(["export", record.uuid, f"--output={target}", "--manifest"],
                         timeout=LONG_TIMEOUT, cancel=cancel,
                         on_progress=lambda f, _run: progress(f, "Exporting"))
    except BaseException:
        for leftover in _files_in(target.parent) - before:  # .ovf writes disks beside it
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    progress(1.0, "Exported")


def import_appliance(inventory: Inventory, capabilities: Capabilities, path: Path, name: str, *,
                     progress: Progress, cancel: CancelToken) -> str:
    """`import <file> [--vsys=0 --vmname=<name>]`; returns the new machine's UUID."""
    source = path.expanduser().resolve()
    if source.suffix.lower() not in FORMATS or not source.is_file():
        raise UnsupportedOperation(f"Not an .ova or .ovf file: {path}")
    problems = name_problems(name, capabilities) if name else []
    if problems:
        raise InvalidSpec(problems)  # before anything is made: the one naming rule
    try:
        # VBoxManage reads the package's disks itself: each must first pass the rules for
        # disks from outside (self-contained, the declared format, a member of the package).
        check_appliance(source)
    except OvfError as error:
        raise CommandFailed(f"Cannot import {path.name}: {error}", details=str(error)) from error
    before = inventory.registered_ids()
    argv = ["import", str(source)]
    if name:
        argv += ["--vsys=0", f"--vmname={name}"]

    def report(fraction: float, run: int) -> None:
        stage = "Reading the appliance" if run == 0 else "Importing disks"
        progress(0.1 * fraction if run == 0 else 0.1 + 0.9 * fraction, stage)

    try:
        result = inventory.vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel, on_progress=report)
    except BaseException:
        for new_id in inventory.registered_ids() - before:
            remove_machine(inventory.vbox, new_id)
        raise
    after = parse_vm_list(inventory.vbox.run(["list", "vms"]).stdout)
    new = [(vm_name, uuid) for vm_name, uuid in after if uuid not in before]
    chosen = [uuid for vm_name, uuid in new if not name or vm_name == name] or \
        [uuid for _, uuid in new]
    if not chosen:
        raise CommandFailed("VirtualBox imported the appliance but no new machine appeared",
                            command=argv, stderr=result.stderr, details=result.stdout)
    progress(1.0, "Imported")
    return chosen[0]
