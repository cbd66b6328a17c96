"""Machine names in the GUI: shown with control characters escaped wherever they appear, and the
clone dialog proposes a name within the limit and checks the typed one by the naming rule."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from desktopvm.model import MAX_NAME_LENGTH, MachineSpec, generic_capabilities, name_problems
from desktopvm.protocol import BackendError, MachineInfo, MachineSummary, PowerState, Snapshot
from desktopvm.ui.details_pane import DetailsPane
from desktopvm.ui.dialogs import CloneDialog, DeleteDialog, confirm
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.inventory_model import NAME, InventoryModel

EVIL = "evil\x1b]0;pwned\x07\x9b31m\x85\u202e\nrow"
SHOWN = "evil\\x1b]0;pwned\\x07\\x9b31m\\x85\\u202e\\nrow"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def summary(name: str, backend: str = "qemu") -> MachineSummary:
    return MachineSummary(backend, "m1", name, PowerState.OFF, os="debian12", cpus=1,
                          memory_mib=512)


def test_the_inventory_shows_names_escaped():
    model = InventoryModel()
    model.apply(("localhost", "qemu"), "QEMU", [summary(EVIL)])
    index = model.index(0, NAME, model.index(0, 0))
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == SHOWN
    assert model.data(index, Qt.ItemDataRole.ToolTipRole) == f"{SHOWN}\nm1"
    assert model.machine_names("qemu", "localhost") == [EVIL]  # the data stays the data


def test_the_details_pane_shows_name_and_snapshots_escaped(qtbot):
    pane = DetailsPane()
    qtbot.addWidget(pane)
    snapshot = Snapshot("s1", f"snap{EVIL}", "line one\nline\x1b two", "2026-01-01T00:00:00Z")
    pane.show_machine(MachineInfo(summary(EVIL), MachineSpec(id="m1", name="web"),
                                  snapshots=(snapshot,), current_snapshot="s1"))
    assert pane.title.text() == SHOWN
    assert pane.title.textFormat() is Qt.TextFormat.PlainText
    item = pane.snapshot_tree.topLevelItem(0)
    assert item is not None
    assert item.text(0).startswith(f"snap{SHOWN}")
    assert item.text(2) == "line one\\nline\\x1b two"


def test_dialogs_and_errors_show_names_escaped(qtbot):
    delete = DeleteDialog([summary(EVIL)], [])
    qtbot.addWidget(delete)
    [question] = [label for label in delete.findChildren(QLabel) if "Delete" in label.text()]
    assert SHOWN in question.text() and not RAW.search(question.text())
    box = show_error(None, f"Could not start {EVIL}",
                     BackendError(f"{EVIL} is running", f"stderr: {EVIL}\nsecond line"))
    qtbot.addWidget(box)
    for text in (box.windowTitle(), box.text(), box.detailedText()):
        assert "evil\\x1b" in text and not RAW.search(text), text
    assert "\nsecond line" in box.detailedText()
    assert box.textFormat() is Qt.TextFormat.PlainText
    asked = confirm(QApplication.activeWindow() or delete, "Power off", f"Power off {SHOWN}?",
                    "Power off", lambda: None)
    assert asked.textFormat() is Qt.TextFormat.PlainText
    asked.close()
    box.close()


@pytest.mark.parametrize(("length", "limit"), [(195, MAX_NAME_LENGTH), (200, MAX_NAME_LENGTH),
                                               (98, 100)])
def test_the_proposed_copy_name_stays_within_the_limit(qtbot, length: int, limit: int):
    caps = generic_capabilities().model_copy(update={"max_name_length": limit})
    dialog = CloneDialog(summary("n" * length), False, capabilities=caps)
    qtbot.addWidget(dialog)
    proposed = dialog.name.text()
    assert proposed.endswith(" (copy)") and len(proposed) == min(length + 7, limit)
    assert name_problems(proposed, caps) == []
    assert dialog.ok.isEnabled() and not dialog.problem.isVisibleTo(dialog)


def test_a_copy_of_a_name_with_control_characters_gets_a_valid_name(qtbot):
    dialog = CloneDialog(summary(EVIL), False)
    qtbot.addWidget(dialog)
    assert dialog.name.text() == f"{SHOWN} (copy)" and dialog.ok.isEnabled()
    assert not RAW.search(dialog.windowTitle())


@pytest.mark.parametrize(("typed", "message"), [
    ("", "Give the machine a name"), ("   ", "Give the machine a name"),
    (" lead", "begin or end with spaces"), ("tab\there", "control characters"),
    ("ne\x85l", "control characters"), ("x" * (MAX_NAME_LENGTH + 1), "longer than 200"),
    ("WEB", "already called web"),
])
def test_the_clone_dialog_checks_the_typed_name_by_the_rule(qtbot, typed: str, message: str):
    dialog = CloneDialog(summary("web"), False, taken=["web", "db"])
    qtbot.addWidget(dialog)
    dialog.name.setText(typed)
    assert not dialog.ok.isEnabled()
    assert dialog.problem.isVisibleTo(dialog) and message in dialog.problem.text()
    assert not RAW.search(dialog.problem.text())
    dialog.name.setText("web 2")
    assert dialog.ok.isEnabled() and not dialog.problem.isVisibleTo(dialog)

