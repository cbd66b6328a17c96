"""QMP through the official `qemu.qmp` client: asyncio on one private thread, a sync API here.

Each operation opens its own short connection: a QMP socket serves one client at a time, so
a long-lived connection held by the app would lock the CLI (and another app) out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from qemu.qmp import ConnectError, ExecuteError, QMPClient, QMPError

from desktopvm.protocol import CommandFailed, ConnectionLost, TimedOut

log = logging.getLogger(__name__)
T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
RETRY_DELAY = 0.1
COMMAND_TIMEOUT = 30.0


class _LoopThread:
    """One event loop for every QMP connection of the process."""

    _instance: _LoopThread | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="desktopvm-qmp", daemon=True)
        thread.start()

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _LoopThread()
            return cls._instance

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self.loop)
        return future.result()


class Qmp:
    """A connected QMP session (use `connect`)."""

    def __init__(self, client: QMPClient, loop: _LoopThread, socket: Path) -> None:
        self._client = client
        self._loop = loop
        self._socket = socket

    def execute(self, command: str, arguments: dict[str, Any] | None = None,
                timeout: float = COMMAND_TIMEOUT) -> Any:
        """Run one QMP command; QEMU's errors become CommandFailed."""
        log.debug("qmp %s %s", command, arguments or "")
        try:
            return self._loop.run(self._client.execute(command, arguments), timeout)
        except ExecuteError as error:
            raise CommandFailed(f"QEMU refused {command}: {error}",
                                command=["qmp", command, str(arguments or "")],
                                stderr=str(error)) from error
        except TimeoutError as error:
            raise TimedOut(f"QEMU did not answer {command} within {timeout:.0f} s",
                           str(self._socket)) from error
        except (QMPError, OSError, EOFError) as error:
            raise ConnectionLost(f"Lost the connection to QEMU during {command}",
                                 f"{self._socket}: {error!r}") from error

    def human(self, command_line: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """A human-monitor command (for savevm/loadvm/delvm, which have no QMP form in 7.2).

        HMP reports errors as text in the return value; any non-empty answer is a failure.
        Callers never put user text in `command_line`.
        """
        answer = str(self.execute("human-monitor-command", {"command-line": command_line},
                                  timeout))
        if answer.strip():
            verb = command_line.split(maxsplit=1)[0]
            raise CommandFailed(f"QEMU refused {verb}: {answer.strip()}",
                                command=["hmp", command_line], stderr=answer)
        return answer



def _connected(socket: Path, timeout: float) -> tuple[QMPClient, _LoopThread]:
    """A client that has QEMU's greeting, trying again while another client holds the socket.

    QEMU serves one QMP client at a time; a second one (the app's preview while a job runs,
    or the CLI) can be dropped during the greeting. Such a collision is retried until
    `timeout`; a socket nobody listens on fails at once.
    """
    loop = _LoopThread.get()
    deadline = time.monotonic() + timeout
    while True:
        client = QMPClient(f"qmp:{socket.name}")
        left = deadline - time.monotonic()
        try:
            loop.run(client.connect(str(socket)), max(left, 0.1))
            return client, loop
        except TimeoutError as error:
            loop.run(client.disconnect(), CONNECT_TIMEOUT)
            raise TimedOut("QEMU's control socket did not answer (is another program using "
                           "it?)", str(socket)) from error
        except (ConnectError, OSError) as error:
            refused = isinstance(error.__cause__ or error, (FileNotFoundError,
                                                            ConnectionRefusedError))
            if refused or time.monotonic() + RETRY_DELAY >= deadline:
                raise ConnectionLost("Cannot reach the machine's QEMU process",
                                     f"{socket}: {error}") from error
            log.debug("QMP on %s: %r; trying again", socket, error)
            with contextlib.suppress(QMPError, OSError, TimeoutError, EOFError):
                loop.run(client.disconnect(), CONNECT_TIMEOUT)
            time.sleep(RETRY_DELAY)


@contextmanager
def connect(socket: Path, timeout: float = CONNECT_TIMEOUT) -> Iterator[Qmp]:
    """Open a QMP session on `socket` for the duration of the block."""
    client, loop = _connected(socket, timeout)
    try:
        yield Qmp(client, loop, socket)
    finally:
        try:
            loop.run(client.disconnect(), CONNECT_TIMEOUT)
        except (QMPError, OSError, TimeoutError, EOFError) as error:
            log.debug("closing QMP on %s: %r", socket, error)
