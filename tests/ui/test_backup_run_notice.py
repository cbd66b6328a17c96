"""A scheduled backup that failed while the app was closed is shown in the status bar, read
from the run log in a job, until the user dismisses it or a later run of the machine works."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from desktopvm.jobs import JobRunner
from desktopvm.paths import state_root
from desktopvm.registry import KnownBackend, Registry
from desktopvm.schedule import runs
from desktopvm.settings import Settings
from desktopvm.ui.backup.run_notice import RunNotice
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.widget_lists import top_level_widgets

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")


@pytest.fixture
def window(qtbot, tmp_path: Path):
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(MEMORY,))
    runner = JobRunner()
    made: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(registry, runner)
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    runner.cancel_all()
    runner.wait_for_done(10_000)


def notice(window: MainWindow) -> RunNotice:
    found = window.statusBar().findChild(RunNotice, "backup-run-notice")
    assert found is not None
    return found


def test_a_failed_scheduled_run_is_shown_until_dismissed(qtbot, window):
    runs.record("qemu:web", "/media/usb/backups", ok=False, scheduled=True,
                line="/media/usb/backups: no such folder (is the drive connected?)")
    first = window()
    label = notice(first)
    qtbot.waitUntil(lambda: not label.isHidden(), timeout=5000)
    assert "scheduled backup of qemu:web failed" in label.text()
    assert "drive connected" in label.toolTip()

    label.linkActivated.emit("details")
    box = next(w for w in top_level_widgets()
               if isinstance(w, QMessageBox) and w.isVisible())
    assert "/media/usb/backups" in box.text() and "drive connected" in box.text()
    box.close()

    label.linkActivated.emit("dismiss")
    assert label.isHidden()
    qtbot.waitUntil((state_root() / runs.SEEN_FILE).exists, timeout=5000)
    second = window()  # the next start: nothing new to say
    answered = notice(second).check()
    qtbot.waitUntil(lambda: answered.state.is_done, timeout=5000)
    assert answered.result == [] and notice(second).isHidden()

    runs.record("qemu:web", "/media/usb/backups", ok=False, scheduled=True, line="again")
    notice(second).check()  # what the ten-minute timer does
    qtbot.waitUntil(lambda: not notice(second).isHidden(), timeout=5000)


def test_runs_by_hand_and_runs_that_recovered_are_not_news(qtbot, window):
    runs.record("qemu:db", "/b", ok=False, line="shown in the terminal already")
    runs.record("qemu:web", "/b", ok=False, scheduled=True, line="host off")
    runs.record("qemu:web", "/b", ok=True, scheduled=True, line="full set A")
    label = notice(window())
    answered = label.check()
    qtbot.waitUntil(lambda: answered.state.is_done, timeout=5000)
    assert answered.result == [] and label.isHidden() and label.failures == []
