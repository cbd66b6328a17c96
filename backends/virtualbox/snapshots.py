"""Snapshots: the tree from `snapshot list --machinereadable`, take, restore, delete.

Snapshots are addressed by UUID: their names are not unique (Packer's test data has two
"Snapshot 2").
"""

from __future__ import annotations

from backends.virtualbox.execution import LONG_TIMEOUT
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.parse import find_uuid_after, parse_machine_readable, parse_snapshot_tree
from backends.virtualbox.reader import with_settings_facts
from backends.virtualbox.settingsfile import read_settings_file
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    PowerState,
    Progress,
    Snapshot,
)

NO_SNAPSHOTS = "does not have any snapshots"


def list_tree(inventory: Inventory, uuid: str) -> tuple[tuple[Snapshot, ...], str]:
    """(root snapshots, current snapshot id); one call, plus the .vbox file for times."""
    result = inventory.vbox.run(["snapshot", uuid, "list", "--machinereadable"], check=False)
    if NO_SNAPSHOTS in result.stdout + result.stderr:
        return (), ""
    inventory.vbox.raise_for(result)
    roots, current = parse_snapshot_tree(parse_machine_readable(result.stdout))
    settings_file = inventory.settings_file(uuid)
    if settings_file:
        roots = with_settings_facts(roots, read_settings_file(settings_file))
    return roots, current


def _find(roots: tuple[Snapshot, ...], snapshot_id: str) -> Snapshot | None:
    wanted = snapshot_id.strip().lower()
    return next((s for root in roots for s in root.walk() if s.id == wanted), None)


def require_snapshot(inventory: Inventory, uuid: str, snapshot_id: str) -> Snapshot:
    snapshot = _find(list_tree(inventory, uuid)[0], snapshot_id)
    if snapshot is None:
        raise MachineNotFound(f"No snapshot {snapshot_id} on this machine")
    return snapshot


def take(inventory: Inventory, machine_id: str, name: str, description: str, *,
         include_memory: bool, progress: Progress, cancel: CancelToken) -> Snapshot:
    """`snapshot take`; `--live` keeps a running machine running while its memory is saved.

    VirtualBox always includes the memory of a running machine (its API has no switch for
    it), so `include_memory` only chooses between a live and a pausing snapshot.
    """
    record = inventory.record(machine_id)
    argv = ["snapshot", record.uuid, "take", name]
    if description:
        argv.append(f"--description={description}")
    if record.state is PowerState.RUNNING and include_memory:
        argv.append("--live")
    result = inventory.vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel,
                              on_progress=lambda f, _run: progress(f, "Taking a snapshot"))
    inventory.forget(record.uuid)
    snapshot_id = find_uuid_after("UUID:", result.stdout)
    roots, _ = list_tree(inventory, record.uuid)
    taken = _find(roots, snapshot_id) if snapshot_id else None
    if taken is None:
        raise CommandFailed("VirtualBox took a snapshot but did not say its id",
                            command=argv, stderr=result.stderr, details=result.stdout)
    return Snapshot(taken.id, taken.name, taken.description, taken.created,
                    taken.has_memory or record.state.is_active)


def restore(inventory: Inventory, machine_id: str, snapshot_id: str, *,
            progress: Progress, cancel: CancelToken) -> None:
    """`snapshot restore <uuid>` (the machine must not be running)."""
    record = inventory.record(machine_id)
    if record.state.is_active:  # VirtualBox restores only a machine that is not running
        raise InvalidState(f"Power off {record.spec.name} before restoring a snapshot")
    snapshot = require_snapshot(inventory, record.uuid, snapshot_id)
    inventory.vbox.run(["snapshot", record.uuid, "restore", snapshot.id], timeout=LONG_TIMEOUT,
                     cancel=cancel, on_progress=lambda f, _run: progress(f, "Restoring"))
    inventory.forget(record.uuid)


def delete(inventory: Inventory, machine_id: str, snapshot_id: str, *,
           progress: Progress, cancel: CancelToken) -> None:
    """`snapshot delete <uuid>` (merges its disks; works on running machines too)."""
    uuid = inventory.record(machine_id).uuid
    snapshot = require_snapshot(inventory, uuid, snapshot_id)
    inventory.vbox.run(["snapshot", uuid, "delete", snapshot.id], timeout=LONG_TIMEOUT,
                     cancel=cancel, on_progress=lambda f, _run: progress(f, "Deleting snapshot"))
    inventory.forget(uuid)
