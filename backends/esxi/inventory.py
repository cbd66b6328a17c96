"""List the machines (one property collection for all of them) and read one machine.

The list is one RetrievePropertiesEx over a container view the session keeps, asking only for
what a summary needs — never a call per machine (pyVmomi's attribute access would make one
round trip per property per machine). On a vCenter the same call also walks the inventory
from the root folder to every host (datacenters, host folders, compute resources, hosts) for
their names and parents, so each machine's place — datacenter, cluster, host — comes with it.
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
    """Every virtual machine (templates left out), in one round trip; on a vCenter with
    where each runs (MachineSummary.location)."""

    def read(si: Any) -> list[Any]:
        view = session.vm_view(si)
        content = session.content(si)  # read at login: asking it costs no call
        vcenter = content.about.apiType == "VirtualCenter"
        objects = [PC.ObjectSpec(obj=view, skip=True, selectSet=[PC.TraversalSpec(
            name="view", type=vim.view.ContainerView, path="view", skip=False)])]
        paths = [PC.PropertySpec(type=vim.VirtualMachine,
                                 pathSet=SUMMARY_PATHS + (["runtime.host"] if vcenter else []))]
        if vcenter:  # a standalone host is one place: nothing to group by
            objects.append(PC.ObjectSpec(obj=content.rootFolder, skip=True,
                                         selectSet=_to_hosts()))
            paths.extend(PC.PropertySpec(type=kind, pathSet=kind_paths)
                         for kind, kind_paths in PLACE_PATHS)
        return session.retrieve(si, [PC.FilterSpec(objectSet=objects, propSet=paths)])

    rows: list[MachineSummary] = []
    found = session.run(read, "Listing the machines")
    places = {_ref(item.obj): {p.name: p.val for p in item.propSet} for item in found
              if not isinstance(item.obj, vim.VirtualMachine)}
    for item in found:
        if not isinstance(item.obj, vim.VirtualMachine):
            continue
        values = {p.name: p.val for p in item.propSet}
        if values.get("config.template"):
            continue
        extra = {o.key: str(o.value) for o in values.get("config.extraConfig") or ()}
        rows.append(MachineSummary(
            backend=backend, id=item.obj._moId, name=str(values.get("name", item.obj._moId)),
            state=state_of(values.get("runtime.powerState")), host=session.host.address,
            os=os_of(str(values.get("config.guestId") or ""), extra.get("desktopvm.os", "")),
            cpus=int(values.get("config.hardware.numCPU") or 0),
            memory_mib=int(values.get("config.hardware.memoryMB") or 0),
            location=location(values.get("runtime.host"), places)))
    return rows


# What the walk from the root folder to the hosts collects of each kind of object it meets:
# enough to follow a host up to its datacenter. Clusters are named beside plain compute
# resources (and traversed beside them below) rather than trusted to match as a subtype: the
# API reference does not say a type covers its subtypes, and it does say a type named by
# several PropertySpecs gets the union of their properties, so naming both is safe.
PLACE_PATHS = ((vim.HostSystem, ["name", "parent"]), (vim.ComputeResource, ["name", "parent"]),
               (vim.ClusterComputeResource, ["name", "parent"]), (vim.Folder, ["parent"]),
               (vim.Datacenter, ["name"]))


def _to_hosts() -> list[Any]:
    """Traversal from the root folder to every host: folders' children (folders, datacenters,
    compute resources), a datacenter's host folder (not its VM, datastore or network
    folders), a compute resource's hosts — the usual inventory walk of the vSphere SDK's
    samples, cut to the host side."""
    def to(name: str) -> Any:
        return PC.SelectionSpec(name=name)

    return [
        PC.TraversalSpec(name="folder", type=vim.Folder, path="childEntity", skip=False,
                         selectSet=[to("folder"), to("datacenter"), to("compute"),
                                    to("cluster")]),
        PC.TraversalSpec(name="datacenter", type=vim.Datacenter, path="hostFolder",
                         skip=False, selectSet=[to("folder")]),
        PC.TraversalSpec(name="compute", type=vim.ComputeResource, path="host", skip=False),
        PC.TraversalSpec(name="cluster", type=vim.ClusterComputeResource, path="host",
                         skip=False),
    ]


def _ref(obj: Any) -> tuple[str, str]:
    """A managed object's identity: ids are unique per type."""
    return (str(obj._wsdlName), str(obj._moId))


def location(host: Any, places: dict[tuple[str, str], dict[str, Any]]) -> tuple[str, ...]:
    """(datacenter, cluster, host) — or (datacenter, host) for a host outside any cluster —
    of the host a machine runs on, from the walk's names and parents; () when the machine
    has no host or its host cannot be followed up to a datacenter (e.g. the user may not
    see it), so it is listed ungrouped rather than in a wrong place."""
    if host is None or _ref(host) not in places:
        return ()
    names = [str(places[_ref(host)].get("name", host._moId))]
    node, seen = places[_ref(host)].get("parent"), set()
    while node is not None and _ref(node) in places and _ref(node) not in seen:
        seen.add(_ref(node))
        values = places[_ref(node)]
        if isinstance(node, vim.Datacenter):
            names.append(str(values.get("name", node._moId)))
            return tuple(reversed(names))
        if isinstance(node, vim.ClusterComputeResource):
            names.append(str(values.get("name", node._moId)))
        # a standalone host's own ComputeResource bears the host's name; folders are only
        # how the administrator filed things: both are passed through
        node = values.get("parent")
    return ()


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
