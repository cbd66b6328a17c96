"""Small things a first-time user hits (issue 13): the keyboard's context menu on the list, a new
clone selected, access keys in the questions, what the Settings job did, the docs of an
installed copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMenu

from desktopvm.jobs import JobState
from desktopvm.protocol import MachineSummary, PowerState
from desktopvm.ui import help_menu
from desktopvm.ui.dialogs import DeleteDialog
from desktopvm.ui.jobs_panel import DETAILS
from desktopvm.ui.widget_lists import top_level_widgets
from tests.ui.test_main_window import add, backend, confirm_box, refreshed, select, window
from tests.ui.test_settings_dialog import foreground_jobs, iso, ok_button, open_settings
from tests.ui.test_wizard_steps import access_key

__all__ = ["iso", "open_settings", "window"]  # fixtures, used by name


def open_menu() -> QMenu | None:
    return next((w for w in top_level_widgets()
                 if isinstance(w, QMenu) and w.isVisible()), None)


# A popup menu grabs the keyboard; the offscreen platform says it cannot.
@pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard")
@pytest.mark.parametrize(("key", "modifier"), [
    (Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier),
    (Qt.Key.Key_Menu, Qt.KeyboardModifier.NoModifier),
])
def test_the_keyboard_opens_the_machine_menu_at_the_current_row(qtbot, window, key, modifier):
    add(window, "alpha")
    beta = add(window, "beta")
    refreshed(qtbot, window, 2)
    select(qtbot, window, beta)
    window.tree.setFocus()
    asked: list[QPoint] = []
    window.tree.customContextMenuRequested.connect(asked.append)
    qtbot.keyClick(window.tree, key, modifier)
    qtbot.waitUntil(lambda: open_menu() is not None, timeout=2000)
    menu = open_menu()
    assert menu is not None
    assert window.machine_actions["start"] in menu.actions()  # the machine's, not the host's
    [where] = asked
    assert window.tree.indexAt(where).siblingAtColumn(0).data() == "beta"
    menu.close()


def test_a_new_clone_is_selected(qtbot, window):
    original = add(window, "web")
    refreshed(qtbot, window, 1)
    select(qtbot, window, original)
    window.operations.do_clone(window.selected_machines())
    dialog = window.operations.open_dialogs[-1]
    dialog.name.setText("web-2")
    dialog.accept()
    qtbot.waitUntil(lambda: window.current_machine() is not None and
                    window.current_machine().name == "web-2", timeout=5000)


def test_the_delete_question_answers_from_the_keyboard(qtbot):
    machine = MachineSummary("memory", "m1", "web", PowerState.OFF)
    dialog = DeleteDialog([machine], ["/vms/web/disk0.qcow2"])
    qtbot.addWidget(dialog)
    keys = [access_key(dialog.delete_button.text()), access_key(dialog.delete_disks.text())]
    assert all(keys) and len(set(keys)) == 2 and "c" not in keys  # c: Cancel, on some desktops


@pytest.mark.parametrize("what", ["poweroff", "restore"])
def test_power_off_and_restore_questions_have_access_keys(qtbot, window, what):
    machine_id = add(window, "busy", start=True)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    if what == "poweroff":
        window.machine_actions["poweroff"].trigger()
    else:
        window.operations.restore_snapshot("snap-1")
    box = confirm_box(qtbot)
    action = next(b for b in box.buttons() if b is not box.defaultButton())
    assert access_key(action.text()) not in (None, "c"), action.text()
    box.defaultButton().click()  # keep: nothing happens
    assert backend(window).get_machine(machine_id).state is PowerState.RUNNING


def test_the_settings_job_says_what_it_changed(open_settings, qtbot):
    dialog, _ = open_settings()
    dialog.resources.memory.spin.setValue(3072)
    dialog.resources.cpus.spin.setValue(4)
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    [job] = foreground_jobs(dialog)
    assert job.state is JobState.SUCCEEDED
    assert job.stage == "Settings changed: memory, processors"
    from desktopvm.ui.jobs_panel import JobsModel

    model = JobsModel(dialog.runner)  # as the panel shows it
    model._add(job)
    assert model.index(0, DETAILS).data() == "Settings changed: memory, processors"


def test_an_installed_copy_opens_the_readme_it_was_installed_with(qtbot, window, tmp_path,
                                                                  monkeypatch, desktopvm_home):
    monkeypatch.setattr(help_menu, "SOURCE_README", tmp_path / "no-source" / "README.md")
    # The installed copy's metadata, as a wheel install has it (the test run's own editable
    # install is found through sys.path and the working folder, which other tests may move).
    import email.message
    import importlib.metadata

    meta = email.message.Message()
    meta["Name"] = "desktopvm"
    meta.set_payload("# DesktopVM\n\nThe README the wheel was built with.\n")
    real_metadata = importlib.metadata.metadata
    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: meta
                        if name == "desktopvm" else real_metadata(name))
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", opened.append)
    help_menu.show_docs(window)
    [url] = opened
    shown = url.toLocalFile()
    assert shown.startswith(str(desktopvm_home))
    assert Path(shown).read_text(encoding="utf-8").startswith("# DesktopVM")
    box = help_menu.show_about(window)
    assert shown in box.text()  # where it is, in words
    box.close()
    monkeypatch.setattr(help_menu, "DISTRIBUTION", "no-such-distribution")
    assert help_menu.docs_location() is None
    box = help_menu.show_about(window)
    assert "not installed" in box.text()
    box.close()

