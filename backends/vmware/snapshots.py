"""Snapshots: the tree from the .vmsd; take, revert and delete through vmrun by name.

vmrun addresses snapshots by name only (`snapshot`, `revertToSnapshot`, `deleteSnapshot
<vmx> <name> [andDeleteChildren]`; research §A.4 "ambiguous if duplicated"), so a name that
is already taken is refused, and a snapshot whose name is shared cannot be reverted or
deleted from here. A `/` in a name is refused too: VIX reads `a/b` as the snapshot `b` under
`a` [unverified: VIX's VixVM_GetNamedSnapshot documentation, not read here]. The tree, the
current snapshot and the creation times come from the .vmsd (vmsd.py).
"""

from __future__ import annotations

from backends.vmware import vmsd
from backends.vmware.inventory import Inventory, Record
from backends.vmware.vmrun import START_TIMEOUT
from desktopvm.model import name_problems
from desktopvm.protocol import (
    CancelToken,
    InvalidSpec,
    InvalidState,
    MachineNotFound,
    Progress,
    Snapshot,
    UnsupportedOperation,
)
from desktopvm.protocol.states import Operation, require


def require_snapshots(inventory: Inventory) -> None:
    """Player has no snapshots (VIX: not supported with the Player host type)."""
    if inventory.library.installation.product == "player":
        raise UnsupportedOperation("VMware Workstation Player has no snapshots")


def list_tree(inventory: Inventory, record: Record) -> tuple[tuple[Snapshot, ...], str]:
    """(root snapshots, the current snapshot's id) from the .vmsd."""
    entries, current = vmsd.read(record.vmx)
    return vmsd.tree(entries, record.vmx.parent), current


def find(record: Record, snapshot_id: str) -> vmsd.Entry:
    entries, _ = vmsd.read(record.vmx)
    found = [e for e in entries if e.uid == snapshot_id]
    if not found:
        raise MachineNotFound(f"{record.name} has no snapshot {snapshot_id!r}")
    if sum(1 for e in entries if e.name == found[0].name) > 1:
        raise UnsupportedOperation(
            f"{record.name} has more than one snapshot named {found[0].name!r}; vmrun finds "
            "snapshots by name only: rename one of them in VMware first")
    return found[0]


def check_name(record: Record, name: str) -> None:
    """InvalidSpec for a name vmrun could not address (taken, with '/', or bad)."""
    from desktopvm.model import Problem, Severity

    problems = [p for p in name_problems(name) if p.severity is Severity.ERROR]
    entries, _ = vmsd.read(record.vmx)
    if "/" in name:
        problems.append(Problem(field="name", severity=Severity.ERROR,
                                message="vmrun reads '/' in a snapshot name as a path"))
    if any(e.name == name for e in entries):
        problems.append(Problem(field="name", severity=Severity.ERROR,
                                message=f"{record.name} already has a snapshot named {name!r}"))
    if problems:
        raise InvalidSpec(problems)


def take(inventory: Inventory, machine_id: str, name: str, description: str, *,
         include_memory: bool, progress: Progress, cancel: CancelToken) -> Snapshot:
    """`vmrun snapshot` (with memory when the machine runs: vmrun always includes it then)."""
    require_snapshots(inventory)
    record = inventory.record(machine_id)
    require(Operation.TAKE_SNAPSHOT, record.state, record.name)
    check_name(record, name)
    if not include_memory and record.state.is_active:
        raise UnsupportedOperation("vmrun always saves the memory of a running machine in its "
                                   "snapshot: power it off for a snapshot without memory")
    cancel.raise_if_cancelled()
    progress(None, "Taking the snapshot")
    inventory.vmrun.run("snapshot", str(record.vmx), name, timeout=START_TIMEOUT,
                        cancel=cancel, what=record.name)
    entries, current = vmsd.read(record.vmx)
    made = next((e for e in entries if e.uid == current and e.name == name), None) or next(
        (e for e in reversed(entries) if e.name == name), None)
    if made is None:
        raise InvalidState(f"vmrun took the snapshot {name!r} but {record.name}'s .vmsd does "
                           "not list it")
    if description:
        _describe(record, made, description)
    progress(1.0, "Snapshot taken")
    return Snapshot(made.uid, made.name, description, made.created)


def _describe(record: Record, entry: vmsd.Entry, description: str) -> None:
    """vmrun cannot describe a snapshot: the .vmsd gets it (while nothing holds the lock)."""
    from backends.vmware.vmx import VmxDocument, lock_folders, save

    if lock_folders(record.vmx):
        return  # VMware has the machine open; the description would be overwritten
    path = vmsd.vmsd_path(record.vmx)
    document = VmxDocument.read(path)
    for key in document.all_keys():
        if key.endswith(".uid") and document.get(key) == entry.uid:
            document.set(key[:-len("uid")] + "description", description)
    save(path, document, name=record.name)


def restore(inventory: Inventory, machine_id: str, snapshot_id: str, *, progress: Progress,
            cancel: CancelToken) -> None:
    """`vmrun revertToSnapshot` by the snapshot's (unique) name."""
    require_snapshots(inventory)
    record = inventory.record(machine_id)
    require(Operation.RESTORE_SNAPSHOT, record.state, record.name)
    entry = find(record, snapshot_id)
    progress(None, f"Restoring {entry.name}")
    inventory.vmrun.run("revertToSnapshot", str(record.vmx), entry.name, timeout=START_TIMEOUT,
                        cancel=cancel, what=record.name)
    progress(1.0, "Restored")


def delete(inventory: Inventory, machine_id: str, snapshot_id: str, *, progress: Progress,
           cancel: CancelToken, with_children: bool = False) -> None:
    """`vmrun deleteSnapshot` (its children are kept unless `with_children`)."""
    require_snapshots(inventory)
    record = inventory.record(machine_id)
    require(Operation.DELETE_SNAPSHOT, record.state, record.name)
    entry = find(record, snapshot_id)
    progress(None, f"Deleting {entry.name}")
    args = [str(record.vmx), entry.name] + (["andDeleteChildren"] if with_children else [])
    inventory.vmrun.run("deleteSnapshot", *args, timeout=START_TIMEOUT, cancel=cancel,
                        what=record.name)
    progress(1.0, "Deleted")
