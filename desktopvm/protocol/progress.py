"""Progress reporting and cooperative cancellation for long backend operations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from desktopvm.protocol.errors import OperationCancelled


class Progress(Protocol):
    """Called with a fraction 0..1 (None while unknown) and a short stage text."""

    def __call__(self, fraction: float | None, stage: str, /) -> None: ...


def no_progress(fraction: float | None, stage: str, /) -> None:
    """A progress callback that ignores reports."""


class CancelToken:
    """Set once by whoever wants an operation to stop; checked and obeyed by the operation.

    Runners register a callback (e.g. kill the child process) with `on_cancel`, so a
    blocking wait ends at once instead of at the next check.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the operation to stop; runs the registered callbacks once."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def raise_if_cancelled(self) -> None:
        """Raise OperationCancelled if cancel() was called."""
        if self._event.is_set():
            raise OperationCancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking early on cancel; True if cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` on cancel (at once if already cancelled); returns its unregistering."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


def scaled_progress(progress: Progress, start: float, span: float) -> Progress:
    """Report a sub-step's 0..1 progress as `start`..`start + span` of the whole operation."""
    def report(fraction: float | None, stage: str, /) -> None:
        progress(None if fraction is None else start + span * fraction, stage)
    return report
