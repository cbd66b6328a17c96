"""The Operations panel (issue 13): new jobs scroll into view, a finished job says what it did,
a failed one looks failed, the panel folds away when empty, Shut down waits for off."""

from __future__ import annotations

import threading

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem

from desktopvm.jobs import JobState
from desktopvm.protocol import CommandFailed, PowerState
from desktopvm.ui import operations
from desktopvm.ui.jobs_panel import DETAILS, FAILED_COLOUR, PROGRESS, STATUS, ProgressDelegate
from tests.ui.test_main_window import add, backend, refreshed, select, window

__all__ = ["window"]  # the fixture, used by name


def row_of(window, job) -> int:
    model = window.jobs_panel.model
    return next(r for r in range(model.rowCount()) if model.job(r) is job)


def started_job(qtbot, window, key: str):
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        window.machine_actions[key].trigger()
    return added.args[0]


def test_a_finished_job_says_what_it_did(qtbot, window):
    machine_id = add(window, "worker")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    job = started_job(qtbot, window, "start")
    qtbot.waitUntil(lambda: job.state is JobState.SUCCEEDED, timeout=5000)
    model = window.jobs_panel.model
    assert model.index(row_of(window, job), DETAILS).data() == "Started (headless)"


def test_new_jobs_scroll_into_view(qtbot, window):
    machine_id = add(window, "busy")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    window.jobs_panel.view.setFixedHeight(90)  # room for a row or two
    machine = window.current_machine()
    jobs = [window.operations.submit(f"Job {n}", machine, lambda b, p, c: None, done="Did it")
            for n in range(12)]
    qtbot.waitUntil(lambda: all(job.state.is_done for job in jobs), timeout=5000)
    view = window.jobs_panel.view
    last = window.jobs_panel.model.index(window.jobs_panel.model.rowCount() - 1, 0)
    assert last.data() == "Job 11"
    assert view.viewport().rect().intersects(view.visualRect(last))
    assert view.verticalScrollBar().value() > 0


def test_a_failed_job_looks_failed_not_striped(qtbot, window, find_error_dialogs):
    machine_id = add(window, "broken")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)

    def fail(machine_id, mode=None):
        raise CommandFailed("QEMU could not start the machine: no KVM", exit_code=1)
    backend(window).start = fail
    job = started_job(qtbot, window, "start")
    qtbot.waitUntil(lambda: job.state is JobState.FAILED, timeout=5000)
    for box in find_error_dialogs():
        box.close()
    model = window.jobs_panel.model
    row = row_of(window, job)
    assert model.index(row, STATUS).data() == "Failed"
    assert model.index(row, DETAILS).data() == "QEMU could not start the machine: no KVM"
    assert model.index(row, DETAILS).data(Qt.ItemDataRole.ForegroundRole).color() == \
        FAILED_COLOUR
    # The progress cell draws no bar (a busy, striped bar once said "still working").
    assert painted_colours(model.index(row, PROGRESS)) == {QColor("white").rgba()}


def painted_colours(index) -> set[int]:
    image = QImage(160, 24, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 160, 24)
    ProgressDelegate().paint(painter, option, index)
    painter.end()
    return {image.pixel(x, y) for x in range(160) for y in range(24)}


def test_a_running_job_shows_its_progress_bar(qtbot, window):
    machine_id = add(window, "exporting")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    release = threading.Event()

    def work(backend, progress, cancel):
        progress(0.4, "Copying the disk")
        release.wait(10)
    job = window.operations.submit("Export exporting", window.current_machine(), work)
    qtbot.waitUntil(lambda: job.fraction == 0.4, timeout=3000)
    model = window.jobs_panel.model
    index = model.index(row_of(window, job), PROGRESS)
    assert index.data() == 40
    assert len(painted_colours(index)) > 2  # a bar, with its groove and its chunk
    release.set()
    qtbot.waitUntil(lambda: job.state.is_done, timeout=3000)
    assert painted_colours(index) == {QColor("white").rgba()}  # ended: no bar


def test_the_panel_folds_away_when_empty(qtbot, window):
    assert not window.jobs_dock.isVisible()
    machine_id = add(window, "brief")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    job = started_job(qtbot, window, "start")
    assert window.jobs_dock.isVisible()
    qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
    assert window.jobs_panel.clear_button.isEnabled()
    window.jobs_panel.clear_button.click()
    assert window.jobs_panel.model.rowCount() == 0
    assert not window.jobs_dock.isVisible()


def test_the_panel_folds_by_itself_when_every_job_went_well(qtbot, window, find_error_dialogs):
    window.jobs_panel.model.linger_ms = 20  # the app waits FINISHED_LINGER_MS
    machine_id = add(window, "idle")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    machine = window.current_machine()
    release = threading.Event()
    # Not on the machine: jobs on one machine run one after the other.
    slow = window.operations.submit("Slow", None, lambda b, p, c: release.wait(10), "memory",
                                    done="Slow done")
    quick = window.operations.submit("Quick", machine, lambda b, p, c: None, done="Did it")
    assert window.jobs_dock.isVisible()
    qtbot.waitUntil(lambda: window.jobs_panel.model.rowCount() == 1, timeout=5000)
    assert quick.state is JobState.SUCCEEDED
    assert window.jobs_panel.model.job(0) is slow  # still running: it stays
    assert window.jobs_dock.isVisible()
    release.set()
    qtbot.waitUntil(lambda: not window.jobs_dock.isVisible(), timeout=5000)
    assert window.jobs_panel.model.rowCount() == 0

    def fail(b, p, c):
        raise CommandFailed("the disk is full", exit_code=1)
    failed = window.operations.submit("Failing", machine, fail, on_failed=lambda e: None)
    window.operations.submit("Fine", machine, lambda b, p, c: None, done="Did it")
    qtbot.waitUntil(lambda: window.jobs_panel.model.rowCount() == 1, timeout=5000)
    qtbot.wait(100)  # five times the linger: a failed job is not swept away with the rest
    assert window.jobs_panel.model.job(0) is failed and failed.state is JobState.FAILED
    assert window.jobs_dock.isVisible()
    window.jobs_panel.clear_button.click()
    assert not window.jobs_dock.isVisible()


def test_shut_down_is_done_when_the_machine_is_off(qtbot, window, monkeypatch):
    monkeypatch.setattr(operations, "POLL_S", 0.05)
    machine_id = add(window, "slow guest", start=True)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    mem = backend(window)
    mem.shutdown = lambda machine_id: None  # the guest takes its time
    job = started_job(qtbot, window, "shutdown")
    qtbot.waitUntil(lambda: "waiting for it to turn off" in job.stage, timeout=3000)
    qtbot.wait(300)
    assert not job.state.is_done  # not done just because the button was sent
    mem.power_off(machine_id)  # the guest turns itself off
    qtbot.waitUntil(lambda: job.state is JobState.SUCCEEDED, timeout=3000)
    assert window.jobs_panel.model.index(row_of(window, job), DETAILS).data() == "Shut down"


def test_waiting_shutdowns_do_not_hold_up_other_operations(qtbot, window, monkeypatch):
    monkeypatch.setattr(operations, "POLL_S", 0.05)
    guests = [add(window, f"slow {n}", start=True) for n in range(5)]  # more than the pool
    quick = add(window, "quick")
    refreshed(qtbot, window, 6)
    mem = backend(window)
    mem.shutdown = lambda machine_id: None  # none of the guests turns off by itself
    waiting = [machine for machine in window.model.machines_of("memory")
               if machine.id in guests]
    window.operations.do_shutdown(waiting)
    jobs = list(window.operations._shutdowns.values())
    qtbot.waitUntil(lambda: all("waiting for it to turn off" in j.stage for j in jobs),
                    timeout=5000)
    select(qtbot, window, quick)
    started = started_job(qtbot, window, "start")
    qtbot.waitUntil(lambda: started.state is JobState.SUCCEEDED, timeout=5000)
    assert not any(j.state.is_done for j in jobs)  # still watching, beside the pool
    for machine_id in guests:
        mem.power_off(machine_id)
    qtbot.waitUntil(lambda: all(j.state is JobState.SUCCEEDED for j in jobs), timeout=5000)


def test_a_shutdown_the_guest_ignores_says_so(qtbot, window, monkeypatch):
    monkeypatch.setattr(operations, "POLL_S", 0.05)
    monkeypatch.setattr(operations, "SHUTDOWN_WAIT_S", 0.3)
    machine_id = add(window, "stubborn", start=True)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    backend(window).shutdown = lambda machine_id: None
    job = started_job(qtbot, window, "shutdown")
    qtbot.waitUntil(lambda: job.state.is_done, timeout=3000)
    assert job.state is JobState.SUCCEEDED
    assert "still running after" in job.stage and "Power off forces it" in job.stage
    assert backend(window).get_machine(machine_id).state is PowerState.RUNNING


def test_power_off_does_not_queue_behind_a_waiting_shutdown(qtbot, window, monkeypatch):
    monkeypatch.setattr(operations, "POLL_S", 0.05)
    machine_id = add(window, "hung", start=True)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    mem = backend(window)
    mem.shutdown = lambda machine_id: None
    waiting = started_job(qtbot, window, "shutdown")
    # Power off while the shutdown waits (not before its worker started: that would cancel
    # a shutdown that never pressed the button, a different case).
    qtbot.waitUntil(lambda: "waiting for it to turn off" in waiting.stage, timeout=3000)
    window.operations._simple([window.current_machine()], "Power off %1", "power_off",
                              "Powered off")
    qtbot.waitUntil(lambda: mem.get_machine(machine_id).state is PowerState.OFF, timeout=3000)
    qtbot.waitUntil(lambda: waiting.state.is_done, timeout=3000)
    assert "stopped waiting" in waiting.stage
