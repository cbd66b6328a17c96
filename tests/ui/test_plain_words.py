"""Small words read as people write them: "1 machine" / "3 machines" in the status bar, "5 s"
in Preferences, and a screenshot saved as "<machine>-<date>-<time>.png", not screenshot.png."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from desktopvm.jobs import JobRunner
from desktopvm.protocol import ConsoleEndpoints, MachineSummary, PowerState
from desktopvm.settings import Settings
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.window import screenshot_name
from desktopvm.ui.preferences_dialog import PreferencesDialog
from tests.ui.test_main_window import add, refreshed, window

__all__ = ["window"]  # the fixture, used by name


def test_the_status_bar_counts_machines_in_words(qtbot, window):
    add(window, "one")
    refreshed(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("1 machine"))
    assert window.statusBar().currentMessage() == "1 machine"
    add(window, "two")
    add(window, "three")
    refreshed(qtbot, window, 3)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "3 machines")


def test_the_refresh_interval_shows_whole_seconds_unless_it_has_a_fraction(qtbot):
    dialog = PreferencesDialog(Settings(refresh_interval_s=5.0), [])
    qtbot.addWidget(dialog)
    assert dialog.refresh.text() == "5 s"
    dialog.refresh.setValue(2.5)
    assert dialog.refresh.text() == "2.5 s"
    dialog.refresh.setValue(3600)
    assert dialog.refresh.text() == "3600 s"
    dialog.refresh.lineEdit().selectAll()
    qtbot.keyClicks(dialog.refresh, "12")  # typed whole seconds read back as such
    assert dialog.refresh.value() == 12.0
    assert dialog.edited().refresh_interval_s == 12.0


def test_screenshot_names_are_the_machine_and_the_moment_and_safe_as_file_names():
    when = datetime(2026, 12, 4, 21, 5, 9)
    assert screenshot_name("web", when) == "web-20261204-210509.png"
    assert screenshot_name("a/b:c*?\"<>|\\d", when) == "a_b_c_______d-20261204-210509.png"
    assert screenshot_name("..hidden.", when) == "hidden-20261204-210509.png"
    assert screenshot_name("\x1b[2J\u202e", when) == "__2J_-20261204-210509.png"
    assert screenshot_name("", when) == "screenshot-20261204-210509.png"
    assert screenshot_name("Überweisung (copy)", when).startswith("Überweisung (copy)-")


def test_the_save_dialog_proposes_the_machines_name(qtbot, monkeypatch, tmp_path):
    proposed: list[str] = []

    def ask(_parent, _title, name, _filter):
        proposed.append(name)
        return str(tmp_path / name), ""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", ask)
    runner = JobRunner(max_threads=1)
    owner = SimpleNamespace(registry=SimpleNamespace(open=lambda _n: None), runner=runner)
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    machine = MachineSummary("memory", "m1", "web/db", PowerState.RUNNING)
    pages = window.add_pages(machine, ConsoleEndpoints())  # a preview page
    picture = QImage(8, 8, QImage.Format.Format_RGB32)
    picture.fill(0)
    monkeypatch.setattr(pages[0], "picture", lambda: picture)
    assert window.save_screenshot()
    assert len(proposed) == 1 and proposed[0].startswith("web_db-")
    assert proposed[0].endswith(".png") and len(proposed[0]) == len("web_db-YYYYmmdd-HHMMSS.png")
    assert (tmp_path / proposed[0]).is_file()
    window.close()
    runner.cancel_all()
    runner.wait_for_done(5000)
