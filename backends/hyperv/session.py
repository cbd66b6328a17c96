"""The one door to PowerShell: a long-lived session per host speaking framed JSON over stdin/stdout.

`PowerShellSession` owns one channel at a time (a local `powershell.exe` here, or a WinRM shell
from `winrm_transport`), starts it on first use, sends the scripts once, and then runs requests
one after another: thread-safe, each with a timeout and an optional CancelToken. A channel that
dies, hangs or garbles a reply is discarded; the request fails with a clear error and the next
request starts a fresh channel. A request whose reply was lost is never sent again by itself
(it may have run: ConnectionLost says its outcome is unknown) unless the caller marked it
idempotent (a read), which is retried once on a fresh channel. This is the only module of
the backend that starts processes.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from backends.hyperv import scripts
from backends.hyperv.errors import error_for
from backends.hyperv.framing import READY_ID, FramingError, Reply, encode_request, parse_frame
from desktopvm.protocol import (
    BackendUnavailable,
    CancelToken,
    ConnectionLost,
    OperationCancelled,
    TimedOut,
)

log = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT = 120.0  # a cold Hyper-V module load can take tens of seconds
DEFAULT_REQUEST_TIMEOUT = 120.0


def _nothing() -> None:
    """The unregistering of a cancel callback that was never registered."""


class ChannelClosed(Exception):
    """The far side went away (process exited, shell closed, connection dropped).

    `maybe_delivered`: a send failed in a way that leaves open whether the far side got the
    data (a connection dropped after the request was written); such a request is not resent.
    """

    def __init__(self, message: str = "", *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class Channel(Protocol):
    """A byte pipe to one running PowerShell: lines in, lines out."""

    description: str

    def open(self) -> None: ...
    def send(self, data: bytes) -> None: ...
    def receive(self, timeout: float) -> list[bytes]: ...
    def close(self) -> None: ...
    def diagnostics(self) -> str: ...


class LocalProcessChannel:
    """A local PowerShell process; stdout lines are pumped into a queue by a reader thread."""

    def __init__(self, executable: str, arguments: Sequence[str] | None = None) -> None:
        self.argv = [executable, *(scripts.powershell_arguments() if arguments is None
                                   else arguments)]
        self.description = f"{Path(executable).name} on this computer"
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._eof = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Start the process (BackendUnavailable when it cannot be started at all)."""
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
        try:
            process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, creationflags=flags)
        except OSError as error:
            raise BackendUnavailable(f"PowerShell could not be started: {error}",
                                     f"command: {self.argv[0]}") from error
        with self._lock:
            self._process = process
        self.description = f"{Path(self.argv[0]).name} (pid {process.pid})"
        self._threads = [
            threading.Thread(target=self._pump_stdout, args=(process,), daemon=True,
                             name=f"powershell-{process.pid}-stdout"),
            threading.Thread(target=self._pump_stderr, args=(process,), daemon=True,
                             name=f"powershell-{process.pid}-stderr"),
        ]
        for thread in self._threads:
            thread.start()

    def _pump_stdout(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            self._lines.put(line)
        self._lines.put(None)

    def _pump_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for line in iter(process.stderr.readline, b""):
            self._stderr.append(line.decode("utf-8", errors="replace").rstrip())

    def send(self, data: bytes) -> None:
        """Write a request line."""
        process = self._process
        if process is None or process.stdin is None:
            raise ChannelClosed("not started")
        try:
            process.stdin.write(data)
            process.stdin.flush()
        except (OSError, ValueError) as error:
            raise ChannelClosed(f"writing failed: {error}") from error

    def receive(self, timeout: float) -> list[bytes]:
        """Complete lines that arrived within `timeout` seconds ([] if none)."""
        if self._eof:
            raise ChannelClosed(self._exit_text())
        try:
            first = self._lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return []
        lines: list[bytes] = []
        item: bytes | None = first
        while True:
            if item is None:
                self._eof = True
                break
            lines.append(item)
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
        if not lines and self._eof:
            raise ChannelClosed(self._exit_text())
        return lines

    def _exit_text(self) -> str:
        process = self._process
        code = process.poll() if process is not None else None
        return f"{self.description} exited" + (f" with code {code}" if code is not None else "")

    def close(self) -> None:
        """Kill the process (if running) and release its pipes; safe from any thread."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.poll() is None:
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()

    def diagnostics(self) -> str:
        """The last lines PowerShell wrote to stderr."""
        return "\n".join(self._stderr)


class PowerShellSession:
    """One long-lived PowerShell per host; requests are serialised (see the module docstring)."""

    def __init__(self, channel_factory: Callable[[], Channel], *, host: str = "localhost",
                 start_timeout: float = DEFAULT_START_TIMEOUT,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.host = host
        self.start_timeout = start_timeout
        self.request_timeout = request_timeout
        self.starts = 0  # channels started so far (the benchmark counts them)
        self.requests = 0
        self.ready: dict[str, Any] = {}
        self._factory = channel_factory
        self._channel: Channel | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._noise: collections.deque[str] = collections.deque(maxlen=20)

    # -- public ----------------------------------------------------------------------------
    def request(self, op: str, args: Mapping[str, Any] | None = None, *,
                timeout: float | None = None, cancel: CancelToken | None = None,
                interruptible: bool = True, idempotent: bool = False) -> Any:
        """Run operation `op` with `args`; its result, or the typed error it raised.

        An interruptible request is aborted by `cancel` at once (the channel is discarded,
        OperationCancelled raised). A non-interruptible one always runs to its end: the caller
        checks `cancel` afterwards and undoes what it made. An `idempotent` request (one that
        only reads) whose channel is lost is sent once more on a fresh channel; any other is
        not, since it may have run.
        """
        if cancel is not None and interruptible:
            cancel.raise_if_cancelled()
        with self._lock:
            for attempt in (1, 2):
                request_id = next(self._ids)
                line = encode_request(request_id, op, args or {})
                channel = self._send(line, op, idempotent)
                self.requests += 1
                started = time.monotonic()
                unregister: Callable[[], None] = _nothing
                if cancel is not None and interruptible:
                    unregister = cancel.on_cancel(channel.close)
                try:
                    reply = self._await(channel, request_id, op,
                                        started + (timeout or self.request_timeout))
                    break
                except ChannelClosed as error:
                    self._discard(channel)
                    if cancel is not None and cancel.cancelled and interruptible:
                        raise OperationCancelled() from error
                    if idempotent and attempt == 1:
                        log.info("the connection to %s was lost during '%s' (a read); asking "
                                 "again on a new session", self.host, op)
                        continue
                    raise self._lost(op, idempotent, channel, error) from error
                finally:
                    unregister()
            log.debug("%s #%d on %s: %.3f s", op, request_id, self.host,
                      time.monotonic() - started)
        if not reply.ok:
            raise error_for(op, reply.error, self.host)
        return reply.result

    def ensure_started(self) -> dict[str, Any]:
        """Start the session now (if needed); what PowerShell said when it was ready."""
        with self._lock:
            self._ensure_started()
            return dict(self.ready)

    def close(self) -> None:
        """Stop the PowerShell process / remote shell."""
        with self._lock:
            if self._channel is not None:
                self._discard(self._channel)

    # -- internals -------------------------------------------------------------------------
    def _lost(self, op: str, idempotent: bool, channel: Channel,
              error: ChannelClosed) -> ConnectionLost:
        if idempotent:
            return ConnectionLost(f"The connection to {self.host} was lost during '{op}', "
                                  "twice; the next request starts a new session",
                                  self._details(channel, error))
        return ConnectionLost(
            f"The connection to {self.host} was lost during '{op}': whether it ran is "
            "unknown, so DesktopVM did not send it again. Look at the machine before trying "
            "again; the next request starts a new session", self._details(channel, error))

    def _send(self, line: bytes, op: str, idempotent: bool = False) -> Channel:
        """Deliver a request line. A channel that died while idle (an expired WinRM shell, a
        killed process) is replaced once: the request never reached it, so resending is safe.
        A send that may have been delivered before the connection dropped is not resent."""
        for attempt in (1, 2):
            fresh = self._channel is None
            channel = self._ensure_started()
            try:
                channel.send(line)
                return channel
            except ChannelClosed as error:
                self._discard(channel)
                if error.maybe_delivered and not idempotent:
                    raise self._lost(op, idempotent, channel, error) from error
                if fresh or attempt == 2:
                    raise ConnectionLost(f"PowerShell on {self.host} is gone; '{op}' was not "
                                         "sent", self._details(channel, error)) from error
                log.info("PowerShell on %s had stopped while idle; starting a new one", self.host)
        raise AssertionError("unreachable")

    def _ensure_started(self) -> Channel:
        if self._channel is not None:
            return self._channel
        channel = self._factory()
        channel.open()
        self.starts += 1
        try:
            channel.send(scripts.load_message())
            reply = self._await(channel, READY_ID, "start",
                                time.monotonic() + self.start_timeout)
        except ChannelClosed as error:
            channel.close()
            raise BackendUnavailable(f"PowerShell on {self.host} exited while starting",
                                     self._details(channel, error)) from error
        except BaseException:
            channel.close()
            raise
        if not reply.ok or not isinstance(reply.result, dict):
            channel.close()
            raise BackendUnavailable(f"PowerShell on {self.host} could not start the DesktopVM "
                                     "session", str(reply.error))
        self.ready = reply.result
        self._channel = channel
        log.info("PowerShell session on %s ready (%s)", self.host, channel.description)
        return channel

    def _await(self, channel: Channel, request_id: int, op: str, deadline: float) -> Reply:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._discard(channel)
                raise TimedOut(f"Hyper-V did not answer '{op}' on {self.host} in time; the "
                               "PowerShell session was stopped and restarts on the next request",
                               self._details(channel, None))
            for line in channel.receive(remaining):
                try:
                    reply = parse_frame(line)
                except FramingError as error:
                    self._discard(channel)
                    raise ConnectionLost(f"PowerShell on {self.host} sent a garbled reply to "
                                         f"'{op}'", str(error)) from error
                if reply is None:
                    text = line.decode("utf-8", errors="replace").rstrip()
                    if text:
                        self._noise.append(text)
                        log.debug("PowerShell on %s said: %s", self.host, text)
                elif reply.id in (request_id, None):
                    return reply
                else:
                    log.warning("ignoring a stale reply #%s on %s", reply.id, self.host)

    def _discard(self, channel: Channel) -> None:
        if self._channel is channel:
            self._channel = None
        channel.close()

    def _details(self, channel: Channel, error: BaseException | None) -> str:
        parts = [f"channel: {channel.description}"]
        if error is not None:
            parts.append(f"reason: {error}")
        stderr = channel.diagnostics()
        if stderr:
            parts.append("stderr:\n" + stderr)
        if self._noise:
            parts.append("other output:\n" + "\n".join(self._noise))
        return "\n".join(parts)
