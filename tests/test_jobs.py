"""The job runner: work off the GUI thread, signals on it, per-machine order, cancel, failures."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from desktopvm.jobs import JobRunner, JobState
from desktopvm.protocol import CancelToken, CommandFailed, OperationCancelled, Progress


@pytest.fixture
def runner(qtbot):
    runner = JobRunner(max_threads=2)
    yield runner
    runner.cancel_all()
    assert runner.wait_for_done(10_000)


def test_success_delivers_result_and_progress_on_the_gui_thread(qtbot, runner):
    gui_thread = QThread.currentThread()
    seen_threads: list[object] = []
    reports: list[tuple[float | None, str]] = []

    def work(progress: Progress, cancel: CancelToken) -> str:
        seen_threads.append(threading.current_thread())
        progress(0.5, "halfway")
        return "done"

    job = runner.submit("work", work)
    job.progress.connect(lambda f, s: reports.append((f, s)))
    job.succeeded.connect(lambda _: seen_threads.append(QThread.currentThread()))
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert job.state is JobState.SUCCEEDED and job.result == "done"
    assert seen_threads[0] is not threading.main_thread()
    assert seen_threads[1] is gui_thread
    assert reports == [(0.5, "halfway")]


def test_every_exception_arrives_as_failed(qtbot, runner):
    def broken(progress, cancel):
        raise CommandFailed("VBoxManage failed", command=["VBoxManage", "list"], exit_code=1)

    def buggy(progress, cancel):
        return 1 / 0

    jobs = [runner.submit("broken", broken), runner.submit("buggy", buggy)]
    with qtbot.waitSignals([j.finished for j in jobs], timeout=5000):
        pass
    assert isinstance(jobs[0].error, CommandFailed)
    assert "exit code: 1" in jobs[0].error.details
    assert isinstance(jobs[1].error, ZeroDivisionError)
    assert [j.state for j in jobs] == [JobState.FAILED, JobState.FAILED]


def test_cancel_reaches_running_work(qtbot, runner):
    started = threading.Event()

    def wait_for_cancel(progress, cancel: CancelToken):
        started.set()
        cancel.wait(30)
        cancel.raise_if_cancelled()
        return "not cancelled"

    job = runner.submit("long", wait_for_cancel)
    assert started.wait(5)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        job.cancel()
    assert isinstance(blocker.args[0], OperationCancelled)
    assert job.state is JobState.CANCELLED


def test_jobs_on_one_machine_run_one_at_a_time_in_order(qtbot, runner):
    order: list[str] = []
    gate = threading.Event()
    running_together = []
    active = []

    def step(name: str, wait: bool):
        def work(progress, cancel):
            active.append(name)
            running_together.append(len(active))
            if wait:
                gate.wait(10)
            order.append(name)
            active.remove(name)
        return work

    first = runner.submit("first", step("first", True), machine_key="vm1")
    second = runner.submit("second", step("second", False), machine_key="vm1")
    third = runner.submit("third", step("third", False), machine_key="vm1")
    assert second.state is JobState.QUEUED
    gate.set()
    with qtbot.waitSignals([first.finished, second.finished, third.finished], timeout=5000):
        pass
    assert order == ["first", "second", "third"]
    assert max(running_together) == 1


def test_other_machines_are_not_held_up(qtbot, runner):
    gate = threading.Event()
    slow = runner.submit("slow", lambda p, c: gate.wait(10), machine_key="vm1")
    fast = runner.submit("fast", lambda p, c: "ok", machine_key="vm2")
    with qtbot.waitSignal(fast.succeeded, timeout=5000):
        pass
    assert slow.state is JobState.RUNNING
    gate.set()
    with qtbot.waitSignal(slow.finished, timeout=5000):
        pass


def test_cancelling_a_queued_job_ends_it_at_once_and_the_queue_moves_on(qtbot, runner):
    gate = threading.Event()
    ran = []
    first = runner.submit("first", lambda p, c: gate.wait(10), machine_key="vm")
    queued = runner.submit("queued", lambda p, c: ran.append("queued"), machine_key="vm")
    last = runner.submit("last", lambda p, c: ran.append("last"), machine_key="vm")
    with qtbot.waitSignal(queued.finished, timeout=1000):
        queued.cancel()
    assert queued.state is JobState.CANCELLED
    gate.set()
    with qtbot.waitSignals([first.finished, last.finished], timeout=5000):
        pass
    assert ran == ["last"]


def test_gui_thread_stays_free_while_work_blocks(qtbot, runner):
    gate = threading.Event()
    job = runner.submit("blocked", lambda p, c: gate.wait(10))
    # The event loop keeps running: a zero-delay timer fires while the work blocks.
    from PySide6.QtCore import QTimer
    timer = QTimer()
    timer.setSingleShot(True)
    with qtbot.waitSignal(timer.timeout, timeout=2000):
        timer.start(0)
    assert job.state is JobState.RUNNING
    gate.set()
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
