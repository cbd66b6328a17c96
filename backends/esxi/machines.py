"""Create a machine on a datastore and resource pool, update it by diff, delete it."""

from __future__ import annotations

from backends.esxi import inventory, plans, tasks
from backends.esxi.placement import Facts
from backends.esxi.session import Session, vim
from desktopvm.model import MachineSpec, changed_groups
from desktopvm.protocol import (
    CancelToken,
    InvalidState,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.protocol.undo import Undo


def create(session: Session, facts: Facts, spec: MachineSpec, *, progress: Progress,
           cancel: CancelToken, datastore: str = "") -> str:
    """CreateVM_Task in the datacenter's VM folder on the chosen datastore; the new id.

    A machine made although the user cancelled (the task ran to its end) is destroyed again.
    """
    store = facts.datastore(datastore)
    config = plans.create_spec(spec, store.name, facts.networks)
    with Undo() as undo:
        created = tasks.run_task(
            session, lambda si: Session.bind(si, vim.Folder, facts.folder._moId).CreateVM_Task(
                config=config, pool=facts.pool, host=facts.host),
            progress=progress, cancel=cancel, stage=f"Creating {spec.name}")
        machine_id = str(created._moId)
        undo.add(f"destroy the new machine {machine_id}",
                 lambda: _destroy(session, machine_id))
        if cancel.cancelled:
            raise OperationCancelled(f"Creating {spec.name}: cancelled")
        made, devices = inventory.machine(session, machine_id, "")
        if made.spec.display != spec.display:
            # The host gives every new machine its default video card: set it afterwards.
            change = plans.video_change(spec, devices)
            if change is not None:
                tasks.run_task(session, lambda si: inventory.vm(si, machine_id).ReconfigVM_Task(
                    vim.vm.ConfigSpec(deviceChange=[change])), progress=progress,
                    cancel=cancel, stage=f"Setting the display of {spec.name}")
    return machine_id


def update(session: Session, facts: Facts, machine_id: str, old: MachineSpec,
           new: MachineSpec, *, progress: Progress, cancel: CancelToken) -> None:
    """ReconfigVM_Task with only what changed between `old` and `new`."""
    groups = changed_groups(old, new)
    if not groups:
        return
    _, devices = inventory.machine(session, machine_id, "")
    try:
        config = plans.update_spec(old, new, groups, devices=devices,
                                   datastore=facts.datastore().name, networks=facts.networks)
    except ValueError as error:
        raise UnsupportedOperation(str(error)) from error
    tasks.run_task(session, lambda si: inventory.vm(si, machine_id).ReconfigVM_Task(config),
                   progress=progress, cancel=cancel, stage=f"Changing {new.name}")


def delete(session: Session, machine_id: str, *, delete_disks: bool, progress: Progress,
           cancel: CancelToken) -> None:
    """Destroy_Task removes the machine and every file in its folder; keeping the disks means
    detaching them first (they stay on the datastore where they were)."""
    info, devices = inventory.machine(session, machine_id, "")
    if info.state.is_active or info.state.value == "saved":
        raise InvalidState(f"{info.spec.name} is {info.state.value}; power it off first")
    if not delete_disks and devices.disks:
        detach = vim.vm.ConfigSpec(deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation=plans.Op.remove,
                                            device=devices.by_key[key])
            for key in devices.disks.values()])
        tasks.run_task(session, lambda si: inventory.vm(si, machine_id).ReconfigVM_Task(detach),
                       progress=progress, cancel=cancel, stage="Detaching the disks to keep")
    tasks.run_task(session, lambda si: inventory.vm(si, machine_id).Destroy_Task(),
                   progress=progress, cancel=cancel, stage=f"Deleting {info.spec.name}")


def _destroy(session: Session, machine_id: str) -> None:
    """Undo step: remove a machine this operation made (and its files)."""
    tasks.run_task(session, lambda si: inventory.vm(si, machine_id).Destroy_Task(),
                   progress=no_progress, cancel=CancelToken(), stage="Removing the new machine")
