"""Each connection's state, its back-off after failures and the user's disconnects.

Background work (the inventory refresh) asks `due()` before contacting a host, so a host
that is down is tried again after 2, 4, 8 … seconds (at most five minutes) instead of on
every refresh, and the other hosts never wait for it. Wrong credentials and an untrusted
certificate are not retried by themselves — trying a wrong password again can lock the
account — until the user says so (`reconnect`). Thread-safe; listeners are called on the
thread that reported the change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from desktopvm.connections import Backoff, State, Status
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    CertificateNotTrusted,
    ConnectionLost,
    TimedOut,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Listener = Callable[[str, Status], None]

FIXES = {
    State.AUTH_FAILED: "Check the user name and password (Edit host), then Retry",
    State.UNTRUSTED: "Look at the certificate and trust it, or give the CA that signed it",
}


def classify(error: BaseException) -> tuple[State, str]:
    """Which state a failure puts a connection in, and the fix to show with it."""
    if isinstance(error, AuthenticationFailed):
        return State.AUTH_FAILED, FIXES[State.AUTH_FAILED]
    if isinstance(error, CertificateNotTrusted):
        return State.UNTRUSTED, error.install_hint or FIXES[State.UNTRUSTED]
    if isinstance(error, ConnectionLost | TimedOut | BackendUnavailable):
        return State.UNREACHABLE, getattr(error, "install_hint", "")
    return State.CONNECTED, ""  # the host answered; this one request failed


class ConnectionMonitor:
    """Statuses of every connection that has been used."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._status: dict[str, Status] = {}
        self._backoff: dict[str, Backoff] = {}
        self._errors: dict[str, BackendError] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(connection_id, status)` on every change; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def status(self, connection_id: str) -> Status:
        """The connection's status; CONNECTING before it has been used."""
        with self._lock:
            return self._status.get(connection_id) or Status(State.CONNECTING)

    def statuses(self) -> dict[str, Status]:
        """Every status known so far."""
        with self._lock:
            return dict(self._status)

    def last_error(self, connection_id: str) -> BackendError | None:
        """The failure behind the current status, if it is one."""
        with self._lock:
            return self._errors.get(connection_id)

    def disconnected(self, connection_id: str) -> bool:
        """Whether the user disconnected it."""
        return self.status(connection_id).state is State.DISCONNECTED

    def due(self, connection_id: str) -> bool:
        """Whether background work may contact it now."""
        status = self.status(connection_id)
        if status.state in (State.DISCONNECTED, State.AUTH_FAILED, State.UNTRUSTED):
            return False
        return status.retry_at <= self._clock()

    def succeeded(self, connection_id: str) -> Status:
        """A request reached the host and it answered (a request that was under way when the
        user disconnected does not connect it again)."""
        if self.disconnected(connection_id):
            return self.status(connection_id)
        with self._lock:
            self._backoff.pop(connection_id, None)
            self._errors.pop(connection_id, None)
        return self._set(connection_id, Status(State.CONNECTED))

    def failed(self, connection_id: str, error: BackendError) -> Status:
        """A request failed; unreachable hosts get the next back-off delay (a request that was
        under way when the user disconnected changes nothing)."""
        if self.disconnected(connection_id):
            return self.status(connection_id)
        state, fix = classify(error)
        if state is State.CONNECTED:
            return self._set(connection_id, Status(State.CONNECTED, reason=error.summary))
        retry_at = 0.0
        with self._lock:
            self._errors[connection_id] = error
            if state is State.UNREACHABLE:
                delay = self._backoff.setdefault(connection_id, Backoff()).next_delay()
                retry_at = self._clock() + delay
        log.info("connection %s: %s (%s)", connection_id, state.value, error.summary)
        return self._set(connection_id, Status(state, error.summary, fix, retry_at))

    def disconnect(self, connection_id: str) -> Status:
        """The user disconnected: nothing contacts the host until `reconnect`."""
        with self._lock:
            self._backoff.pop(connection_id, None)
            self._errors.pop(connection_id, None)
        return self._set(connection_id, Status(State.DISCONNECTED))

    def reconnect(self, connection_id: str) -> Status:
        """The user asked to try now (Retry, Connect, or after editing the host)."""
        with self._lock:
            self._backoff.pop(connection_id, None)
            self._errors.pop(connection_id, None)
        return self._set(connection_id, Status(State.CONNECTING))

    def forget(self, connection_id: str) -> None:
        """The host was removed."""
        with self._lock:
            self._status.pop(connection_id, None)
            self._backoff.pop(connection_id, None)
            self._errors.pop(connection_id, None)

    def guarded(self, connection_id: str, work: Callable[[], T]) -> T:
        """Run `work` if the connection is due, recording how it went; when it is not due,
        raise the failure it is waiting out (nothing is contacted)."""
        if not self.due(connection_id):
            status = self.status(connection_id)
            error = self.last_error(connection_id)
            if error is not None:
                raise error
            raise BackendUnavailable(f"{connection_id}: {status.line()}")
        try:
            result = work()
        except BackendError as error:
            self.failed(connection_id, error)
            raise
        self.succeeded(connection_id)
        return result

    def _set(self, connection_id: str, status: Status) -> Status:
        with self._lock:
            previous = self._status.get(connection_id)
            self._status[connection_id] = status
            listeners = list(self._listeners)
        if previous is None or (previous.state, previous.reason, previous.retry_at) != (
                status.state, status.reason, status.retry_at):
            for listener in listeners:
                try:
                    listener(connection_id, status)
                except Exception:  # one broken listener must not stop the others
                    log.exception("a connection listener failed")
        return status
