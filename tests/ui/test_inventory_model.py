"""The inventory model passes Qt's model tester and applies refreshes as diffs."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from desktopvm.protocol import MachineSummary, PowerState
from desktopvm.ui.inventory_model import NAME, STATE, InventoryModel, MachineRole

QEMU = ("localhost", "qemu")
VBOX = ("localhost", "virtualbox")


def machine(i: int, state: PowerState = PowerState.OFF, backend: str = "qemu") -> MachineSummary:
    return MachineSummary(backend, f"id-{i}", f"vm {i}", state, os="debian12", cpus=1,
                          memory_mib=512)


def test_model_tester_through_inserts_changes_and_removals(qtmodeltester):
    model = InventoryModel()
    qtmodeltester.check(model)
    model.apply(QEMU, "QEMU · localhost", [machine(i) for i in range(5)])
    model.apply(VBOX, "VirtualBox · localhost", [machine(9, backend="virtualbox")])
    qtmodeltester.check(model)
    model.apply(QEMU, "QEMU · localhost", [machine(0, PowerState.RUNNING), machine(2),
                                           machine(4), machine(7)])
    model.set_error(VBOX, "VirtualBox · localhost", "VBoxManage timed out")
    qtmodeltester.check(model)
    model.remove_group(VBOX)
    qtmodeltester.check(model)


def test_refresh_is_a_diff_without_reset(qtbot):
    model = InventoryModel()
    model.apply(QEMU, "QEMU", [machine(i) for i in range(4)])
    resets, inserted, removed, changed = [], [], [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    model.dataChanged.connect(lambda top, bottom, roles: changed.append(top.row()))
    model.apply(QEMU, "QEMU", [machine(0), machine(1, PowerState.RUNNING), machine(3),
                               machine(5)])
    assert resets == []
    assert removed == [(2, 2)]
    assert inserted == [(3, 3)]
    group = model.index(0, 0)
    names = [model.index(r, NAME, group).data() for r in range(model.rowCount(group))]
    assert names == ["vm 0", "vm 1", "vm 3", "vm 5"]
    assert model.index(1, STATE, group).data() == "Running"


def test_a_failing_backend_keeps_its_machines_and_shows_the_error():
    model = InventoryModel()
    model.apply(QEMU, "QEMU", [machine(1)])
    model.set_error(QEMU, "QEMU", "QMP did not answer")
    group = model.index(0, 0)
    assert model.rowCount(group) == 1
    assert "QMP did not answer" in model.index(0, STATE).data()
    model.apply(QEMU, "QEMU", [machine(1)])
    assert model.index(0, STATE).data() is None


def test_machine_role_and_lookup():
    model = InventoryModel()
    model.apply(QEMU, "QEMU", [machine(3)])
    index = model.index_of(("localhost", "qemu", "id-3"))
    assert index.data(MachineRole).name == "vm 3"
    assert model.index_of(("localhost", "qemu", "nope")) == QModelIndex()
    assert model.index(0, 0).data(MachineRole) is None
    assert not model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsSelectable


def test_ten_thousand_rows_apply(qtbot):
    model = InventoryModel()
    machines = [machine(i) for i in range(10_000)]
    model.apply(QEMU, "QEMU", machines)
    machines[5000] = machine(5000, PowerState.RUNNING)
    model.apply(QEMU, "QEMU", machines[:-1])
    assert model.machine_count() == 9_999


HOST = ("hv01.lab.example", "hyperv@hv01.lab.example")


def test_a_hosts_error_line_comes_and_goes_as_its_first_row(qtmodeltester):
    from desktopvm.ui.inventory_model import ConnectionRole, KindRole

    model = InventoryModel()
    qtmodeltester.check(model)
    model.set_host(HOST, "Hyper-V · hv01", rank=100, state="Connecting…")
    model.apply(HOST, "Hyper-V · hv01", [machine(1, backend=HOST[1]), machine(2, backend=HOST[1])])
    qtmodeltester.check(model)
    group = model.group_index(HOST[1])
    assert model.rowCount(group) == 2
    model.set_host(HOST, "Hyper-V · hv01", rank=100, state="Unreachable",
                   note="Cannot reach WinRM — retrying in 8 s", tip="why\nfix")
    qtmodeltester.check(model)
    assert model.rowCount(group) == 3
    note = model.index(0, NAME, group)
    assert note.data() == "Cannot reach WinRM — retrying in 8 s"
    assert note.data(KindRole) == "note" and note.data(MachineRole) is None
    assert note.data(Qt.ItemDataRole.ToolTipRole) == "why\nfix"
    assert not model.flags(note) & Qt.ItemFlag.ItemIsSelectable
    assert model.flags(group) & Qt.ItemFlag.ItemIsSelectable  # a host's details show
    assert model.index_of((HOST[0], HOST[1], "id-2")).data() == "vm 2"
    assert model.index(1, NAME, group).data(ConnectionRole) == HOST[1]
    assert model.index(group.row(), STATE).data() == "Unreachable"
    # while the line is there, a refresh still applies as a diff below it
    model.apply(HOST, "Hyper-V · hv01", [machine(2, PowerState.RUNNING, backend=HOST[1]),
                                         machine(3, backend=HOST[1])])
    qtmodeltester.check(model)
    names = [model.index(r, NAME, group).data() for r in range(model.rowCount(group))]
    assert names == ["Cannot reach WinRM — retrying in 8 s", "vm 2", "vm 3"]
    assert model.index_of((HOST[0], HOST[1], "id-2")).row() == 1
    model.set_host(HOST, "Hyper-V · hv01", rank=100, state="Connected")
    qtmodeltester.check(model)
    assert [model.index(r, NAME, group).data() for r in range(model.rowCount(group))] == [
        "vm 2", "vm 3"]
    assert model.index_of((HOST[0], HOST[1], "id-3")).row() == 1
