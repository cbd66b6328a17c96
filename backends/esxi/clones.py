"""Clones: vCenter's CloneVM_Task (full or linked); standalone ESXi has no clone API."""

from __future__ import annotations

from backends.esxi import inventory, tasks
from backends.esxi.placement import Facts
from backends.esxi.session import Session, vim
from desktopvm.protocol import (
    CancelToken,
    InvalidState,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
)
from desktopvm.protocol.undo import Undo

STANDALONE = ("A standalone ESXi host cannot clone machines (its API refuses CloneVM); clone "
              "through vCenter, or export the machine and import it under a new name")


def clone(session: Session, facts: Facts, machine_id: str, new_name: str, *, linked: bool,
          snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """CloneVM_Task into the source's folder; linked clones share the snapshot's disks."""
    values = inventory.read(session, machine_id, ["parent", "snapshot"])
    if not facts.vcenter:
        raise UnsupportedOperation(STANDALONE)
    snapshot = None
    if snapshot_id:
        snapshot = vim.vm.Snapshot(snapshot_id)
    elif linked:
        info = values.get("snapshot")
        if info is None or info.currentSnapshot is None:
            raise InvalidState("A linked clone starts from a snapshot; take one first")
        snapshot = info.currentSnapshot
    relocate = vim.vm.RelocateSpec(pool=facts.pool)
    if linked:
        relocate.diskMoveType = "createNewChildDiskBacking"
    spec = vim.vm.CloneSpec(location=relocate, powerOn=False, template=False,
                            snapshot=snapshot)
    folder = values.get("parent") or facts.folder
    with Undo() as undo:
        made = tasks.run_task(
            session, lambda si: inventory.vm(si, machine_id).CloneVM_Task(
                folder=Session.bind(si, vim.Folder, folder._moId), name=new_name, spec=spec),
            progress=progress, cancel=cancel, stage=f"Cloning into {new_name}")
        new_id = str(made._moId)
        undo.add(f"destroy the clone {new_id}", lambda: tasks.run_task(
            session, lambda si: inventory.vm(si, new_id).Destroy_Task(),
            progress=lambda *_: None, cancel=CancelToken(), stage="Removing the clone"))
        if cancel.cancelled:
            raise OperationCancelled(f"Cloning into {new_name}: cancelled")
    return new_id
