"""Opens a byte stream to a machine's serial console endpoint (unix socket or TCP)."""

from __future__ import annotations

import socket

from desktopvm.protocol import ConnectionLost, SerialEndpoint, UnsupportedOperation


def connect_serial(endpoint: SerialEndpoint, timeout: float = 5.0) -> socket.socket:
    """A connected, blocking socket to the serial endpoint."""
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
            raise UnsupportedOperation("Serial consoles on named pipes are not supported yet",
                                       endpoint.pipe)
        else:
            raise UnsupportedOperation("This machine has no serial console endpoint")
    except OSError as error:
        raise ConnectionLost("Could not connect to the serial console",
                             f"{endpoint}: {error}") from error
    sock.settimeout(None)
    return sock
