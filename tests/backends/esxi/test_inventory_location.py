"""Where each machine runs, on vcsim's vCenter: the list's one call also names every machine's
datacenter, cluster and host — checked against a second, object-by-object pyVmomi walk — and
a standalone ESXi host's machines have no place to group by."""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect

from backends.esxi.backend import EsxiBackend
from backends.esxi.inventory import location
from backends.esxi.session import SoapStubAdapter, vim
from desktopvm.testing.doubles.esxi import sim
from tests.backends.esxi.conftest import opened

pytestmark = pytest.mark.vcsim


def finished(task: Any) -> Any:
    while task.info.state not in ("success", "error"):
        threading.Event().wait(0.05)
    if task.info.state == "error":
        raise task.info.error
    return task.info.result


def connect(running: sim.Sim) -> Any:
    context = ssl.create_default_context(cafile=str(running.tls.ca))
    return SmartConnect(host="127.0.0.1", port=running.port, user=sim.USER, pwd=sim.PASSWORD,
                        sslContext=context)


def machine_on(host: Any, datacenter: Any, pool: Any, name: str, store: Path) -> None:
    """A machine on `host`, on a datastore of its own (vcsim's new hosts have none)."""
    store.mkdir()
    host.configManager.datastoreSystem.CreateLocalDatastore(store.name, str(store))
    finished(datacenter.vmFolder.CreateVM_Task(vim.vm.ConfigSpec(
        name=name, guestId="otherGuest64", files=vim.vm.FileInfo(vmPathName=f"[{store.name}]")),
        pool=pool, host=host))


def connect_spec(name: str) -> Any:
    return vim.host.ConnectSpec(hostName=name, userName="root", password="x", force=True)


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A vCenter of its own (the shared one's machines are counted elsewhere), grown by the
    API into what vcsim's model lacks: a datacenter inside a folder, a cluster inside a host
    folder, a second datacenter with a cluster and a standalone host in a folder."""
    reason = sim.missing_reason()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("vcsim-places")
    running = sim.start(folder, "-vpx", "-vm", "1")
    try:
        admin = connect(running)
        try:
            root = admin.RetrieveContent().rootFolder
            dc0 = root.childEntity[0]
            finished(root.CreateFolder("Region North").MoveIntoFolder_Task([dc0]))
            c7 = dc0.hostFolder.CreateFolder("Rack 7").CreateClusterEx(
                "Cluster 7", vim.cluster.ConfigSpecEx())
            h7 = finished(c7.AddHost_Task(connect_spec("esx-7.example"), True))
            machine_on(h7, dc0, c7.resourcePool, "vm-7", folder / "ds7")
            dcb = root.CreateDatacenter("DC B")
            cb = dcb.hostFolder.CreateClusterEx("Cluster B", vim.cluster.ConfigSpecEx())
            hb = finished(cb.AddHost_Task(connect_spec("esx-b1.example"), True))
            machine_on(hb, dcb, cb.resourcePool, "vm-b", folder / "dsB")
            edge = finished(dcb.hostFolder.CreateFolder("Edge").AddStandaloneHost_Task(
                connect_spec("esx-edge.example"), None, True))
            # vSphere answers the host's new ComputeResource; vcsim 0.24 the host itself
            if isinstance(edge, vim.HostSystem):
                edge = edge.parent
            machine_on(edge.host[0], dcb, edge.resourcePool, "vm-edge", folder / "dsE")
        finally:
            Disconnect(admin)
        yield running
    finally:
        running.stop()


@pytest.fixture
def grown_backend(grown: sim.Sim) -> Iterator[EsxiBackend]:
    yield from opened(grown)


def walked(admin: Any) -> dict[str, tuple[str, ...]]:
    """Each machine's place found the slow, obvious way: pyVmomi's attribute access (a call
    per property), from the machine's host up through its parents to the datacenter."""
    content = admin.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine],
                                                   True)
    places = {}
    for machine in view.view:
        host = machine.runtime.host
        names, node = [host.name], host.parent
        while not isinstance(node, vim.Datacenter):
            if isinstance(node, vim.ClusterComputeResource):
                names.append(node.name)
            node = node.parent
        names.append(node.name)
        places[machine._moId] = tuple(reversed(names))
    view.Destroy()
    return places


def test_every_machine_names_its_datacenter_cluster_and_host(
        grown: sim.Sim, grown_backend: EsxiBackend) -> None:
    listed = {m.id: m for m in grown_backend.list_machines()}
    admin = connect(grown)
    try:
        expected = walked(admin)
    finally:
        Disconnect(admin)
    assert {i: m.location for i, m in listed.items()} == expected
    by_name = {m.name: m.location for m in listed.values()}
    # The places the fixture made, spelled out (the walk above could share a mistake):
    # folders are not places, a standalone host sits straight in its datacenter.
    assert by_name["vm-7"] == ("DC0", "Cluster 7", "esx-7.example")
    assert by_name["vm-b"] == ("DC B", "Cluster B", "esx-b1.example")
    assert by_name["vm-edge"] == ("DC B", "esx-edge.example")
    assert by_name["DC0_H0_VM0"] == ("DC0", "DC0_H0")
    assert by_name["DC0_C0_RP0_VM0"][:2] == ("DC0", "DC0_C0")
    assert by_name["DC0_C0_RP0_VM0"][2].startswith("DC0_C0_H")


def test_the_places_cost_no_second_call(grown_backend: EsxiBackend,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()
    original = SoapStubAdapter.InvokeMethod

    def counting(self: SoapStubAdapter, mo: object, info: object, args: object,
                 outer_stub: object = None) -> object:
        calls[getattr(info, "wsdlName", "?")] += 1
        return original(self, mo, info, args, outer_stub)

    grown_backend.list_machines()  # logs in and makes the session's container view
    monkeypatch.setattr(SoapStubAdapter, "InvokeMethod", counting)
    rows = grown_backend.list_machines()
    assert calls == Counter({"RetrievePropertiesEx": 1}), calls
    assert all(len(m.location) >= 2 for m in rows)


def test_a_standalone_host_has_nothing_to_group_by(esx_backend: EsxiBackend) -> None:
    rows = esx_backend.list_machines()
    assert rows
    assert all(m.location == () for m in rows)


def test_a_host_that_cannot_be_followed_to_its_datacenter_gives_no_place() -> None:
    """The user may see a machine but not its host's parents: it is listed ungrouped rather
    than under a cluster or host without its datacenter."""
    host, cluster, folder = (vim.HostSystem("host-1"), vim.ClusterComputeResource("c-1"),
                             vim.Folder("group-h1"))
    datacenter = vim.Datacenter("datacenter-1")
    places: dict[tuple[str, str], dict[str, Any]] = {
        ("HostSystem", "host-1"): {"name": "esx-1", "parent": cluster},
        ("ClusterComputeResource", "c-1"): {"name": "Cluster", "parent": folder},
        ("Folder", "group-h1"): {"parent": datacenter},
    }
    assert location(host, places) == ()  # the datacenter was not seen
    places[("Datacenter", "datacenter-1")] = {"name": "DC"}
    assert location(host, places) == ("DC", "Cluster", "esx-1")
    assert location(None, places) == ()  # a machine with no host (e.g. being registered)
    assert location(vim.HostSystem("host-2"), places) == ()
    places[("Folder", "group-h1")] = {"parent": cluster}  # a loop ends, giving no place
    assert location(host, places) == ()
