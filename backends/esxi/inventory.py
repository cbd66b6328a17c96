"""List the machines (one property collection for all of them) and read one machine.

The list is one RetrievePropertiesEx over a container view the session keeps, asking only for
what a summary needs — never a call per machine (pyVmomi's attribute access would make one
round trip per property per machine).
"""

from __future__ import annotations

from typing import Any

from backends.esxi.session import Session, vim, vmodl
from backends.esxi.translate import Devices, os_of, spec_of
from desktopvm.protocol import (
    MachineInfo,
    MachineNotFound,
    MachineSummary,
    PowerState,
    Snapshot,
)

PC = vmodl.query.PropertyCollector
SUMMARY_PATHS = ["name", "runtime.powerState", "config.guestId", "config.hardware.numCPU",
                 "config.hardware.memoryMB", "config.template", "config.extraConfig"]
MACHINE_PATHS = ["config", "runtime.powerState", "snapshot", "guest.ipAddress", "guest.net",
                 "layoutEx.file", "guest.toolsRunningStatus"]
POWER = {
    vim.VirtualMachine.PowerState.poweredOn: PowerState.RUNNING,
    vim.VirtualMachine.PowerState.poweredOff: PowerState.OFF,
    vim.VirtualMachine.PowerState.suspended: PowerState.SAVED,
}


def state_of(value: Any) -> PowerState:
    """Our power state for vSphere's."""
    return POWER.get(value, PowerState.UNKNOWN)


def machines(session: Session, backend: str) -> list[MachineSummary]:
    """Every virtual machine (templates left out), in one round trip."""

    def read(si: Any) -> list[Any]:
        view = session.vm_view(si)
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[PC.TraversalSpec(
                name="view", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=SUMMARY_PATHS)])
        return session.retrieve(si, [spec])

    rows: list[MachineSummary] = []
    for item in session.run(read, "Listing the machines"):
        values = {p.name: p.val for p in item.propSet}
        if values.get("config.template"):
            continue
        extra = {o.key: str(o.value) for o in values.get("config.extraConfig") or ()}
        rows.append(MachineSummary(
            backend=backend, id=item.obj._moId, name=str(values.get("name", item.obj._moId)),
            state=state_of(values.get("runtime.powerState")), host=session.host.address,
            os=os_of(str(values.get("config.guestId") or ""), extra.get("desktopvm.os", "")),
            cpus=int(values.get("config.hardware.numCPU") or 0),
            memory_mib=int(values.get("config.hardware.memoryMB") or 0)))
    return rows


def vm(si: Any, machine_id: str) -> Any:
    """The VirtualMachine object with id `machine_id` (not checked: the next call is)."""
    return Session.bind(si, vim.VirtualMachine, machine_id)


def read(session: Session, machine_id: str, paths: list[str]) -> dict[str, Any]:
    """Some properties of one machine; MachineNotFound when it is not there."""
    try:
        values = session.run(lambda si: _properties(session, si, machine_id, paths),
                             "Reading the machine")
    except MachineNotFound as error:
        raise MachineNotFound(f"No machine {machine_id} on {session.host.address}",
                              error.details) from error
    if not values:
        raise MachineNotFound(f"No machine {machine_id} on {session.host.address}")
    return values


def _properties(session: Session, si: Any, machine_id: str, paths: list[str]) -> dict[str, Any]:
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=vm(si, machine_id), skip=False)],
                         propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=paths)])
    found = session.retrieve(si, [spec])
    return {p.name: p.val for p in found[0].propSet} if found else {}


def snapshot_tree(nodes: Any) -> tuple[Snapshot, ...]:
    """vSphere's snapshot tree as ours (ids are the snapshots' object ids)."""
    return tuple(Snapshot(
        id=node.snapshot._moId, name=str(node.name), description=str(node.description or ""),
        created=node.createTime.isoformat() if node.createTime else "",
        # A snapshot whose machine was on when taken holds its memory [inferred: vSphere
        # records poweredOff for a running machine's snapshot taken without memory].
        has_memory=node.state == vim.VirtualMachine.PowerState.poweredOn,
        children=snapshot_tree(node.childSnapshotList or ())) for node in nodes or ())


def machine(session: Session, machine_id: str, backend: str) -> tuple[MachineInfo, Devices]:
    """One machine's spec, state, snapshots, addresses and files, in one round trip."""
    values = read(session, machine_id, MACHINE_PATHS)
    config = values.get("config")
    if config is None:
        raise MachineNotFound(f"Machine {machine_id} on {session.host.address} has no "
                              "readable configuration (is its datastore inaccessible?)")
    spec, devices = spec_of(config, machine_id)
    snapshots = values.get("snapshot")
    addresses = tuple(dict.fromkeys(
        str(address) for net in values.get("guest.net") or () for address in net.ipAddress or ()))
    if not addresses and values.get("guest.ipAddress"):
        addresses = (str(values["guest.ipAddress"]),)
    summary = MachineSummary(backend=backend, id=machine_id, name=spec.name,
                             state=state_of(values.get("runtime.powerState")),
                             host=session.host.address, os=spec.os, cpus=spec.cpu.count,
                             memory_mib=spec.memory.size_mib)
    info = MachineInfo(
        summary=summary, spec=spec,
        snapshots=snapshot_tree(snapshots.rootSnapshotList) if snapshots else (),
        current_snapshot=(snapshots.currentSnapshot._moId
                          if snapshots and snapshots.currentSnapshot else ""),
        guest_addresses=addresses,
        files=tuple(str(f.name) for f in values.get("layoutEx.file") or ()))
    return info, devices


def tools_running(session: Session, machine_id: str) -> bool:
    """Whether VMware Tools run in the guest (guest shutdown needs them)."""
    values = read(session, machine_id, ["guest.toolsRunningStatus"])
    return values.get("guest.toolsRunningStatus") == "guestToolsRunning"
