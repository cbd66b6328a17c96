"""Create a machine on a datastore and resource pool, update it by diff, delete it."""

from __future__ import annotations

from typing import Any

from backends.esxi import datastores, inventory, plans, tasks
from backends.esxi.placement import Facts
from backends.esxi.session import Session, vim
from backends.esxi.translate import Devices
from desktopvm.model import Capabilities, MachineSpec, changed_groups
from desktopvm.model.names import name_problems
from desktopvm.protocol import (
    CancelToken,
    InvalidSpec,
    OperationCancelled,
    PowerState,
    Progress,
    UnsupportedOperation,
    no_progress,
    states,
)
from desktopvm.protocol.states import Operation
from desktopvm.protocol.undo import Undo

#: layoutEx file types that hold disk data (snapshot deltas included): kept on request.
DISK_FILES = ("diskDescriptor", "diskExtent")


def create(session: Session, facts: Facts, spec: MachineSpec, *, progress: Progress,
           cancel: CancelToken, datastore: str = "") -> str:
    """CreateVM_Task in the datacenter's VM folder on the chosen datastore; the new id.

    A CD/DVD naming a file on this computer gets it uploaded to the datastore first
    (backends/esxi/datastores.py); a local ISO that is not there is refused before anything.
    A machine made although the user cancelled (the task ran to its end) is destroyed again.
    """
    datastores.require_local_isos(spec)
    store = facts.datastore(datastore)
    config = plans.create_spec(datastores.on_datastore(spec, store.name), store.name,
                               facts.networks, facts.environment)
    placed = datastores.upload_local_isos(session, facts, spec, store.name,
                                          progress=progress, cancel=cancel)
    if placed:  # planned again with the names the uploads took (upload() may rename one)
        config = plans.create_spec(datastores.on_datastore(spec, store.name, placed),
                                   store.name, facts.networks, facts.environment)
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
        if cancel.cancelled:  # cancelled at the last report: what was made goes again
            raise OperationCancelled(f"Creating {spec.name}: cancelled")
    return machine_id


def update(session: Session, facts: Facts, machine_id: str, old: MachineSpec,
           new: MachineSpec, *, progress: Progress, cancel: CancelToken) -> None:
    """ReconfigVM_Task with only what changed between `old` and `new`; an ISO on this
    computer is uploaded to the machine's datastore first (once the change is allowed)."""
    groups = changed_groups(old, new)
    if not groups:
        return
    datastores.require_local_isos(new)
    info, devices = inventory.machine(session, machine_id, "")
    require_changeable(info.spec.name, info.state, old, new, groups)
    store = home(session, facts, machine_id) if any(datastores.local_isos(new)) else ""
    config = _update_spec(facts, old, datastores.on_datastore(new, store), groups, devices)
    placed = datastores.upload_local_isos(session, facts, new, store, progress=progress,
                                          cancel=cancel)
    if placed:  # planned again with the names the uploads took (upload() may rename one)
        config = _update_spec(facts, old, datastores.on_datastore(new, store, placed), groups,
                              devices)
    tasks.run_task(session, lambda si: inventory.vm(si, machine_id).ReconfigVM_Task(config),
                   progress=progress, cancel=cancel, stage=f"Changing {new.name}")


def _update_spec(facts: Facts, old: MachineSpec, new: MachineSpec, groups: set[str],
                 devices: Devices) -> Any:
    try:
        return plans.update_spec(old, new, groups, devices=devices,
                                 datastore=facts.datastore().name, networks=facts.networks,
                                 environment=facts.environment)
    except ValueError as error:
        raise UnsupportedOperation(str(error)) from error


def home(session: Session, facts: Facts, machine_id: str) -> str:
    """The datastore that holds the machine's configuration file (else the roomiest)."""
    path = str(inventory.read(session, machine_id, ["config.files.vmPathName"]).get(
        "config.files.vmPathName") or "")
    return datastores.split(path)[0] if datastores.is_datastore_path(path) \
        else facts.datastore().name


def require_name(name: str, capabilities: Capabilities) -> None:
    """InvalidSpec unless `name` follows the naming rule (checked before anything is made)."""
    problems = name_problems(name, capabilities)
    if problems:
        raise InvalidSpec(problems)


def require_changeable(name: str, state: PowerState, old: MachineSpec, new: MachineSpec,
                       groups: set[str]) -> None:
    """InvalidState unless what changed may change in `state`: a running machine takes a new
    name or notes, an ISO in an existing drive, or a network for an existing adapter (what
    capabilities.live_changes says); the rest waits until it is off."""
    states.require(Operation.CHANGE_NAME_NOTES, state, name)
    if state in states.STOPPED:
        return
    live = {"name", "notes"}
    if _only_optical(old, new):
        live.add("storage")
    if len(old.network) == len(new.network) and all(
            (a.model, a.mac) == (b.model, b.mac) for a, b in zip(old.network, new.network,
                                                               strict=True)):
        live.add("network")
    if groups - live:
        states.require(Operation.CHANGE_HARDWARE, state, name)


def _only_optical(old: MachineSpec, new: MachineSpec) -> bool:
    """Only the ISOs of existing drives differ."""
    return len(old.storage) == len(new.storage) and all(
        (a.kind, a.disks, [o.port for o in a.optical]) ==
        (b.kind, b.disks, [o.port for o in b.optical])
        for a, b in zip(old.storage, new.storage, strict=True))


def delete(session: Session, facts: Facts, machine_id: str, *, delete_disks: bool,
           progress: Progress, cancel: CancelToken) -> None:
    """Destroy_Task removes the machine and every file in its folder. Keeping the disks, the
    machine is unregistered and its other files (configuration, NVRAM, logs, swap) deleted
    one by one, so the disks stay where they were whatever the host does with folders."""
    info, _ = inventory.machine(session, machine_id, "")
    states.require(Operation.DELETE, info.state, info.spec.name)
    if delete_disks:
        tasks.run_task(session, lambda si: inventory.vm(si, machine_id).Destroy_Task(),
                       progress=progress, cancel=cancel, stage=f"Deleting {info.spec.name}")
        return
    files = inventory.read(session, machine_id, ["layoutEx.file"]).get("layoutEx.file") or ()
    others = [str(f.name) for f in files if f.type not in DISK_FILES]
    session.run(lambda si: inventory.vm(si, machine_id).UnregisterVM(),
                f"Removing {info.spec.name} from the inventory")
    for index, name in enumerate(others):
        progress(index / max(1, len(others)), f"Deleting {name}")
        # Already gone is what was wanted (vcsim 0.24 also lists some files at paths where
        # they are not: docs/esxi.md); datastores.delete takes it so.
        datastores.delete(session, facts, name)


def _destroy(session: Session, machine_id: str) -> None:
    """Undo step: remove a machine this operation made (and its files)."""
    tasks.run_task(session, lambda si: inventory.vm(si, machine_id).Destroy_Task(),
                   progress=no_progress, cancel=CancelToken(), stage="Removing the new machine")
