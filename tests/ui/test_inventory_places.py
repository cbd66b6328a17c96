"""Places in the tree: a vCenter-like host's machines nest under datacenter › cluster › host
rows (in name order, each with its count, no machine action), which keep the user's folding
across refreshes and searches; search finds machines inside them; machines without a place
stay directly under their connection; keyboard navigation walks through the places.

The model is checked by Qt's model tester through places made, moved and emptied; the window
tests list a stand-in remote host (desktopvm/testing/doubles/fake_hosts.py) whose listing
gets each machine's location from the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, Qt

from desktopvm.protocol import CancelToken, MachineSummary, PowerState, no_progress
from desktopvm.testing.doubles import fake_hosts
from desktopvm.ui.inventory_model import (
    CPUS,
    NAME,
    InventoryModel,
    KindRole,
    MachineRole,
    PlaceRole,
)
from desktopvm.ui.main_window import MainWindow
from tests.ui.test_hosts_tree import (
    HV01,
    Clock,
    create,
    group,
    make_window,
    remote,
    settled,
)

VC = ("vc.example", "esxi@vc.example")


@pytest.fixture(autouse=True)
def fresh_hosts() -> Iterator[None]:
    fake_hosts.OPENED.clear()
    yield
    fake_hosts.OPENED.clear()


@pytest.fixture
def window(qtbot, runner, tmp_path) -> MainWindow:
    """The main window with the memory backend and two stand-in hosts (HV01 is listed)."""
    return make_window(qtbot, runner, tmp_path, Clock())
DC_A, DC_B = "Datacenter A", "Datacenter B"


def vm(name: str, *location: str, state: PowerState = PowerState.OFF) -> MachineSummary:
    return MachineSummary(VC[1], f"id-{name}", name, state, host=VC[0], os="debian12",
                          cpus=2, memory_mib=1024, location=location)


def names(model, parent=QModelIndex()) -> list[str]:  # noqa: B008
    return [model.index(row, NAME, parent).data() for row in range(model.rowCount(parent))]


def place(window: MainWindow, connection: str, *path: str) -> QModelIndex:
    """A place's index in the window's tree (invalid when not shown)."""
    return window.proxy.mapFromSource(window.model.place_index(connection, path))


LISTING = [vm("web-1", DC_A, "Cluster 1", "esx-2.example"),
           vm("db-1", DC_A, "Cluster 1", "esx-1.example"),
           vm("web-2", DC_A, "Cluster 1", "esx-2.example"),
           vm("edge-1", DC_B, "esx-9.example"),
           vm("orphan")]


def test_places_nest_in_name_order_with_counts_through_moves_and_removals(qtmodeltester):
    model = InventoryModel()
    model.apply(VC, "vCenter", LISTING)
    qtmodeltester.check(model)
    top = model.group_index(VC[1])
    assert top.data() == "vCenter (5)"
    assert names(model, top) == [f"{DC_A} (3)", f"{DC_B} (1)", "orphan"]  # places first
    cluster = QPersistentModelIndex(model.place_index(VC[1], (DC_A, "Cluster 1")))
    assert names(model, cluster) == ["esx-1.example (1)", "esx-2.example (2)"]
    host = model.place_index(VC[1], (DC_A, "Cluster 1", "esx-2.example"))
    assert names(model, host) == ["web-1", "web-2"]
    assert host.data(KindRole) == "place" and host.data(MachineRole) is None
    assert host.data(PlaceRole) == (VC[1], DC_A, "Cluster 1", "esx-2.example")
    assert host.data(Qt.ItemDataRole.ToolTipRole) == \
        "Datacenter A › Cluster 1 › esx-2.example\n2 machines"
    assert host.data(Qt.ItemDataRole.AccessibleTextRole) == "esx-2.example, 2 machines"
    assert model.place_index(VC[1], (DC_B,)).data(Qt.ItemDataRole.AccessibleTextRole) == \
        "Datacenter B, 1 machine"
    assert model.flags(host) == Qt.ItemFlag.ItemIsEnabled  # no machine action can select it
    assert model.index_of((VC[0], VC[1], "id-web-2")).parent() == host
    # web-2 moves to esx-1 (vMotion), edge-1 goes (its datacenter with it), a new one comes
    # into a new cluster, one is renamed and powered on in place
    removed: list[tuple[str, int, int]] = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append(
        (str(parent.data()), first, last)))
    model.apply(VC, "vCenter", [
        vm("web-1", DC_A, "Cluster 1", "esx-2.example", state=PowerState.RUNNING),
        vm("db-1", DC_A, "Cluster 1", "esx-1.example"),
        vm("web-2", DC_A, "Cluster 1", "esx-1.example"),
        vm("new-1", DC_A, "Cluster 0", "esx-5.example"),
        vm("orphan")])
    qtmodeltester.check(model)
    assert names(model, top) == [f"{DC_A} (4)", "orphan"]
    assert names(model, model.place_index(VC[1], (DC_A,))) == ["Cluster 0 (1)",
                                                               "Cluster 1 (3)"]
    assert names(model, cluster) == ["esx-1.example (2)", "esx-2.example (1)"]
    assert names(model, model.place_index(VC[1], (DC_A, "Cluster 1", "esx-1.example"))) == [
        "db-1", "web-2"]
    assert model.index_of((VC[0], VC[1], "id-web-1")).siblingAtColumn(1).data() == "Running"
    assert (f"{DC_B} (1)", 0, 0) in removed or ("vCenter (5)", 1, 1) in removed
    assert not model.place_index(VC[1], (DC_B,)).isValid()
    assert model.machine_count() == 5
    assert {m.name for m in model.machines_of(VC[1])} == {"web-1", "db-1", "web-2", "new-1",
                                                         "orphan"}
    model.apply(VC, "vCenter", [vm("orphan")])  # every place empties and goes
    qtmodeltester.check(model)
    assert names(model, top) == ["orphan"]
    model.apply(VC, "vCenter", LISTING)
    qtmodeltester.check(model)
    model.remove_group(VC[1])
    qtmodeltester.check(model)


@pytest.fixture
def places(monkeypatch) -> dict[str, tuple[str, ...]]:
    """Machine name -> its location in the stand-in host's listing (as a vCenter gives)."""
    where: dict[str, tuple[str, ...]] = {}
    listed = fake_hosts.RemoteMemory.list_machines

    def located(self) -> list[MachineSummary]:
        return [replace(m, location=where.get(m.name, ())) for m in listed(self)]

    monkeypatch.setattr(fake_hosts.RemoteMemory, "list_machines", located)
    return where


def listed(qtbot, window: MainWindow, places: dict[str, tuple[str, ...]]) -> None:
    """The host's machines as LISTING has them, listed by the window."""
    backend = remote(window, HV01)
    for machine in LISTING:
        create(backend, machine.name)
        places[machine.name] = machine.location
    create(window.registry.open("memory"), "local-1")
    settled(qtbot, window)


def test_the_tree_nests_places_under_the_host_and_leaves_local_machines_flat(
        qtbot, window, places):
    listed(qtbot, window, places)
    proxy = window.proxy
    assert names(proxy, group(window, "memory")) == ["local-1"]
    assert names(proxy, group(window, HV01.id)) == [f"{DC_A} (3)", f"{DC_B} (1)", "orphan"]
    assert names(proxy, place(window, HV01.id, DC_A)) == ["Cluster 1 (3)"]
    assert names(proxy, place(window, HV01.id, DC_A, "Cluster 1")) == [
        "esx-1.example (1)", "esx-2.example (2)"]
    assert names(proxy, place(window, HV01.id, DC_A, "Cluster 1", "esx-2.example")) == [
        "web-1", "web-2"]
    for path in ((DC_A,), (DC_A, "Cluster 1"), (DC_A, "Cluster 1", "esx-1.example"),
                 (DC_B,), (DC_B, "esx-9.example")):
        assert window.tree.isExpanded(place(window, HV01.id, *path)), path
    # places stay ahead of the machines, and in name order, whichever way the list is sorted
    window.tree.sortByColumn(NAME, Qt.SortOrder.DescendingOrder)
    assert names(proxy, group(window, HV01.id)) == [f"{DC_B} (1)", f"{DC_A} (3)", "orphan"]
    window.tree.sortByColumn(CPUS, Qt.SortOrder.DescendingOrder)
    assert names(proxy, group(window, HV01.id))[2] == "orphan"
    window.tree.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    assert names(proxy, group(window, HV01.id)) == [f"{DC_A} (3)", f"{DC_B} (1)", "orphan"]
    # a new place deeper in than the Name column is wide widens it to show name and count
    window.resize(1100, 640)
    long = (DC_A, "Cluster 1", "esx-17.rack-4.lab.example")
    places["web-2"] = long
    settled(qtbot, window)
    index = place(window, HV01.id, *long)
    assert window.tree.visualRect(index).left() + window.tree.sizeHintForIndex(index).width() \
        <= window.tree.columnWidth(NAME)


def test_a_place_is_no_machine_no_action_applies(qtbot, window, places):
    listed(qtbot, window, places)
    host = place(window, HV01.id, DC_A, "Cluster 1", "esx-2.example")
    machine = window.proxy.index(0, NAME, host)
    window.tree.setCurrentIndex(machine)
    assert window.current_machine() is not None and window.current_machine().name == "web-1"
    assert window.machine_actions["start"].isEnabled()
    rect = window.tree.visualRect(host)
    qtbot.mouseClick(window.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.tree.currentIndex() == host
    assert window.selected_machines() == []
    assert not any(action.isEnabled() for action in window.machine_actions.values())
    # Enter or a double-click on a place does nothing (a machine's would start it)
    started: list[int] = []
    window.tree.machine_activated.connect(lambda: started.append(1))
    qtbot.keyClick(window.tree, Qt.Key.Key_Return)
    qtbot.mouseDClick(window.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert started == []


def test_folding_stays_across_refreshes_and_searches(qtbot, window, places):
    listed(qtbot, window, places)
    cluster = place(window, HV01.id, DC_A, "Cluster 1")
    window.tree.collapse(cluster)
    window.tree.collapse(place(window, HV01.id, DC_B))
    settled(qtbot, window)  # a refresh in which something changed inside
    places["web-2"] = (DC_A, "Cluster 1", "esx-1.example")
    settled(qtbot, window)
    assert not window.tree.isExpanded(place(window, HV01.id, DC_A, "Cluster 1"))
    assert not window.tree.isExpanded(place(window, HV01.id, DC_B))
    assert window.tree.isExpanded(place(window, HV01.id, DC_A))
    # the place empties and comes back: still folded
    places["edge-1"] = ()
    settled(qtbot, window)
    assert not place(window, HV01.id, DC_B).isValid()
    places["edge-1"] = (DC_B, "esx-9.example")
    settled(qtbot, window)
    assert not window.tree.isExpanded(place(window, HV01.id, DC_B))
    # a search unfolds what it found; clearing it folds back what the user folded
    qtbot.keyClicks(window.search, "web-2")
    assert window.tree.isExpanded(place(window, HV01.id, DC_A, "Cluster 1"))
    window.search.clear()
    assert not window.tree.isExpanded(place(window, HV01.id, DC_A, "Cluster 1"))
    assert window.tree.isExpanded(place(window, HV01.id, DC_A, "Cluster 1", "esx-1.example"))
    window.tree.expand(place(window, HV01.id, DC_A, "Cluster 1"))  # the user unfolds it
    settled(qtbot, window)
    assert window.tree.isExpanded(place(window, HV01.id, DC_A, "Cluster 1"))


def test_search_finds_a_machine_inside_places_and_a_place_by_its_name(qtbot, window, places):
    listed(qtbot, window, places)
    qtbot.keyClicks(window.search, "db-1")
    proxy = window.proxy
    assert names(proxy, group(window, HV01.id)) == [f"{DC_A} (3)"]
    assert names(proxy, place(window, HV01.id, DC_A, "Cluster 1")) == ["esx-1.example (1)"]
    host = place(window, HV01.id, DC_A, "Cluster 1", "esx-1.example")
    assert names(proxy, host) == ["db-1"]
    assert window.tree.isExpanded(host)
    assert not group(window, "memory").isValid()  # no machine of it matched
    window.search.clear()
    qtbot.keyClicks(window.search, "esx-2")  # a host's name: its machines
    assert names(proxy, group(window, HV01.id)) == [f"{DC_A} (3)"]
    assert names(proxy, place(window, HV01.id, DC_A, "Cluster 1", "esx-2.example")) == [
        "web-1", "web-2"]
    window.search.clear()
    qtbot.keyClicks(window.search, "(1)")  # a count is not a name
    assert not group(window, HV01.id).isValid()


def test_the_keyboard_walks_through_the_places_to_the_machines(qtbot, window, places):
    listed(qtbot, window, places)
    window.tree.setFocus()
    window.tree.setCurrentIndex(group(window, HV01.id))
    seen = []
    for _ in range(5):
        qtbot.keyClick(window.tree, Qt.Key.Key_Down)
        seen.append(window.tree.currentIndex().data())
    assert seen == [f"{DC_A} (3)", "Cluster 1 (3)", "esx-1.example (1)", "db-1",
                    "esx-2.example (2)"]
    qtbot.keyClick(window.tree, Qt.Key.Key_Left)  # folds the host
    assert not window.tree.isExpanded(window.tree.currentIndex())
    qtbot.keyClick(window.tree, Qt.Key.Key_Right)
    qtbot.keyClick(window.tree, Qt.Key.Key_Down)
    assert window.current_machine() is not None and window.current_machine().name == "web-1"
    assert window.machine_actions["start"].isEnabled()


def test_a_machine_that_leaves_a_place_hands_the_selection_to_its_neighbour(
        qtbot, window, places):
    listed(qtbot, window, places)
    host = place(window, HV01.id, DC_A, "Cluster 1", "esx-2.example")
    window.tree.setCurrentIndex(window.proxy.index(0, NAME, host))
    gone = window.current_machine()
    assert gone is not None and gone.name == "web-1"
    remote(window, HV01).delete(gone.id, delete_disks=True, progress=no_progress,
                                cancel=CancelToken())
    settled(qtbot, window)
    assert window.current_machine() is not None and window.current_machine().name == "web-2"


def test_a_selected_machine_that_moves_stays_selected_where_it_arrives(qtbot, window, places):
    """A vCenter moves machines between hosts by itself (DRS): the selection follows the
    machine, never its neighbour, which an action would then hit instead."""
    listed(qtbot, window, places)
    host = place(window, HV01.id, DC_A, "Cluster 1", "esx-2.example")
    window.tree.setCurrentIndex(window.proxy.index(0, NAME, host))
    assert window.current_machine() is not None and window.current_machine().name == "web-1"
    places["web-1"] = (DC_A, "Cluster 2", "esx-7.example")  # to a cluster not there before
    settled(qtbot, window)
    assert [m.name for m in window.selected_machines()] == ["web-1"]
    assert window.tree.currentIndex().data() == "web-1"
    assert window.tree.currentIndex().parent() == place(window, HV01.id, DC_A, "Cluster 2",
                                                        "esx-7.example")
    places["web-1"] = (DC_A, "Cluster 1", "esx-1.example")  # and into an existing host
    window.tree.selectionModel().select(
        window.proxy.index(0, NAME, place(window, HV01.id, DC_A, "Cluster 1", "esx-2.example")),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    settled(qtbot, window)
    assert sorted(m.name for m in window.selected_machines()) == ["web-1", "web-2"]
    assert window.tree.currentIndex().data() == "web-1"
    # while searching, a new place arrives with the machine inside it, in one piece
    qtbot.keyClicks(window.search, "web-1")
    places["web-1"] = (DC_B, "Cluster 3", "esx-8.example")
    settled(qtbot, window)
    assert [m.name for m in window.selected_machines()] == ["web-1"]
    assert window.tree.currentIndex().parent() == place(window, HV01.id, DC_B, "Cluster 3",
                                                        "esx-8.example")
