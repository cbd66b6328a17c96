"""connect_serial on this (non-Windows) host: sockets connect, named pipes say they need Windows.

The named-pipe client itself is tested in a Windows CPython under wine (tests/windows/).
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

from desktopvm import win_pipe
from desktopvm.protocol import ConnectionLost, SerialEndpoint, UnsupportedOperation
from desktopvm.serial_link import connect_serial

not_windows = pytest.mark.skipif(sys.platform == "win32", reason="the non-Windows answer")


@not_windows
def test_a_pipe_endpoint_needs_windows() -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        connect_serial(SerialEndpoint(pipe=r"\\.\pipe\vm-com1"))
    assert "named pipes exist only on Windows" in caught.value.summary
    assert caught.value.details == r"\\.\pipe\vm-com1"


@not_windows
def test_the_pipe_client_is_windows_only_but_the_module_imports() -> None:
    assert not hasattr(win_pipe, "NamedPipe")
    assert win_pipe.is_pipe_name(r"\\.\pipe\vm-com1")
    assert win_pipe.is_pipe_name(r"\\?\PIPE\vbox-uart")
    assert win_pipe.is_pipe_name(r"\\hyperv01\pipe\com1")
    for name in (r"\\.\pipe\\", r"C:\pipe\com1", "COM1", r"\\.\COM1", ""):
        assert not win_pipe.is_pipe_name(name), name


def test_no_endpoint_is_unsupported() -> None:
    with pytest.raises(UnsupportedOperation):
        connect_serial(SerialEndpoint())


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets here")
def test_unix_socket_connects_and_a_missing_one_is_connection_lost(tmp_path: Path) -> None:
    path = str(tmp_path / "serial.sock")
    with pytest.raises(ConnectionLost):
        connect_serial(SerialEndpoint(unix_socket=path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        client = connect_serial(SerialEndpoint(unix_socket=path))
        peer, _ = server.accept()
        with client, peer:
            assert client.gettimeout() is None  # blocking, as the reader thread expects
            peer.sendall(b"login: ")
            assert client.recv(100) == b"login: "


def test_tcp_endpoint_connects() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accepted: list[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]))
        thread.start()
        client = connect_serial(SerialEndpoint(host="127.0.0.1", port=port))
        thread.join(5)
        with client, accepted[0] as peer:
            client.sendall(b"root\r")
            assert peer.recv(100) == b"root\r"
