"""Named-pipe serial scenarios run by a real Windows CPython (under wine): `python.exe THIS NAME`.

Each `scenario_*` function creates a byte-mode pipe server with `_winapi` (as Hyper-V's VM
worker does for a COM port) and drives `desktopvm.win_pipe` / `connect_serial` as the client,
the way the serial console tab does: a reader thread in `recv`, writes from another thread,
`shutdown` to stop the reader. Prints `ok NAME SECONDS`; a failure prints the traceback and
exits 1. Windows only: mypy (on Linux) skips everything below the platform assert.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32", "run this with a Windows Python"

import _winapi  # noqa: E402 - Windows-only modules after the platform check
import os  # noqa: E402
import queue  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: desktopvm

from desktopvm.protocol import ConnectionLost, SerialEndpoint, UnsupportedOperation  # noqa: E402
from desktopvm.serial_link import connect_serial  # noqa: E402
from desktopvm.win_pipe import NamedPipe  # noqa: E402

PIPE_TYPE_BYTE = PIPE_READMODE_BYTE = 0  # `_winapi` names only the message-mode flags
ERROR_PIPE_CONNECTED = 535
PATIENCE = 5.0  # seconds before a wait counts as "blocked forever"


def pipe_name(tag: str) -> str:
    return rf"\\.\pipe\desktopvm-test-{os.getpid()}-{tag}"


class Server:
    """One byte-mode instance of a pipe, listening for one client in a thread."""

    def __init__(self, name: str, instances: int = 1) -> None:
        self.handle = _winapi.CreateNamedPipe(
            name, _winapi.PIPE_ACCESS_DUPLEX,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | _winapi.PIPE_WAIT, instances, 65536, 65536, 0,
            _winapi.NULL)
        self.connected = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        try:
            _winapi.ConnectNamedPipe(self.handle, False)
        except OSError as error:
            if error.winerror != ERROR_PIPE_CONNECTED:  # the client came first: fine
                raise
        self.connected.set()

    def write(self, data: bytes) -> None:
        _, error = _winapi.WriteFile(self.handle, data)
        assert error == 0, error

    def read(self, size: int = 65536) -> bytes:
        data, _ = _winapi.ReadFile(self.handle, size)
        return data

    def read_exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while (have := sum(map(len, chunks))) < size:
            chunks.append(self.read(min(65536, size - have)))
        return b"".join(chunks)

    def close(self) -> None:
        _winapi.CloseHandle(self.handle)


def within(seconds: float, function: Callable[[], Any], what: str) -> Any:
    """`function()` in a thread; its result, or AssertionError if it is still running."""
    results: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def work() -> None:
        try:
            results.put((True, function()))
        except BaseException as error:  # re-raised in the caller
            results.put((False, error))

    threading.Thread(target=work, daemon=True).start()
    try:
        ok, value = results.get(timeout=seconds)
    except queue.Empty:
        raise AssertionError(f"{what} still blocked after {seconds} s") from None
    if not ok:
        raise value
    return value


class Reader:
    """The serial tab's reader: `recv(65536)` in a thread until b""; chunks in a queue."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.chunks: queue.Queue[bytes] = queue.Queue()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while chunk := self.pipe.recv(65536):
            self.chunks.put(chunk)
        self.chunks.put(b"")  # the end

    def take(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.chunks.get(timeout=PATIENCE)
            assert chunk, f"stream ended after {data!r}"
            data += chunk
        return data


def connected(tag: str) -> tuple[Server, NamedPipe]:
    name = pipe_name(tag)
    server = Server(name)
    pipe = connect_serial(SerialEndpoint(pipe=name))
    assert isinstance(pipe, NamedPipe), type(pipe)
    assert server.connected.wait(PATIENCE)
    return server, pipe


def scenario_read_and_write() -> None:
    server, pipe = connected("rw")
    server.write(b"login: ")
    assert within(PATIENCE, lambda: pipe.recv(65536), "recv") == b"login: "
    within(PATIENCE, lambda: pipe.sendall(b"root\r"), "sendall")
    assert server.read() == b"root\r"
    pipe.close()
    server.close()


def scenario_write_while_read_pending() -> None:
    """The serial tab's pattern: the GUI thread writes while the reader thread waits in recv."""
    server, pipe = connected("pending")
    # The handle is overlapped: a read with nothing to read is pending at once (on a
    # synchronous handle ReadFile blocks here, and real Windows would also hold every
    # WriteFile behind it; wine does not serialise, so this is the check that tells).
    handle = pipe._handle
    assert handle is not None
    probe, status = within(PATIENCE, lambda: _winapi.ReadFile(handle, 1, overlapped=True),
                           "ReadFile with nothing to read")
    assert status == _winapi.ERROR_IO_PENDING, status
    probe.cancel()
    assert probe.GetOverlappedResult(True) == (0, _winapi.ERROR_OPERATION_ABORTED)
    reader = Reader(pipe)
    time.sleep(0.3)  # the reader is now inside recv with nothing to read
    assert reader.thread.is_alive() and reader.chunks.empty()
    within(PATIENCE, lambda: pipe.sendall(b"uname -a\r"), "sendall during a pending recv")
    assert server.read() == b"uname -a\r"
    server.write(b"Linux guest\r\n# ")
    assert reader.take(len(b"Linux guest\r\n# ")) == b"Linux guest\r\n# "
    within(PATIENCE, lambda: pipe.shutdown(socket.SHUT_RDWR), "shutdown")
    reader.thread.join(PATIENCE)
    assert not reader.thread.is_alive()
    pipe.close()
    server.close()


def scenario_shutdown_unblocks_recv() -> None:
    server, pipe = connected("shutdown")
    reader = Reader(pipe)
    time.sleep(0.3)
    assert reader.thread.is_alive()
    started = time.monotonic()
    within(PATIENCE, lambda: pipe.shutdown(socket.SHUT_RDWR), "shutdown")  # as close() does
    reader.thread.join(PATIENCE)
    assert not reader.thread.is_alive(), "shutdown did not unblock recv"
    assert reader.chunks.get_nowait() == b""
    assert time.monotonic() - started < 1.0
    assert pipe.recv(10) == b""
    try:
        pipe.sendall(b"x")
    except OSError:
        pass
    else:
        raise AssertionError("sendall after shutdown did not fail")
    pipe.close()
    pipe.close()  # idempotent
    try:  # the server sees the client gone (Hyper-V then listens for the next one)
        server.write(b"after close")
    except BrokenPipeError:
        pass
    else:
        raise AssertionError("the pipe's client end is still open after close()")
    server.close()


def scenario_server_closes() -> None:
    """The machine stops: buffered output is still read, then recv returns b""."""
    server, pipe = connected("broken")
    server.write(b"Power down.\r\n")
    server.close()
    assert within(PATIENCE, lambda: pipe.recv(65536), "recv") == b"Power down.\r\n"
    assert within(PATIENCE, lambda: pipe.recv(65536), "recv") == b""
    try:
        pipe.sendall(b"x")
    except BrokenPipeError:
        pass
    else:
        raise AssertionError("sendall to a closed pipe did not fail")
    pipe.close()
    # A recv that is pending when the server goes away ends too.
    server, pipe = connected("broken-pending")
    reader = Reader(pipe)
    time.sleep(0.3)
    server.close()
    reader.thread.join(PATIENCE)
    assert not reader.thread.is_alive() and reader.chunks.get_nowait() == b""
    pipe.close()


def scenario_missing_pipe() -> None:
    started = time.monotonic()
    try:
        connect_serial(SerialEndpoint(pipe=pipe_name("nobody")))
    except ConnectionLost as error:
        assert "does not exist" in error.summary, error.summary
        assert "machine running" in error.summary, error.summary
        assert "nobody" in error.details, error.details
    else:
        raise AssertionError("no ConnectionLost for a missing pipe")
    assert time.monotonic() - started < 1.0  # no waiting for a pipe that is not there
    try:
        connect_serial(SerialEndpoint(pipe=r"C:\Windows\win.ini"))
    except UnsupportedOperation as error:
        assert "not a named pipe" in error.summary, error.summary
    else:
        raise AssertionError("a file path was accepted as a pipe")


def scenario_busy_pipe() -> None:
    """One instance, held by another client: wait up to the timeout, then a clear error."""
    name = pipe_name("busy")
    server = Server(name, instances=2)  # every instance of a pipe names the same maximum
    holder = NamedPipe(name)
    started = time.monotonic()
    try:
        connect_serial(SerialEndpoint(pipe=name), timeout=0.5)
    except ConnectionLost as error:
        assert "another program" in error.summary, error.summary
    else:
        raise AssertionError("connected to a busy pipe")
    waited = time.monotonic() - started
    assert 0.4 < waited < 3.0, waited
    # A second instance that appears while we wait (WaitNamedPipe) is taken.
    opened = within(PATIENCE, lambda: _open_after(name, 0.5), "connect while busy")
    second, pipe = opened
    assert second.connected.wait(PATIENCE)
    second.write(b"hello")
    assert pipe.recv(100) == b"hello"
    for end in (pipe, holder):
        end.close()
    second.close()
    server.close()


def _open_after(name: str, delay: float) -> tuple[Server, NamedPipe]:
    servers: queue.Queue[Server] = queue.Queue()
    threading.Timer(delay, lambda: servers.put(Server(name, instances=2))).start()
    pipe = NamedPipe(name, timeout=PATIENCE)
    return servers.get(timeout=PATIENCE), pipe


def scenario_bulk_echo() -> None:
    """1 MiB in one sendall while the reader thread takes the echo: both directions at once."""
    server, pipe = connected("echo")
    payload = bytes(range(256)) * 4096

    def echo() -> None:
        left = len(payload)
        while left:
            chunk = server.read(min(65536, left))
            server.write(chunk)
            left -= len(chunk)

    threading.Thread(target=echo, daemon=True).start()
    reader = Reader(pipe)
    within(30, lambda: pipe.sendall(payload), "sendall of 1 MiB")
    assert reader.take(len(payload)) == payload
    within(PATIENCE, lambda: pipe.shutdown(socket.SHUT_RDWR), "shutdown")
    reader.thread.join(PATIENCE)
    assert not reader.thread.is_alive()
    pipe.close()
    server.close()


def main(name: str) -> int:
    scenario = globals().get(f"scenario_{name}")
    if scenario is None:
        print(f"no scenario {name!r}")
        return 2
    started = time.monotonic()
    try:
        scenario()
    except BaseException:
        traceback.print_exc()
        return 1
    print(f"ok {name} {time.monotonic() - started:.2f}")
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # daemon threads may still wait in pipe I/O; do not wait for them
