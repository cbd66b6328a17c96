"""Runs blocking backend calls on a thread pool and reports through Qt signals.

The GUI thread never waits: `JobRunner.submit` returns a `Job` at once. The work runs on a
bounded QThreadPool; its progress and outcome come back as signals emitted on the GUI
thread. Jobs that name the same machine run one at a time, in order.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Hashable
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from desktopvm.protocol import CancelToken, OperationCancelled, Progress

log = logging.getLogger(__name__)

Work = Callable[[Progress, CancelToken], Any]
MAX_WAITING_JOBS = 16  # shutdowns being watched at once (each mostly sleeps)


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_done(self) -> bool:
        """Whether the job has ended, one way or another."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class _Relay(QObject):
    """Carries reports from the worker thread to the Job on the GUI thread (queued)."""

    progressed = Signal(object, str)
    ended = Signal(bool, object)


class Job(QObject):
    """A handle on one submitted operation.

    Signals (all emitted on the GUI thread):
        progress(fraction: float | None, stage: str)
        succeeded(result: object)
        failed(error: BaseException)  -- OperationCancelled when cancelled
        finished()                    -- after succeeded or failed, always
        changed()                     -- state, progress or stage changed
    """

    progress = Signal(object, str)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()
    changed = Signal()

    _ids = itertools.count(1)

    def __init__(self, title: str, work: Work, machine_key: Hashable | None,
                 parent: QObject | None = None, *, background: bool = False) -> None:
        super().__init__(parent)
        self.id = next(self._ids)
        self.title = title
        self.background = background  # housekeeping (refresh, previews): not listed to users
        self.machine_key = machine_key
        self.state = JobState.QUEUED
        self.fraction: float | None = None
        self.stage = ""
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancel_token = CancelToken()
        self._work = work
        self._relay = _Relay()
        self._relay.progressed.connect(self._on_progress)
        self._relay.ended.connect(self._on_ended)

    def cancel(self) -> None:
        """Ask the job to stop. A queued job ends at once; a running one when its work obeys."""
        self.cancel_token.cancel()
        if self.state is JobState.QUEUED:
            self._on_ended(False, OperationCancelled())

    # -- worker side ---------------------------------------------------------------------
    def _run_in_worker(self) -> None:
        """Runs in a pool thread: calls the work and relays its outcome."""
        def report(fraction: float | None, stage: str, /) -> None:
            self._relay.progressed.emit(fraction, stage)

        try:
            self.cancel_token.raise_if_cancelled()
            outcome = self._work(report, self.cancel_token)
        except BaseException as error:  # every failure, even a bug, must reach the GUI
            if not isinstance(error, Exception):
                log.error("job %r was interrupted by %r", self.title, error)
            self._relay.ended.emit(False, error)
        else:
            self._relay.ended.emit(True, outcome)

    # -- GUI side ------------------------------------------------------------------------
    @Slot(object, str)
    def _on_progress(self, fraction: float | None, stage: str) -> None:
        if self.state.is_done:
            return
        self.fraction = fraction
        self.stage = stage or self.stage
        self.progress.emit(fraction, self.stage)
        self.changed.emit()

    @Slot(bool, object)
    def _on_ended(self, ok: bool, value: object) -> None:
        if self.state.is_done:
            return
        if ok:
            self.state, self.result = JobState.SUCCEEDED, value
            self.fraction = 1.0
        else:
            assert isinstance(value, BaseException)
            self.error = value
            self.state = JobState.CANCELLED if isinstance(value, OperationCancelled) \
                else JobState.FAILED
            if self.state is JobState.FAILED:
                log.error("job %r failed: %s", self.title, value,
                          exc_info=(type(value), value, value.__traceback__))
        self.changed.emit()
        if ok:
            self.succeeded.emit(value)
        else:
            self.failed.emit(value)
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:
        self._job._run_in_worker()


class JobRunner(QObject):
    """Submits jobs to a bounded pool; serialises jobs on the same machine.

    Signals:
        job_added(job: Job)
    """

    job_added = Signal(object)

    def __init__(self, max_threads: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        # Jobs that mostly wait (a shutdown watching for the guest to turn off, up to 90 s)
        # get threads of their own, so they never hold up the user's operations or refreshes.
        self._waiters = QThreadPool(self)
        self._waiters.setMaxThreadCount(MAX_WAITING_JOBS)
        self._waiting_jobs: set[Job] = set()
        self._busy: set[Hashable] = set()
        self._waiting: dict[Hashable, deque[Job]] = {}
        self.jobs: list[Job] = []

    def submit(self, title: str, work: Work, *, machine_key: Hashable | None = None,
               background: bool = False, waits: bool = False) -> Job:
        """Run `work(progress, cancel)` off the GUI thread; returns its Job at once.

        Background jobs (refreshes, previews) are not kept in `jobs` once they end. `waits`:
        the work spends its time waiting (polling a state), so it runs beside the pool.
        """
        job = Job(title, work, machine_key, parent=self, background=background)
        if waits:
            self._waiting_jobs.add(job)
        job.finished.connect(lambda: self._on_finished(job))
        self.jobs.append(job)
        self.job_added.emit(job)
        if machine_key is not None and machine_key in self._busy:
            self._waiting.setdefault(machine_key, deque()).append(job)
        else:
            self._start(job)
        return job

    def active(self) -> list[Job]:
        """Jobs queued or running."""
        return [job for job in self.jobs if not job.state.is_done]

    def cancel_all(self) -> None:
        """Cancel every job that has not ended."""
        for job in self.active():
            job.cancel()

    def wait_for_done(self, timeout_ms: int = 30_000) -> bool:
        """Block until the pool is idle (for shutdown and tests only, never in a slot)."""
        return self._pool.waitForDone(timeout_ms) and self._waiters.waitForDone(timeout_ms)

    def _start(self, job: Job) -> None:
        if job.machine_key is not None:
            self._busy.add(job.machine_key)
        job.state = JobState.RUNNING
        job.changed.emit()
        pool = self._waiters if job in self._waiting_jobs else self._pool
        self._waiting_jobs.discard(job)
        pool.start(_Runnable(job))

    def _on_finished(self, job: Job) -> None:
        self._waiting_jobs.discard(job)  # one cancelled before it started
        if job.background:
            self.jobs.remove(job)
            job.deleteLater()
        key = job.machine_key
        if key is None:
            return
        queue = self._waiting.get(key)
        if queue is not None and job in queue:  # a queued job was cancelled: nothing started
            queue.remove(job)
            return
        self._busy.discard(key)
        while queue:
            following = queue.popleft()
            if not following.state.is_done:
                self._start(following)
                break
        if not queue:
            self._waiting.pop(key, None)
