"""The main window as a desktop app (issue 13): fits 1366x768, keeps the list's share, remembers
its layout, Help and shortcuts, Quit closes consoles, double-click/Enter, selection after delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QMainWindow, QMessageBox

from desktopvm import __version__
from desktopvm.jobs import JobRunner
from desktopvm.protocol import CancelToken, PowerState, no_progress
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.ui.inventory_model import BACKEND, CPUS, HOST, STATE
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.widget_lists import top_level_widgets
from tests.ui.test_main_window import MEMORY, add, backend, refreshed, select


@pytest.fixture
def runner(qtbot):
    runner = JobRunner()
    yield runner
    runner.cancel_all()
    runner.wait_for_done(10_000)


def make_window(qtbot, runner, tmp_path: Path) -> MainWindow:
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(MEMORY,))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, runner, tmp_path: Path) -> MainWindow:
    return make_window(qtbot, runner, tmp_path)


def test_fits_a_1366x768_screen_and_the_list_keeps_its_share(qtbot, window):
    add(window, "a machine with a long enough name")
    refreshed(qtbot, window, 1)
    select(qtbot, window, window.current_machine().id if window.current_machine() else
           backend(window).list_machines()[0].id)
    qtbot.wait(200)  # the details are shown: they used to hold the window 752 px tall
    hint = window.minimumSizeHint()
    assert hint.height() <= 600 and hint.width() <= 800, hint
    window.resize(1366 - 40, 768 - 80)  # a laptop screen, less a panel and the title bar
    qtbot.wait(50)
    assert window.height() == 768 - 80
    window.resize(900, 560)
    qtbot.wait(50)
    assert window.size().height() == 560
    assert window.tree.width() >= window.splitter.width() * 0.5  # the list is what matters
    assert window.tree.header().isSectionHidden(BACKEND)  # the group row says them
    assert window.tree.header().isSectionHidden(HOST)


def test_size_splitter_columns_and_sort_are_remembered(qtbot, runner, tmp_path, desktopvm_home):
    first = make_window(qtbot, runner, tmp_path)
    first.resize(710, 520)  # within the offscreen platform's 800x600 screen
    first.splitter.setSizes([700, 300])
    first.tree.header().setSectionHidden(CPUS, True)
    first.tree.header().setSectionHidden(HOST, False)
    first.tree.sortByColumn(STATE, Qt.SortOrder.DescendingOrder)
    qtbot.wait(50)
    sizes = first.splitter.sizes()
    first.close()
    assert (desktopvm_home / "window.ini").is_file()
    second = make_window(qtbot, runner, tmp_path)
    qtbot.wait(50)
    assert (second.width(), second.height()) == (710, 520)
    assert abs(second.splitter.sizes()[0] - sizes[0]) <= 2
    header = second.tree.header()
    assert header.isSectionHidden(CPUS) and not header.isSectionHidden(HOST)
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == \
        (STATE, Qt.SortOrder.DescendingOrder)
    assert second.proxy.sortColumn() == STATE


def test_help_menu_about_and_the_preferences_shortcut(qtbot, window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert "&Help" in titles
    assert QKeySequence("Ctrl+,") in window.preferences_action.shortcuts()
    window.about_action.trigger()
    qtbot.waitUntil(lambda: any(w.objectName() == "about-dialog" and w.isVisible()
                                for w in top_level_widgets()), timeout=3000)
    box = next(w for w in top_level_widgets() if w.objectName() == "about-dialog")
    assert isinstance(box, QMessageBox)
    assert f"DesktopVM {__version__}" in box.text()
    assert "README.md" in box.text()  # the documentation link, in a checkout
    box.close()


def test_quit_closes_the_consoles_and_dialogs_too(qtbot, window):
    console = QMainWindow(window)  # stands in for a console window, registered as they are
    window.__dict__.setdefault("_console_windows", []).append(console)
    console.show()
    dialog = QDialog(window)
    window.operations._keep(dialog)
    assert console.isVisible() and dialog.isVisible()
    window.close()
    assert not window.isVisible()
    assert not console.isVisible() and not dialog.isVisible()


def test_double_click_or_enter_starts_a_stopped_machine_and_shows_a_running_one(qtbot, window):
    machine_id = add(window, "gesture")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    window.tree.setFocus()
    qtbot.keyClick(window.tree, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: backend(window).get_machine(machine_id).state is PowerState.RUNNING,
                    timeout=5000)
    qtbot.waitUntil(lambda: window.current_machine() is not None and
                    window.current_machine().state is PowerState.RUNNING, timeout=5000)
    shown: list[str] = []
    mem = backend(window)
    capabilities = mem.capabilities().model_copy(update={"screenshot": True})
    mem.capabilities = lambda: capabilities  # a console to show
    refreshed(qtbot, window, 1)
    assert window.machine_actions["console"].isEnabled()
    window.operations.do_console = lambda machines: shown.append(machines[0].id)
    index = window.tree.currentIndex()
    rect = window.tree.visualRect(index)
    with qtbot.waitSignal(window.tree.doubleClicked, timeout=2000):
        qtbot.mouseClick(window.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(window.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert shown == [machine_id]
    assert backend(window).get_machine(machine_id).state is PowerState.RUNNING


def test_after_delete_the_neighbour_is_selected(qtbot, window):
    ids = [add(window, name) for name in ("alpha", "bravo", "charlie")]
    refreshed(qtbot, window, 3)
    select(qtbot, window, ids[1])
    backend(window).delete(ids[1], delete_disks=False, progress=no_progress,
                           cancel=CancelToken())
    refreshed(qtbot, window, 2)
    assert [m.name for m in window.selected_machines()] == ["charlie"]
    backend(window).delete(ids[2], delete_disks=False, progress=no_progress,
                           cancel=CancelToken())
    refreshed(qtbot, window, 1)
    assert [m.name for m in window.selected_machines()] == ["alpha"]
