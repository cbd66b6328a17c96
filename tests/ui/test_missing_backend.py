"""A hypervisor that went away: its machines stay listed, greyed, with the reason and the fix;
a machine whose state cannot be read is greyed with why."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from desktopvm.protocol import MachineSummary, PowerState, ProbeResult
from desktopvm.registry import Registry
from desktopvm.testing.doubles import memory_plugin
from desktopvm.ui.inventory_model import STATE, InventoryModel
from desktopvm.ui.main_window import MainWindow
from tests.ui.test_preferences_apply import (
    MEMORY,
    add,
    names,
    window,  # noqa: F401 (a fixture)
)

GONE = ProbeResult("memory", False, reason="memory-tool is not on PATH (found in /opt/mem/bin)",
                   install_hint="Set it in Preferences, or add /opt/mem/bin to PATH")


def grey() -> object:
    return QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


def test_machines_of_a_hypervisor_that_went_stay_greyed_with_why(qtbot, window,  # noqa: F811
                                                                   monkeypatch):
    add(window.registry, "web")
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: names(window) == {"web"} and window._refreshing is None,
                    timeout=5000)
    monkeypatch.setattr(memory_plugin, "detect", lambda settings: GONE)
    window.refresh(with_facts=True)
    model = window.model
    group = model.index(0, 0)
    qtbot.waitUntil(lambda: "Not available" in str(model.index(0, STATE).data()), timeout=5000)
    assert names(window) == {"web"}  # still listed
    assert "memory-tool is not on PATH" in model.index(0, STATE).data()
    assert "Set it in Preferences" in model.index(0, STATE).data()
    row = model.index(0, 0, group)
    assert row.data(Qt.ItemDataRole.ForegroundRole) == grey()
    assert "Shown as last seen" in row.data(Qt.ItemDataRole.ToolTipRole)
    assert not row.flags() & Qt.ItemFlag.ItemIsSelectable  # nothing could act on it
    monkeypatch.undo()  # back: the rows read normally again
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: model.index(0, STATE).data() is None, timeout=5000)
    row = model.index(0, 0, group)
    assert row.data(Qt.ItemDataRole.ForegroundRole) is None
    assert row.flags() & Qt.ItemFlag.ItemIsSelectable


def test_a_hypervisor_gone_at_start_up_shows_the_machines_of_the_last_run(
        qtbot, runner, window, monkeypatch, tmp_path):  # noqa: F811
    add(window.registry, "web")
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: names(window) == {"web"} and window._refreshing is None,
                    timeout=5000)
    window.close()
    monkeypatch.setattr(memory_plugin, "detect", lambda settings: GONE)
    later = MainWindow(Registry(window.registry.settings, known=(MEMORY,)), runner)  # next run
    qtbot.addWidget(later)
    later.show()
    later.refresh(with_facts=True)
    model = later.model
    qtbot.waitUntil(lambda: "Not available" in str(model.index(0, STATE).data()), timeout=5000)
    assert names(later) == {"web"}  # what the last run listed, greyed, with the reason
    row = model.index(0, 0, model.index(0, 0))
    assert row.data(Qt.ItemDataRole.ForegroundRole) == grey()
    assert "memory-tool is not on PATH" in row.data(Qt.ItemDataRole.ToolTipRole)
    assert "unknown" in str(model.index(0, STATE, model.index(0, 0)).data()).lower()


def test_a_hypervisor_gone_with_no_machines_listed_is_dropped(qtbot, window,  # noqa: F811
                                                              monkeypatch):
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window._refreshing is None and window.model.rowCount() == 1,
                    timeout=5000)
    monkeypatch.setattr(memory_plugin, "detect", lambda settings: GONE)
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=5000)


def test_a_machine_whose_state_cannot_be_read_is_greyed_with_why(qtbot):
    model = InventoryModel()
    model.apply(("localhost", "qemu"), "QEMU", [
        MachineSummary("qemu", "a", "fine", PowerState.OFF),
        MachineSummary("qemu", "b", "damaged", PowerState.UNKNOWN)])
    group = model.index(0, 0)
    fine, damaged = model.index(0, 0, group), model.index(1, 0, group)
    assert fine.data(Qt.ItemDataRole.ForegroundRole) is None
    assert damaged.data(Qt.ItemDataRole.ForegroundRole) == grey()
    assert "cannot read this machine's state" in damaged.data(Qt.ItemDataRole.ToolTipRole)
    assert damaged.flags() & Qt.ItemFlag.ItemIsSelectable  # it can still be deleted


def test_a_machine_the_backend_cannot_read_shows_the_backends_reason(qtbot):
    model = InventoryModel()
    reason = "Its record /lib/x/machine.json cannot be read (bad JSON)"
    model.apply(("localhost", "qemu"), "QEMU", [
        MachineSummary("qemu", "x", "x", PowerState.UNKNOWN, problem=reason)])
    damaged = model.index(0, 0, model.index(0, 0))
    assert damaged.data(Qt.ItemDataRole.ForegroundRole) == grey()
    assert reason in damaged.data(Qt.ItemDataRole.ToolTipRole)
    row = [model.index(0, column, model.index(0, 0)).data() for column in range(7)]
    assert row[4:] == ["", "", ""]  # OS, CPUs, memory: not known, so not "0 MiB"
