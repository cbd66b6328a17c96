"""Where things go on the host (beyond the module map): datacenter, folder, pool, datastore,
port groups — and the host facts behind capabilities, read in one property collection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backends.esxi.session import Session, vim, vmodl
from desktopvm.protocol import BackendError

PC = vmodl.query.PropertyCollector
TYPES: dict[type, list[str]] = {
    vim.Datacenter: ["name", "vmFolder", "hostFolder"],
    vim.ComputeResource: ["name", "parent", "resourcePool", "host"],
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


def read_facts(session: Session) -> Facts:
    """Everything above, in one RetrievePropertiesEx over one container view."""

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
    return Facts(
        api_type=str(about.apiType), product=str(about.fullName),
        host_name=str(host_values.get("name", session.host.address)),
        cpus=int(host_values.get("summary.hardware.numCpuThreads", 1)),
        memory_mib=int(host_values.get("summary.hardware.memorySize", 0)) // 2**20,
        datacenter=str(centre.get("name", "ha-datacenter")), datacenter_ref=centre_ref,
        folder=centre.get("vmFolder"), pool=compute_values.get("resourcePool"), host=host,
        datastores=stores, networks=networks)
