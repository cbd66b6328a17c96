"""Clones: vCenter's CloneVM_Task (full or linked); on a standalone ESXi host, which has no
clone API, a full clone is made the way its administrators do it by hand: a new machine with
the same hardware, the source's disks copied into its folder (VirtualDiskManager), attached."""

from __future__ import annotations

import contextlib
import functools

from backends.esxi import inventory, machines, tasks
from backends.esxi.placement import Facts
from backends.esxi.session import Session, vim
from desktopvm.model.devices import Disk
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidState,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
    no_progress,
    scaled_progress,
    states,
)
from desktopvm.protocol.states import Operation
from desktopvm.protocol.undo import Undo

STANDALONE_LINKED = ("A standalone ESXi host makes full clones only (linked clones need "
                     "vCenter)")
STANDALONE_SNAPSHOT = ("A standalone ESXi host clones a machine's current state only; restore "
                       "the snapshot first, or clone through vCenter")


def clone(session: Session, facts: Facts, machine_id: str, new_name: str, *, linked: bool,
          snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """CloneVM_Task into the source's folder; linked clones share the snapshot's disks."""
    values = inventory.read(session, machine_id, ["parent", "snapshot"])
    if not facts.vcenter:
        if linked:
            raise UnsupportedOperation(STANDALONE_LINKED)
        if snapshot_id:
            raise UnsupportedOperation(STANDALONE_SNAPSHOT)
        return copy_standalone(session, facts, machine_id, new_name, progress=progress,
                               cancel=cancel)
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


def copy_standalone(session: Session, facts: Facts, machine_id: str, new_name: str, *,
                    progress: Progress, cancel: CancelToken) -> str:
    """A full clone without CloneVM: same hardware (new MAC addresses), disks copied."""
    info, _ = inventory.machine(session, machine_id, "")
    states.require(Operation.CLONE, info.state, info.spec.name)
    source = info.spec
    disks = source.all_disks()
    store = disks[0][1].path.partition("]")[0].lstrip("[") if disks else ""
    bare = source.model_copy(update={
        "id": "", "name": new_name,
        "storage": tuple(c.model_copy(update={"disks": ()}) for c in source.storage),
        "network": tuple(a.model_copy(update={"mac": ""}) for a in source.network)})
    steps = 2 + len(disks)
    with Undo() as undo:
        new_id = machines.create(session, facts, bare, datastore=store,
                                 progress=scaled_progress(progress, 0, 1 / steps),
                                 cancel=cancel)
        undo.add(f"destroy the clone {new_id}", lambda: _destroy(session, new_id))
        made, _ = inventory.machine(session, new_id, "")
        where = inventory.read(session, new_id, ["config.files.vmPathName"])
        folder = str(where["config.files.vmPathName"]).rpartition("/")[0]
        copied: list[list[Disk]] = [[] for _ in source.storage]
        for number, (index, disk) in enumerate(disks):
            target = f"{folder}/{new_name}_{number}.vmdk"
            undo.add(f"delete the copied disk {target}",
                     functools.partial(_delete_disk, session, facts, target))
            tasks.run_task(session, lambda si, d=disk.path, t=target: session.content(si)
                           .virtualDiskManager.CopyVirtualDisk_Task(
                               sourceName=d, sourceDatacenter=facts.datacenter_ref,
                               destName=t, destDatacenter=facts.datacenter_ref, force=False),
                           progress=scaled_progress(progress, (1 + number) / steps, 1 / steps),
                           cancel=cancel, stage=f"Copying {disk.path}")
            copied[index].append(disk.model_copy(update={"path": target, "existing": True}))
        whole = made.spec.model_copy(update={"storage": tuple(
            c.model_copy(update={"disks": tuple(copied[i])})
            for i, c in enumerate(made.spec.storage))})
        machines.update(session, facts, new_id, made.spec, whole,
                        progress=scaled_progress(progress, (steps - 1) / steps, 1 / steps),
                        cancel=cancel)
        if cancel.cancelled:
            raise OperationCancelled(f"Cloning into {new_name}: cancelled")
    return new_id


def _destroy(session: Session, machine_id: str) -> None:
    tasks.run_task(session, lambda si: inventory.vm(si, machine_id).Destroy_Task(),
                   progress=no_progress, cancel=CancelToken(), stage="Removing the clone")


def _delete_disk(session: Session, facts: Facts, path: str) -> None:
    """Undo step: a copied disk (descriptor and data), unless it went with its machine."""
    with contextlib.suppress(BackendError):
        tasks.run_task(session, lambda si: session.content(si).virtualDiskManager
                       .DeleteVirtualDisk_Task(name=path, datacenter=facts.datacenter_ref),
                       progress=no_progress, cancel=CancelToken(), stage=f"Deleting {path}")
