"""The QMP door: a client dropped while another holds QEMU's socket tries again; no socket fails."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.qemu import qmp
from desktopvm.protocol import ConnectionLost

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""},
                    "capabilities": []}}


class FlakyQmpServer:
    """A unix-socket QMP server that drops its first `drops` clients before greeting them."""

    def __init__(self, path: Path, drops: int) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(4)
        self.drops = drops
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.drops:
                # An abortive close, as when QEMU turns a second client away.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                connection.close()
                continue
            with connection, contextlib.suppress(OSError):  # the client may leave
                connection.sendall(json.dumps(GREETING).encode() + b"\n")
                for request in _messages(connection):
                    answer: dict[str, object] = {
                        "return": {"status": "running"}
                        if request["execute"] == "query-status" else {}}
                    if "id" in request:
                        answer["id"] = request["id"]
                    connection.sendall(json.dumps(answer).encode() + b"\n")

    def close(self) -> None:
        self.listener.close()


def _messages(connection: socket.socket) -> Iterator[dict[str, Any]]:
    """JSON objects as the client sends them (QMP needs no line ends between them)."""
    decoder = json.JSONDecoder()
    pending = ""
    while chunk := connection.recv(4096):
        pending += chunk.decode()
        while pending.strip():
            try:
                message, end = decoder.raw_decode(pending.lstrip())
            except ValueError:
                break
            pending = pending.lstrip()[end:]
            yield message


def test_a_dropped_client_tries_again(tmp_path: Path):
    server = FlakyQmpServer(tmp_path / "qmp.sock", drops=2)
    try:
        with qmp.connect(tmp_path / "qmp.sock") as session:
            assert session.execute("query-status")["status"] == "running"
        assert server.accepted == 3
    finally:
        server.close()


def test_a_socket_nobody_serves_is_not_retried(tmp_path: Path):
    with pytest.raises(ConnectionLost, match="Cannot reach the machine's QEMU process") as lost, \
            qmp.connect(tmp_path / "missing.sock"):
        pass
    assert "No such file" in lost.value.details

