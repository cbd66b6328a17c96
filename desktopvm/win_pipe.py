"""A client end of a Windows named pipe with the small socket surface the serial console uses.

Hyper-V exposes a VM's COM port, and VirtualBox on Windows a UART in server-pipe mode, as a
byte-mode named pipe (`\\\\.\\pipe\\name`) that exists while the machine runs. `NamedPipe`
opens it as a client and offers `recv`, `sendall`, `shutdown` and `close` like a socket.

The handle is opened with FILE_FLAG_OVERLAPPED: Windows serialises every I/O on a synchronous
handle, so a write from the GUI thread would wait behind the reader thread's pending read
(a console that never sends a key). Each read and write waits on its own OVERLAPPED event, and
`shutdown` cancels whatever is pending (CancelIoEx), so it also unblocks a reader thread.

Only Windows has named pipes: `NamedPipe` exists where `sys.platform == "win32"` (which is how
mypy, running on Linux, skips it); `is_pipe_name` is everywhere.
"""

from __future__ import annotations

import re
import sys

# Win32 error codes `_winapi` does not name (it names ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT, ...).
ERROR_FILE_NOT_FOUND = 2
ERROR_PIPE_NOT_CONNECTED = 233
# CreateFile flags: let the pipe server identify the client but never impersonate it.
SECURITY_SQOS_PRESENT = 0x00100000
SECURITY_IDENTIFICATION = 0x00010000

_PIPE_NAME = re.compile(r"^\\\\[^\\]+\\pipe\\[^\\].*$", re.IGNORECASE)


def is_pipe_name(name: str) -> bool:
    r"""Whether `name` is a named-pipe path: `\\.\pipe\NAME` (or `\\server\pipe\NAME`)."""
    return bool(_PIPE_NAME.match(name))


if sys.platform == "win32":
    import _winapi
    import threading
    import time

    _ENDED = (_winapi.ERROR_BROKEN_PIPE, ERROR_PIPE_NOT_CONNECTED, _winapi.ERROR_NO_DATA)

    class NamedPipe:
        """An open client end of a named pipe (overlapped I/O; one reader and one writer thread).

        `recv` returns b"" once the server closed the pipe or after `shutdown`; `sendall` then
        raises BrokenPipeError.
        """

        def __init__(self, name: str, timeout: float = 5.0) -> None:
            """Open the existing pipe `name`, waiting up to `timeout` s while it is busy.

            Raises FileNotFoundError when no server has the pipe open (the machine is not
            running), PermissionError when its ACL refuses us, TimeoutError when another
            client holds it for longer than `timeout`, ValueError for a name that is no pipe.
            """
            if not is_pipe_name(name):
                raise ValueError(f"{name!r} is not a named pipe (\\\\.\\pipe\\NAME)")
            self.name = name
            self._handle: int | None = _open(name, timeout)
            self._lock = threading.Lock()
            self._pending: list[_winapi.Overlapped] = []
            self._shut = False

        def recv(self, size: int) -> bytes:
            """Up to `size` bytes as soon as some arrive; b"" when the pipe has ended."""
            while True:
                with self._lock:  # an operation starts only while the pipe is open
                    if self._shut or self._handle is None:
                        return b""
                    try:
                        overlapped, _ = _winapi.ReadFile(self._handle, size, overlapped=True)
                    except OSError as error:
                        if error.winerror in _ENDED:
                            return b""
                        raise
                    self._pending.append(overlapped)
                try:
                    _, status = overlapped.GetOverlappedResult(True)
                except OSError as error:
                    if error.winerror in _ENDED:
                        return b""
                    raise
                finally:
                    self._forget(overlapped)
                if status == _winapi.ERROR_OPERATION_ABORTED:
                    return b""  # cancelled by shutdown()
                data = overlapped.getbuffer()
                if data:  # a zero-byte write by the server is no end of the stream
                    return bytes(data)

        def sendall(self, data: bytes) -> None:
            """Write all of `data` (blocks while the server's inbound buffer is full)."""
            view = memoryview(data)
            while view:
                with self._lock:
                    if self._shut or self._handle is None:
                        raise BrokenPipeError(f"{self.name} is shut down")
                    overlapped, _ = _winapi.WriteFile(self._handle, view, overlapped=True)
                    self._pending.append(overlapped)
                try:
                    written, status = overlapped.GetOverlappedResult(True)
                finally:
                    self._forget(overlapped)
                if status == _winapi.ERROR_OPERATION_ABORTED:
                    raise BrokenPipeError(f"{self.name} was shut down while writing")
                view = view[written:]

        def shutdown(self, how: int = 2) -> None:
            """End both directions (a pipe has no half-close, so `how` is only for the
            socket's signature) and cancel pending I/O: a `recv` in another thread returns b""."""
            with self._lock:
                self._shut = True
                for overlapped in self._pending:
                    overlapped.cancel()  # CancelIoEx: the waiting thread sees ABORTED

        def close(self) -> None:
            """Shut down and close the handle (idempotent)."""
            self.shutdown()
            with self._lock:
                handle, self._handle = self._handle, None
            if handle is not None:
                _winapi.CloseHandle(handle)

        def __enter__(self) -> NamedPipe:
            return self

        def __exit__(self, *exc_info: object) -> None:
            self.close()

        def _forget(self, overlapped: _winapi.Overlapped) -> None:
            with self._lock:
                self._pending.remove(overlapped)

    def _open(name: str, timeout: float) -> int:
        """CreateFile on the pipe, retrying through WaitNamedPipe while all instances are busy."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return _winapi.CreateFile(
                    name, _winapi.GENERIC_READ | _winapi.GENERIC_WRITE, 0, _winapi.NULL,
                    _winapi.OPEN_EXISTING,
                    _winapi.FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                    _winapi.NULL)
            except OSError as error:
                if error.winerror != _winapi.ERROR_PIPE_BUSY:
                    raise
                busy = error
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{name} is busy: another program is connected to it") from busy
            try:
                _winapi.WaitNamedPipe(name, max(1, int(remaining * 1000)))
            except OSError as error:
                if error.winerror == _winapi.ERROR_SEM_TIMEOUT:
                    raise TimeoutError(
                        f"{name} is busy: another program is connected to it") from error
                if error.winerror != ERROR_FILE_NOT_FOUND:
                    raise
                # the server closed its last instance meanwhile: CreateFile will say so
