"""A running machine's serial console: one connection, its scroll-back, and the tabs showing it.

Where it lives: one `SerialLog` per machine in the main window (`serial_log_for`), created
when the machine's console is first opened (or at start, by `window.follow_serial`). It keeps
reading while no console window is open, so a console opened again shows what the guest
printed meanwhile. It keeps the last `SCROLLBACK_BYTES` of output (trimmed at a line start),
and is dropped when its connection ends (the machine stopped) and no tab shows it any more.

Threads: a worker thread per connection reads the socket and hands plain bytes to an `Inbox`;
it never calls Qt. A timer on the GUI thread takes them, appends them to the scroll-back and
feeds the tabs' terminals a slice at a time, within a time budget per tick, so a flood of
output never freezes the window.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Protocol

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from desktopvm.protocol import MachineSummary, SerialEndpoint
from desktopvm.serial_link import SerialConnection, connect_serial
from desktopvm.ui.console.handoff import Inbox

SCROLLBACK_BYTES = 256 * 1024  # about 5000 lines of boot messages, what the terminal keeps
TICK_MS = 16
FEED_BUDGET_S = 0.008  # terminal work per tick: half of it, so input and paints keep flowing
FEED_SLICE = 4096
LAG_LIMIT = 64 * 1024  # a tab this far behind stops the intake: the guest waits, nothing is lost
CLOSED_MESSAGE = "The serial console closed"


class _FeedBudget:
    """Terminal work per tick, shared by every log: floods on several machines together
    still leave the GUI thread half of each tick for input and painting."""

    def __init__(self) -> None:
        self._window_start = 0.0
        self._used = 0.0

    def deadline(self) -> float:
        """When the current caller must stop feeding."""
        now = time.perf_counter()
        if now - self._window_start >= TICK_MS / 1000:
            self._window_start, self._used = now, 0.0
        return now + max(0.0, FEED_BUDGET_S - self._used)

    def spend(self, seconds: float) -> None:
        """Count feeding time against the current tick."""
        self._used += seconds


_BUDGET = _FeedBudget()


class Reader(Protocol):
    """What a log feeds: a terminal tab (SerialPage)."""

    position: int  # offset in the log's stream up to which this reader was fed

    def feed_log(self, data: bytes) -> None:
        """Show the next bytes of the stream."""


class _Connection:
    """One connection's worker thread: reads the endpoint into an Inbox (plain Python only)."""

    def __init__(self, endpoint: SerialEndpoint) -> None:
        self.inbox = Inbox(LAG_LIMIT)
        self._endpoint = endpoint
        self._sock: SerialConnection | None = None
        self._lock = threading.Lock()  # guards _sock against close() from the GUI thread
        self.thread = threading.Thread(target=self._work, name="serial-reader", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            sock = connect_serial(self._endpoint)
        except Exception as error:  # any failure ends the session and is shown
            self.inbox.post("closed", str(error))
            return
        with self._lock:
            if not self.inbox.is_open:  # closed while connecting
                sock.close()
                return
            self._sock = sock
        self.inbox.post("connected")
        try:
            while chunk := sock.recv(65536):
                if not self.inbox.put(chunk):
                    break
            message = CLOSED_MESSAGE
        except Exception as error:  # any failure ends the session and is shown
            message = str(error) or CLOSED_MESSAGE
        self.inbox.post("closed", message)
        with self._lock:
            self._sock = None
        sock.close()

    def send(self, data: bytes) -> None:
        """GUI thread: type into the guest (a few bytes; the socket buffer takes them)."""
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.sendall(data)

    def close(self) -> None:
        """GUI thread: end the connection without waiting for the worker (it ends by itself)."""
        self.inbox.close()
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SerialLog(QObject):
    """A serial endpoint's byte stream with scroll-back, feeding terminal tabs.

    Signals (GUI thread): connected(); closed(message).
    """

    connected = Signal()
    closed = Signal(str)

    def __init__(self, endpoint: SerialEndpoint, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.buffer = bytearray()  # the scroll-back: stream bytes [start, end)
        self.start = 0
        self.is_connected = False
        self.is_closed = False
        self.readers: list[Reader] = []
        self._connection = _Connection(endpoint)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @property
    def end(self) -> int:
        """Offset just past the last byte received."""
        return self.start + len(self.buffer)

    # -- readers -------------------------------------------------------------------------------
    def attach(self, reader: Reader) -> None:
        """Feed `reader` from the start of the scroll-back, then live."""
        reader.position = self.start
        self.readers.append(reader)
        self._timer.start()  # it may have stopped after the connection ended

    def detach(self, reader: Reader) -> None:
        """Stop feeding `reader`."""
        if reader in self.readers:
            self.readers.remove(reader)

    def send(self, data: bytes) -> None:
        """Type into the guest."""
        self._connection.send(data)

    def reconnect(self) -> None:
        """Connect again (the machine restarted, say), keeping the scroll-back."""
        self._connection.close()
        self.is_connected = self.is_closed = False
        self._connection = _Connection(self.endpoint)
        self._timer.start()

    def close(self) -> None:
        """End the connection; the log stays readable."""
        self._connection.close()
        self._timer.stop()
        self.is_connected = False
        self.is_closed = True

    # -- GUI thread tick -----------------------------------------------------------------------
    def _tick(self) -> None:
        lagging = any(self.end - r.position >= LAG_LIMIT for r in self.readers)
        if not lagging:  # else the worker waits in Inbox.put until the tabs catch up
            for item in self._connection.inbox.take():
                self._apply(item)
        self._feed_readers()

    def _apply(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "data":
            self.buffer += item[1]
            self._trim()
        elif kind == "connected":
            self.is_connected = True
            self.connected.emit()
        elif kind == "closed":
            self.is_connected = False
            self.is_closed = True
            self.closed.emit(item[1])

    def _trim(self) -> None:
        excess = len(self.buffer) - SCROLLBACK_BYTES
        if excess > 0:
            newline = self.buffer.find(b"\n", excess)  # replay starts at a line's start
            cut = excess if newline < 0 else newline + 1
            del self.buffer[:cut]
            self.start += cut

    def _feed_readers(self) -> None:
        began = time.perf_counter()
        deadline = _BUDGET.deadline()
        # A page deleted without closing (its window torn down by Qt) must not be fed: the
        # TerminalView under it is gone, and touching it raises in this timer slot.
        self.readers = [r for r in self.readers
                        if not isinstance(r, QObject) or shiboken6.isValid(r)]
        for reader in list(self.readers):
            while reader.position < self.end and time.perf_counter() < deadline:
                reader.position = max(reader.position, self.start)  # trimmed while it lagged
                offset = reader.position - self.start
                data = bytes(self.buffer[offset:offset + FEED_SLICE])
                reader.position += len(data)
                reader.feed_log(data)
        _BUDGET.spend(time.perf_counter() - began)
        if self.is_closed and all(r.position >= self.end for r in self.readers):
            self._timer.stop()  # nothing more will come until a reconnect


def serial_log_for(owner: Any, machine: MachineSummary, endpoint: SerialEndpoint) -> SerialLog:
    """The main window's log for `machine`: the running one, or one started now."""
    logs: dict[tuple[str, str, str], SerialLog] = owner.__dict__.setdefault("_serial_logs", {})
    log = logs.get(machine.key)
    if log is not None and log.endpoint == endpoint:
        if log.is_closed:  # a tab still shows the ended session: continue it
            log.reconnect()
        return log
    if log is not None:  # the machine's endpoint changed: that session is over
        log.close()
        log.deleteLater()
    log = SerialLog(endpoint)
    logs[machine.key] = log
    log.closed.connect(lambda _m: release(owner, log))
    return log


def release(owner: Any, log: SerialLog) -> None:
    """Drop `log` once its connection has ended and no tab shows it (else keep it)."""
    if not log.is_closed or log.readers:
        return
    logs: dict[tuple[str, str, str], SerialLog] = owner.__dict__.get("_serial_logs", {})
    for key, kept in list(logs.items()):
        if kept is log:
            del logs[key]
    log.close()
    log.deleteLater()
