"""Where things go on the host (beyond the module map): datacenter, folder, pool, datastore,
port groups — and the host facts behind capabilities: one property collection, and the
compute resource's EnvironmentBrowser (guest OS ids, hardware version, limits) once a session."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from backends.esxi.session import Session, vim, vmodl
from desktopvm.protocol import BackendError, ConnectionLost

log = logging.getLogger(__name__)
PC = vmodl.query.PropertyCollector
TYPES: dict[type, list[str]] = {
    vim.Datacenter: ["name", "vmFolder", "hostFolder"],
    vim.ComputeResource: ["name", "parent", "resourcePool", "host", "environmentBrowser"],
    vim.HostSystem: ["name", "datastore", "network", "summary.hardware.numCpuThreads",
                     "summary.hardware.memorySize", "summary.config.product.fullName"],
    vim.Datastore: ["summary.name", "summary.freeSpace", "summary.capacity",
                    "summary.accessible"],
    vim.Network: ["name"],
}


@dataclass(frozen=True)
class Datastore:
    """A datastore a machine can live on."""

    name: str
    free_bytes: int
    capacity_bytes: int
    ref: Any = field(compare=False)


@dataclass(frozen=True)
class GuestOs:
    """One GuestOsDescriptor the host lists (vim.vm.GuestOsDescriptor, vSphere API): 0, "" and
    () mean the host did not say (vcsim 0.24 sends the id and family only)."""

    id: str
    full_name: str = ""
    family: str = ""  # linuxGuest, windowsGuest, otherGuestFamily, …
    max_cpus: int = 0  # supportedMaxCPUs
    max_memory_mib: int = 0  # supportedMaxMemMB
    disk_controller: str = ""  # recommendedDiskController, a type name: ParaVirtualSCSIController
    nic: str = ""  # recommendedEthernetCard: VirtualVmxnet3
    firmware: tuple[str, ...] = ()  # supportedFirmware: "bios", "efi"
    for_create: bool = True  # supportedForCreate (see environment_of)


@dataclass(frozen=True)
class Environment:
    """What EnvironmentBrowser.QueryConfigOptionEx says new machines can be (vim.vm.ConfigOption,
    vSphere API). Empty (`read` false) when the host could not be asked: then nothing is
    checked against it and the fixed tables are used as they are."""

    read: bool = False
    version: str = ""  # the default hardware version new machines get, "vmx-19"
    guests: dict[str, GuestOs] = field(default_factory=dict)  # by guest id, the host's order
    max_cpus: int = 0  # hardwareOptions.numCPU: the largest acceptable CPU count
    max_memory_mib: int = 0  # hardwareOptions.memoryMB.max

    @property
    def hardware(self) -> int:
        """The hardware version as a number (0: unknown)."""
        digits = self.version.rpartition("-")[2]
        return int(digits) if digits.isdigit() else 0

    def creatable(self) -> list[str]:
        """The guest ids a new machine may take, in the host's order."""
        return [g.id for g in self.guests.values() if g.for_create]


@dataclass(frozen=True)
class Facts:
    """The host (or vCenter's first compute resource) and where new machines go."""

    api_type: str  # "HostAgent" (standalone ESXi) or "VirtualCenter"
    product: str  # "VMware ESXi 8.0.3 build-…" / "VMware vCenter Server …"
    host_name: str
    cpus: int
    memory_mib: int
    datacenter: str
    datacenter_ref: Any
    folder: Any
    pool: Any
    host: Any
    datastores: tuple[Datastore, ...]
    networks: dict[str, Any]  # port group name -> Network
    environment: Environment = field(default_factory=Environment)
    browser: Any = None  # the compute resource's EnvironmentBrowser

    @property
    def vcenter(self) -> bool:
        """Whether this is vCenter (clones, clusters) rather than one ESXi host."""
        return self.api_type == "VirtualCenter"

    def datastore(self, name: str = "") -> Datastore:
        """`name`, or the accessible datastore with the most free space."""
        if name:
            for store in self.datastores:
                if store.name == name:
                    return store
            raise BackendError(f"{self.host_name} has no datastore named {name!r}",
                               "datastores: " + ", ".join(s.name for s in self.datastores))
        if not self.datastores:
            raise BackendError(f"{self.host_name} has no accessible datastore to create on")
        return max(self.datastores, key=lambda s: s.free_bytes)


def read_facts(session: Session, known: Environment | None = None) -> Facts:
    """Everything above, in one RetrievePropertiesEx over one container view, plus one
    QueryConfigOptionEx unless `known` is the environment read before for this host."""

    def read(si: Any) -> tuple[Any, list[Any]]:
        content = session.content(si)
        view = content.viewManager.CreateContainerView(content.rootFolder, list(TYPES), True)
        try:
            spec = PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[PC.TraversalSpec(
                    name="view", type=vim.view.ContainerView, path="view", skip=False)])],
                propSet=[PC.PropertySpec(type=kind, pathSet=paths)
                         for kind, paths in TYPES.items()])
            return content.about, session.retrieve(si, [spec])
        finally:
            view.DestroyView()

    about, found = session.run(read, "Reading the host's inventory")
    rows: dict[type, list[tuple[Any, dict[str, Any]]]] = {kind: [] for kind in TYPES}
    for item in found:
        values = {p.name: p.val for p in item.propSet}
        for kind in TYPES:
            if isinstance(item.obj, kind):
                rows[kind].append((item.obj, values))
                break
    if not rows[vim.ComputeResource] or not rows[vim.HostSystem]:
        raise BackendError(f"{session.host.address} shows no host to run machines on")
    compute_values = rows[vim.ComputeResource][0][1]
    centre_ref, centre = next(((ref, v) for ref, v in rows[vim.Datacenter]
                               if v.get("hostFolder") == compute_values.get("parent")),
                              rows[vim.Datacenter][0] if rows[vim.Datacenter] else (None, {}))
    hosts = compute_values.get("host") or []
    host, host_values = next(((h, v) for h, v in rows[vim.HostSystem] if h in hosts),
                             rows[vim.HostSystem][0])
    # A host's own list: the datacenter's can name datastores that are gone (vcsim 0.24).
    on_host = set(host_values.get("datastore") or [])
    stores = tuple(Datastore(str(v["summary.name"]), int(v.get("summary.freeSpace", 0)),
                             int(v.get("summary.capacity", 0)), ref)
                   for ref, v in rows[vim.Datastore]
                   if ref in on_host and v.get("summary.accessible", True))
    nets = set(host_values.get("network") or [])
    networks = {str(v["name"]): ref for ref, v in rows[vim.Network] if ref in nets}
    browser = compute_values.get("environmentBrowser")
    environment = known if known is not None and known.read else \
        read_environment(session, browser, host)
    return Facts(
        api_type=str(about.apiType), product=str(about.fullName),
        host_name=str(host_values.get("name", session.host.address)),
        cpus=int(host_values.get("summary.hardware.numCpuThreads", 1)),
        memory_mib=int(host_values.get("summary.hardware.memorySize", 0)) // 2**20,
        datacenter=str(centre.get("name", "ha-datacenter")), datacenter_ref=centre_ref,
        folder=centre.get("vmFolder"), pool=compute_values.get("resourcePool"), host=host,
        datastores=stores, networks=networks, environment=environment, browser=browser)


def read_environment(session: Session, browser: Any, host: Any) -> Environment:
    """EnvironmentBrowser.QueryConfigOptionEx for `host` with no guest filter: the whole
    descriptor list ("If guestId is nonempty … filtered"; QueryConfigOptionEx, vSphere API 6.0).
    A host that cannot say (no browser, a fault) gives an empty Environment: creating still
    works as before this was read, and the host's own refusal still says why."""
    if browser is None:
        return Environment()
    spec = vim.EnvironmentBrowser.ConfigOptionQuerySpec(host=host)
    try:
        option = session.run(lambda si: Session.bind(si, vim.EnvironmentBrowser, browser._moId)
                             .QueryConfigOptionEx(spec), "Reading what the host can make")
    except ConnectionLost:
        raise
    except BackendError as error:
        log.warning("%s: EnvironmentBrowser.QueryConfigOptionEx failed (%s); guest ids and "
                    "limits come from DesktopVM's own tables", session.host.address,
                    error.summary)
        return Environment()
    return environment_of(option)


def environment_of(option: Any) -> Environment:
    """A vim.vm.ConfigOption as an Environment (None: an empty one)."""
    if option is None:
        return Environment()
    descriptors = list(option.guestOSDescriptor or ())
    # supportedForCreate is a plain bool: a host that never sends it reads as all false, so
    # it counts only from a host that marks some descriptor creatable.
    marks = any(bool(d.supportedForCreate) for d in descriptors)
    guests = {}
    for d in descriptors:
        controller = d.recommendedDiskController
        nic = d.recommendedEthernetCard
        guests[str(d.id)] = GuestOs(
            id=str(d.id), full_name=str(d.fullName or ""), family=str(d.family or ""),
            max_cpus=int(d.supportedMaxCPUs or 0), max_memory_mib=int(d.supportedMaxMemMB or 0),
            disk_controller=_type_name(controller), nic=_type_name(nic),
            firmware=tuple(str(f) for f in d.supportedFirmware or ()),
            for_create=bool(d.supportedForCreate) or not marks)
    hardware = option.hardwareOptions
    cpus = [int(n) for n in (hardware.numCPU or ())] if hardware is not None else []
    memory = hardware.memoryMB if hardware is not None else None
    # numCPU lists the acceptable counts with the default first (VirtualHardwareOption): a
    # single value may be that default alone, not a limit, so it says nothing here.
    return Environment(read=True, version=str(option.version or ""), guests=guests,
                       max_cpus=max(cpus) if len(cpus) > 1 else 0,
                       max_memory_mib=int(memory.max or 0) if memory is not None else 0)


def _type_name(value: Any) -> str:
    """A pyVmomi type (xsd:string holding a type name, resolved by pyVmomi) as its name."""
    if value is None:
        return ""
    return str(getattr(value, "_wsdlName", "") or value).rpartition(".")[2]
