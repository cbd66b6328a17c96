"""A details job that answers after its window was deleted touches nothing (a CI run caught
'InventoryView already deleted' from such a late answer)."""

from __future__ import annotations

import threading

import shiboken6

from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.ui import main_window as main_window_module
from desktopvm.ui.main_window import MainWindow
from tests.ui.test_main_window import MEMORY, add, refreshed, runner  # noqa: F401 (fixture)


def test_a_details_answer_after_the_window_went_is_dropped(qtbot, runner, tmp_path,  # noqa: F811
                                                          monkeypatch):
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(MEMORY,))
    window = MainWindow(registry, runner)  # not given to qtbot: this test deletes it itself
    window.show()
    machine_id = add(window, "late")
    refreshed(qtbot, window, 1)
    release, reading = threading.Event(), threading.Event()
    from desktopvm.ui.details_reader import read_details as real

    def slow(registry, machine):  # the disk (or a share) takes its time
        reading.set()
        release.wait(10)
        return real(registry, machine)

    monkeypatch.setattr(main_window_module, "read_details", slow)
    window._details_job = None
    window.select(("localhost", "memory", machine_id))
    assert reading.wait(5)
    tree = window.tree
    window.deleteLater()  # gone while its job reads (Qt's own deferred delete)
    qtbot.waitUntil(lambda: not shiboken6.isValid(tree))
    with qtbot.captureExceptions() as raised:
        release.set()
        runner.wait_for_done(5000)
        qtbot.wait(50)  # the job's answer is delivered on this thread
    assert raised == []
