"""What the first paint of the main window does without: dialogs, the wizard, pydantic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from desktopvm.jobs import JobRunner
from desktopvm.ui.jobs_panel import JobsPanel

# Builds and shows the main window in a fresh interpreter, then reports what got loaded.
CHILD = r"""
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktopvm.jobs import JobRunner
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.ui.main_window import MainWindow
window = MainWindow(Registry(Settings()), JobRunner())
window.show()
app.processEvents()
import PySide6.QtWidgets as widgets
print(json.dumps({"modules": sorted(sys.modules),
                  "qt_classes": sorted(name for name in vars(widgets) if name.startswith("Q"))}))
"""

# Loaded on first use, by the handler that needs them (each is several ms at start-up).
DEFERRED_MODULES = {"desktopvm.ui.dialogs", "desktopvm.ui.wizard", "desktopvm.ui.settings_dialog",
                    "desktopvm.ui.preferences_dialog", "desktopvm.ui.console", "pydantic",
                    "desktopvm.model"}
# PySide builds a class's Python enums when the class is first imported: these wait too.
DEFERRED_QT_CLASSES = {"QMessageBox", "QFileDialog", "QDialog", "QStyle",
                       "QStyleOptionProgressBar"}


def test_the_first_paint_loads_no_dialog_wizard_or_model():
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            check=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    modules = set(loaded["modules"])
    assert not {m for m in modules for d in DEFERRED_MODULES
                if m == d or m.startswith(d + ".")}
    assert not DEFERRED_QT_CLASSES & set(loaded["qt_classes"])


def test_the_progress_column_paints_once_a_job_is_listed(qtbot, runner: JobRunner):
    panel = JobsPanel(runner)
    qtbot.addWidget(panel)
    panel.resize(700, 200)
    release = threading.Event()

    def copy(progress, cancel):
        progress(0.5, "half")
        release.wait(10)
    job = runner.submit("Copy", copy)
    qtbot.waitUntil(lambda: job.fraction == 0.5, timeout=5000)
    image = panel.view.viewport().grab()  # paints every cell, the progress bar included
    assert not image.isNull()
    release.set()
    qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
