"""The WebMKS console on vcsim: main.go's AcquireTicket("webmks") names a WebSocket endpoint
this test runs (TLS with the simulator's certificate, sub-protocol "binary", admitting only
the tickets vcsim issued) in front of the scripted RFB server of tests/rfb; our RFB client
talks RFB 3.8 to it through desktopvm.rfb.websocket_transport."""

from __future__ import annotations

import ssl
import time
from typing import Any

import pytest

from backends.esxi import open_remote
from backends.esxi.backend import EsxiBackend
from desktopvm.protocol import ConnectionLost, InvalidState, PowerState
from desktopvm.rfb import RfbClient
from desktopvm.rfb.websocket_transport import WebSocketError, open_websocket
from desktopvm.testing.doubles.esxi import sim
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from tests.backends.esxi.conftest import vcsim_call

pytestmark = pytest.mark.vcsim


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


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


def test_console_offers_the_screen_with_a_fresh_ticket_per_connection(
        esx_backend: EsxiBackend, webmks: tuple[FakeVncServer, list[str], int]) -> None:
    _, asked, _ = webmks
    machine_id = running(esx_backend)
    endpoints = esx_backend.console(machine_id)
    assert esx_backend.capabilities().vnc_console
    assert endpoints.vnc is not None and endpoints.vnc.opener is not None
    assert endpoints.native_viewer  # VMRC or the web client, still offered
    assert not asked  # asking for the endpoints acquires no ticket yet
    for _ in range(2):  # a reconnect: the first ticket is spent
        client = RfbClient(endpoints.vnc.opener())
        try:
            client.handshake()
            assert (client.framebuffer.width, client.framebuffer.height) == (64, 48)
        finally:
            client.close()
    assert len(asked) == 2 and asked[0] != asked[1]
    assert "desktopvm-webmks" not in repr(endpoints)


def test_a_refused_console_names_the_reason_but_not_the_ticket(
        esx: sim.Sim, esx_backend: EsxiBackend,
        webmks: tuple[FakeVncServer, list[str], int]) -> None:
    _, _, port = webmks
    machine_id = running(esx_backend)
    # A URL the WebSocket library rejects quoting it whole (the scheme is not ws/wss).
    vcsim_call(esx, "/desktopvm/webmks", f"https://127.0.0.1:{port}/ticket/".encode())
    with pytest.raises(ConnectionLost) as caught:
        esx_backend.open_webmks(machine_id)
    issued = vcsim_call(esx, "/desktopvm/tickets")[-1]
    assert "isn't a valid URI" in caught.value.details
    assert issued not in caught.value.details and issued not in str(caught.value)


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


def test_a_console_of_a_closed_backend_asks_to_be_opened_again(
        esx: sim.Sim, webmks: tuple[FakeVncServer, list[str], int]) -> None:
    """The opener holds the session: once the backend is closed (settings saved, Disconnect,
    exit) a Reconnect gets no ticket and no new login, but words."""
    _, asked, _ = webmks
    backend = open_remote(esx.host(), password=sim.PASSWORD)
    endpoints = backend.console(running(backend))
    assert endpoints.vnc is not None and endpoints.vnc.opener is not None
    issued = len(vcsim_call(esx, "/desktopvm/tickets"))
    backend.close()
    with pytest.raises(ConnectionLost, match=r"was closed.*open the console again"):
        endpoints.vnc.opener()
    assert len(vcsim_call(esx, "/desktopvm/tickets")) == issued
    assert not asked
