"""Opens a byte stream to a machine's serial console endpoint (unix socket, TCP or named pipe)."""

from __future__ import annotations

import socket
import sys
from typing import NoReturn, TypeAlias

from desktopvm.protocol import ConnectionLost, SerialEndpoint, UnsupportedOperation

if sys.platform == "win32":
    from desktopvm.win_pipe import NamedPipe

    # Both offer recv(n) (b"" at the end), sendall, shutdown(how) and close.
    SerialConnection: TypeAlias = socket.socket | NamedPipe
else:
    SerialConnection: TypeAlias = socket.socket

COULD_NOT_CONNECT = "Could not connect to the serial console"


def connect_serial(endpoint: SerialEndpoint, timeout: float = 5.0) -> SerialConnection:
    """A connected, blocking stream to the serial endpoint (a socket; on Windows maybe a pipe)."""
    try:
        if endpoint.unix_socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(endpoint.unix_socket)
            except OSError:
                sock.close()
                raise
        elif endpoint.port:
            sock = socket.create_connection((endpoint.host or "127.0.0.1", endpoint.port),
                                            timeout=timeout)
        elif endpoint.pipe:
            return _connect_pipe(endpoint.pipe, timeout)
        else:
            raise UnsupportedOperation("This machine has no serial console endpoint")
    except OSError as error:
        raise ConnectionLost(COULD_NOT_CONNECT, f"{endpoint}: {error}") from error
    sock.settimeout(None)
    return sock


if sys.platform == "win32":

    def _connect_pipe(name: str, timeout: float) -> NamedPipe:
        """The named pipe opened as a client; failures as ConnectionLost saying why."""
        try:
            return NamedPipe(name, timeout)
        except ValueError as error:
            raise UnsupportedOperation(f"{COULD_NOT_CONNECT}: {error}", name) from error
        except FileNotFoundError as error:
            raise ConnectionLost(
                f"{COULD_NOT_CONNECT}: its pipe does not exist (is the machine running?)",
                f"{name}: {error}") from error
        except PermissionError as error:
            raise ConnectionLost(
                f"{COULD_NOT_CONNECT}: access to its pipe was denied (Hyper-V's pipes "
                "admit administrators: try DesktopVM run as administrator)",
                f"{name}: {error}") from error
        except TimeoutError as error:
            raise ConnectionLost(f"{COULD_NOT_CONNECT}: another program is connected to it",
                                 f"{name}: {error}") from error
        except OSError as error:
            raise ConnectionLost(COULD_NOT_CONNECT, f"{name}: {error}") from error

else:

    def _connect_pipe(name: str, timeout: float) -> NoReturn:
        """Named pipes exist only on Windows (where Hyper-V and VirtualBox offer them)."""
        raise UnsupportedOperation(
            "This serial console is a Windows named pipe: named pipes exist only on Windows",
            name)
