"""The snapshot tree: take (with or without memory, quiesced), revert, delete."""

from __future__ import annotations

from backends.esxi import inventory, tasks
from backends.esxi.session import Session, vim
from desktopvm.protocol import (
    CancelToken,
    MachineNotFound,
    OperationCancelled,
    PowerState,
    Progress,
    Snapshot,
)


def tree(session: Session, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
    """The snapshot tree and the id of the current snapshot (one round trip)."""
    values = inventory.read(session, machine_id, ["name", "snapshot"])
    info = values.get("snapshot")
    if info is None:
        return (), ""
    current = info.currentSnapshot._moId if info.currentSnapshot else ""
    return inventory.snapshot_tree(info.rootSnapshotList), current


def find(session: Session, machine_id: str, snapshot_id: str) -> Snapshot:
    """The snapshot `snapshot_id` of this machine (MachineNotFound names what is missing)."""
    roots, _ = tree(session, machine_id)
    for root in roots:
        for node in root.walk():
            if node.id == snapshot_id:
                return node
    raise MachineNotFound(f"The machine has no snapshot {snapshot_id}")


def take(session: Session, machine_id: str, name: str, *, description: str,
         include_memory: bool, quiesce: bool = False, progress: Progress,
         cancel: CancelToken) -> Snapshot:
    """CreateSnapshot_Task; memory only when the machine runs (vSphere refuses it otherwise)."""
    state = inventory.state_of(inventory.read(session, machine_id, ["runtime.powerState"])
                               .get("runtime.powerState"))
    memory = include_memory and state is PowerState.RUNNING
    made = tasks.run_task(
        session, lambda si: inventory.vm(si, machine_id).CreateSnapshot_Task(
            name=name, description=description, memory=memory, quiesce=quiesce),
        progress=progress, cancel=cancel, stage=f"Taking the snapshot {name}")
    if cancel.cancelled:
        # The user cancelled while the task ran and the host finished it anyway (a snapshot
        # task may not stop once begun): the snapshot they no longer want is removed.
        tasks.run_task(session, lambda si: Session.bind(si, vim.vm.Snapshot, made._moId)
                       .RemoveSnapshot_Task(removeChildren=False), progress=progress,
                       cancel=CancelToken(), stage=f"Removing the cancelled snapshot {name}")
        raise OperationCancelled(f"Taking the snapshot {name}: cancelled")
    return find(session, machine_id, str(made._moId))


def restore(session: Session, machine_id: str, snapshot_id: str, *, progress: Progress,
            cancel: CancelToken) -> None:
    """RevertToSnapshot_Task."""
    find(session, machine_id, snapshot_id)
    tasks.run_task(session, lambda si: Session.bind(si, vim.vm.Snapshot, snapshot_id)
                   .RevertToSnapshot_Task(), progress=progress, cancel=cancel,
                   stage="Reverting to the snapshot")


def delete(session: Session, machine_id: str, snapshot_id: str, *, progress: Progress,
           cancel: CancelToken) -> None:
    """RemoveSnapshot_Task, keeping its children (their disks are merged into them)."""
    find(session, machine_id, snapshot_id)
    tasks.run_task(session, lambda si: Session.bind(si, vim.vm.Snapshot, snapshot_id)
                   .RemoveSnapshot_Task(removeChildren=False), progress=progress,
                   cancel=cancel, stage="Deleting the snapshot")
