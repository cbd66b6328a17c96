"""Snapshots (tree from `snapshot list --machinereadable`, take, restore, delete) and clones.

Snapshots are addressed by UUID: their names are not unique (Packer's test data has two
"Snapshot 2"). A linked clone needs a snapshot to hang from; without one given, a snapshot
named after the clone is taken first, as Vagrant does for its linked clones.
"""

from __future__ import annotations

import uuid as uuids
from typing import TYPE_CHECKING

from backends.virtualbox.execution import LONG_TIMEOUT, remove_machine
from backends.virtualbox.parse import (
    find_uuid_after,
    parse_machine_readable,
    parse_snapshot_tree,
    parse_vm_list,
)
from backends.virtualbox.reader import with_settings_facts
from backends.virtualbox.settingsfile import read_settings_file
from desktopvm.model import name_problems
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidSpec,
    InvalidState,
    MachineNotFound,
    PowerState,
    Progress,
    Snapshot,
)

if TYPE_CHECKING:
    from backends.virtualbox.backend import VirtualBoxBackend

NO_SNAPSHOTS = "does not have any snapshots"
ACTIVE = {PowerState.RUNNING, PowerState.PAUSED, PowerState.STARTING, PowerState.STOPPING}


def list_tree(backend: VirtualBoxBackend, uuid: str) -> tuple[tuple[Snapshot, ...], str]:
    """(root snapshots, current snapshot id); one call, plus the .vbox file for times."""
    result = backend.vbox.run(["snapshot", uuid, "list", "--machinereadable"], check=False)
    if NO_SNAPSHOTS in result.stdout + result.stderr:
        return (), ""
    backend.vbox.raise_for(result)
    roots, current = parse_snapshot_tree(parse_machine_readable(result.stdout))
    settings_file = backend.inventory.settings_file(uuid)
    if settings_file:
        roots = with_settings_facts(roots, read_settings_file(settings_file))
    return roots, current


def _find(roots: tuple[Snapshot, ...], snapshot_id: str) -> Snapshot | None:
    wanted = snapshot_id.strip().lower()
    return next((s for root in roots for s in root.walk() if s.id == wanted), None)


def _require_snapshot(backend: VirtualBoxBackend, uuid: str, snapshot_id: str) -> Snapshot:
    snapshot = _find(list_tree(backend, uuid)[0], snapshot_id)
    if snapshot is None:
        raise MachineNotFound(f"No snapshot {snapshot_id} on this machine")
    return snapshot


def take(backend: VirtualBoxBackend, machine_id: str, name: str, description: str, *,
         include_memory: bool, progress: Progress, cancel: CancelToken) -> Snapshot:
    """`snapshot take`; `--live` keeps a running machine running while its memory is saved.

    VirtualBox always includes the memory of a running machine (its API has no switch for
    it), so `include_memory` only chooses between a live and a pausing snapshot.
    """
    record = backend.record(machine_id)
    argv = ["snapshot", record.uuid, "take", name]
    if description:
        argv.append(f"--description={description}")
    if record.state is PowerState.RUNNING and include_memory:
        argv.append("--live")
    result = backend.vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel,
                              on_progress=lambda f, _run: progress(f, "Taking a snapshot"))
    backend.inventory.forget(record.uuid)
    snapshot_id = find_uuid_after("UUID:", result.stdout)
    roots, _ = list_tree(backend, record.uuid)
    taken = _find(roots, snapshot_id) if snapshot_id else None
    if taken is None:
        raise CommandFailed("VirtualBox took a snapshot but did not say its id",
                            command=argv, stderr=result.stderr, details=result.stdout)
    return Snapshot(taken.id, taken.name, taken.description, taken.created,
                    taken.has_memory or record.state in ACTIVE)


def restore(backend: VirtualBoxBackend, machine_id: str, snapshot_id: str, *,
            progress: Progress, cancel: CancelToken) -> None:
    """`snapshot restore <uuid>` (the machine must not be running)."""
    record = backend.record(machine_id)
    if record.state in ACTIVE:
        raise InvalidState(f"Power off {record.spec.name} before restoring a snapshot")
    snapshot = _require_snapshot(backend, record.uuid, snapshot_id)
    backend.vbox.run(["snapshot", record.uuid, "restore", snapshot.id], timeout=LONG_TIMEOUT,
                     cancel=cancel, on_progress=lambda f, _run: progress(f, "Restoring"))
    backend.inventory.forget(record.uuid)


def delete(backend: VirtualBoxBackend, machine_id: str, snapshot_id: str, *,
           progress: Progress, cancel: CancelToken) -> None:
    """`snapshot delete <uuid>` (merges its disks; works on running machines too)."""
    uuid = backend.record(machine_id).uuid
    snapshot = _require_snapshot(backend, uuid, snapshot_id)
    backend.vbox.run(["snapshot", uuid, "delete", snapshot.id], timeout=LONG_TIMEOUT,
                     cancel=cancel, on_progress=lambda f, _run: progress(f, "Deleting snapshot"))
    backend.inventory.forget(uuid)


def clone(backend: VirtualBoxBackend, machine_id: str, new_name: str, *, linked: bool,
          snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """`clonevm --register` with our UUID; linked clones hang from a snapshot."""
    problems = name_problems(new_name, backend.capabilities())
    if problems:
        raise InvalidSpec(problems)  # before anything is made: the one naming rule
    record = backend.record(machine_id)
    base = snapshot_id
    if snapshot_id:
        base = _require_snapshot(backend, record.uuid, snapshot_id).id
    elif linked:
        progress(0.05, "Taking the snapshot the clone is linked to")
        base = take(backend, record.uuid, f"Base of {new_name}", "", include_memory=False,
                    progress=lambda f, s: None, cancel=cancel).id
    new_id = str(uuids.uuid4())
    argv = ["clonevm", record.uuid, f"--name={new_name}", f"--uuid={new_id}", "--register"]
    if base:
        argv.append(f"--snapshot={base}")
    argv.append("--options=link" if linked else "--mode=machine")
    try:
        backend.vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel,
                         on_progress=lambda f, _run: progress(0.1 + 0.9 * f, "Cloning"))
    except BaseException:
        if new_id in registered_ids(backend):
            remove_machine(backend.vbox, new_id)
        raise
    backend.inventory.forget(record.uuid)
    progress(1.0, "Cloned")
    return new_id


def registered_ids(backend: VirtualBoxBackend) -> set[str]:
    """The ids of the registered machines (for cleanup after a failed clone or import)."""
    result = backend.vbox.run(["list", "vms"], check=False)
    return {uuid for _, uuid in parse_vm_list(result.stdout)}
