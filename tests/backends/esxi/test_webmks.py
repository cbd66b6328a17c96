"""The WebMKS console on vcsim: main.go's AcquireTicket("webmks") names a WebSocket endpoint
this test runs (TLS with the simulator's certificate, sub-protocol "binary", admitting only
the tickets vcsim issued) in front of the scripted RFB server of tests/rfb; our RFB client
talks RFB 3.8 to it through desktopvm.rfb.websocket_transport."""

from __future__ import annotations

import contextlib
import http
import json
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from backends.esxi.backend import EsxiBackend
from desktopvm.protocol import InvalidState, PowerState
from desktopvm.rfb import RfbClient
from desktopvm.rfb.websocket_transport import WebSocketError, open_websocket
from desktopvm.testing.doubles.esxi import sim
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer

pytestmark = pytest.mark.vcsim


def vcsim_call(esx: sim.Sim, path: str, body: bytes | None = None) -> Any:
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    with urllib.request.urlopen(urllib.request.Request(
            f"https://127.0.0.1:{esx.port}{path}", data=body), context=context,
            timeout=10) as answer:
        data = answer.read()
    return json.loads(data) if data else None


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


@pytest.fixture
def webmks(esx: sim.Sim, tmp_path: Path) -> Iterator[tuple[FakeVncServer, list[str], int]]:
    """The endpoint, set as vcsim's WebMKS address; yields the RFB server, the paths the
    endpoint was asked for, and its port."""
    rfb = FakeVncServer(tmp_path / "vnc.sock")
    asked: list[str] = []

    def admit(connection: ServerConnection, request: Any) -> Any:
        asked.append(request.path)
        ticket = request.path.removeprefix("/ticket/")
        if ticket not in vcsim_call(esx, "/desktopvm/tickets"):
            return connection.respond(http.HTTPStatus.FORBIDDEN, "unknown ticket\n")
        return None

    def bridge(connection: ServerConnection) -> None:
        assert connection.subprotocol == "binary"
        with socket.socket(socket.AF_UNIX) as vnc:
            vnc.connect(str(rfb.path))

            def down() -> None:
                with contextlib.suppress(OSError, Exception):
                    while data := vnc.recv(65536):
                        connection.send(data)
                connection.close()

            threading.Thread(target=down, daemon=True).start()
            with contextlib.suppress(Exception):
                for message in connection:
                    vnc.sendall(message if isinstance(message, bytes) else message.encode())
            with contextlib.suppress(OSError):
                vnc.shutdown(socket.SHUT_RDWR)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(esx.tls.certificate), str(esx.tls.key))
    server: Server = serve(bridge, "127.0.0.1", 0, ssl=context,
                           subprotocols=[Subprotocol("binary")], process_request=admit)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.socket.getsockname()[1]
    vcsim_call(esx, "/desktopvm/webmks", f"wss://127.0.0.1:{port}/ticket/".encode())
    try:
        yield rfb, asked, port
    finally:
        server.shutdown()
        rfb.close()


def running(backend: EsxiBackend) -> str:
    return next(m.id for m in backend.list_machines() if m.state is PowerState.RUNNING)


def test_the_console_speaks_rfb_over_the_tickets_websocket(
        esx_backend: EsxiBackend, webmks: tuple[FakeVncServer, list[str], int]) -> None:
    rfb, asked, _ = webmks
    machine_id = running(esx_backend)
    client = RfbClient(esx_backend.open_webmks(machine_id))
    try:
        client.handshake()
        assert (client.framebuffer.width, client.framebuffer.height) == (64, 48)
        client.key_event(0x61, True)
        wait_for(lambda: ("key", True, 0x61, 0) in rfb.messages)
    finally:
        client.close()
    (path,) = asked
    assert path.startswith("/ticket/desktopvm-webmks-") and path.endswith(f"-{machine_id}")


def test_an_unknown_ticket_is_refused(esx: sim.Sim,
                                      webmks: tuple[FakeVncServer, list[str], int]) -> None:
    rfb, asked, port = webmks
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    with pytest.raises(WebSocketError, match="/ticket/…"):  # the ticket is not shown
        open_websocket(f"wss://127.0.0.1:{port}/ticket/forged", context=context)
    assert not rfb.connected.is_set()
    assert asked == ["/ticket/forged"]


def test_a_machine_that_is_off_has_no_webmks(esx_backend: EsxiBackend) -> None:
    machine_id = running(esx_backend)
    esx_backend.power_off(machine_id)
    try:
        with pytest.raises(InvalidState, match="start it first"):
            esx_backend.open_webmks(machine_id)
    finally:
        esx_backend.start(machine_id)
