"""The console window on an ESXi machine: its screen comes over WebMKS (vcsim extended, the
scripted RFB server behind the test's WebSocket endpoint), through VncEndpoint.opener, a
fresh one-time ticket per connection; an opener that fails puts its reason on the banner."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QObject, Qt

from backends.esxi.backend import EsxiBackend
from desktopvm.jobs import JobRunner
from desktopvm.protocol import (
    ConnectionLost,
    ConsoleEndpoints,
    MachineSummary,
    PowerState,
    VncEndpoint,
)
from desktopvm.testing.doubles.esxi import sim
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.window import open_console
from tests.backends.esxi.conftest import vcsim_call

Endpoint = tuple[FakeVncServer, list[str], int]


class Owner(QObject):
    """What the console window needs of the main window: the ESXi backend as the one
    connection, a job runner, the backend's facts."""

    def __init__(self, backend: EsxiBackend) -> None:
        super().__init__()
        self.registry = SimpleNamespace(open=lambda _name: backend)
        self.runner = JobRunner(max_threads=1)
        self.facts = {backend.name: SimpleNamespace(display_name="ESXi",
                                                    capabilities=backend.capabilities())}


@pytest.fixture
def owner(qtbot: Any, esx_backend: EsxiBackend) -> Iterator[Owner]:
    main = Owner(esx_backend)
    yield main
    main.runner.cancel_all()
    assert main.runner.wait_for_done(10_000)


def running(backend: EsxiBackend) -> MachineSummary:
    return next(m for m in backend.list_machines() if m.state is PowerState.RUNNING)


def opened(qtbot: Any, owner: Owner, machine: MachineSummary) -> DisplayPage:
    """Open the machine's console as the app does (the endpoints asked for in a job)."""
    shown: list[ConsoleWindow] = []
    open_console(owner, machine, shown.append)
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    qtbot.addWidget(shown[0])
    page = shown[0].page()
    assert isinstance(page, DisplayPage)
    return page


def test_the_window_shows_the_esxi_screen_and_types_into_it(
        qtbot: Any, owner: Owner, esx_backend: EsxiBackend, webmks: Endpoint) -> None:
    rfb, asked, _ = webmks
    page = opened(qtbot, owner, running(esx_backend))
    window = page.window()
    assert isinstance(window, ConsoleWindow)
    qtbot.waitUntil(lambda: page.session.is_connected, timeout=10_000)
    assert (page.view.image.width(), page.view.image.height()) == (64, 48)
    qtbot.waitUntil(lambda: "64×48" in window.statusBar().currentMessage(), timeout=10_000)
    rfb.fill(8, 4, 20, 12, b"\x00\x00\xff\x00")  # red, as BGRX
    qtbot.waitUntil(lambda: page.view.image.pixelColor(10, 5).red() == 255, timeout=10_000)
    assert page.view.image.pixelColor(0, 0).red() == 0
    qtbot.keyClick(page.view, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: ("key", True, ord("a"), 0) in rfb.messages, timeout=10_000)
    assert window.native_action.isEnabled()  # VMware Remote Console / the web client stays
    assert len(asked) == 1
    window.close()


def test_reconnecting_takes_a_fresh_ticket(
        qtbot: Any, owner: Owner, esx_backend: EsxiBackend, webmks: Endpoint) -> None:
    rfb, asked, _ = webmks
    page = opened(qtbot, owner, running(esx_backend))
    qtbot.waitUntil(lambda: page.session.is_connected, timeout=10_000)
    rfb.drop_client()  # the stream ends, as when the host drops it
    qtbot.waitUntil(lambda: page.banner.isVisibleTo(page), timeout=10_000)
    page.reconnect_button.click()
    qtbot.waitUntil(lambda: page.session.is_connected and not page.banner.isVisible(),
                    timeout=10_000)
    assert len(asked) == 2 and asked[0] != asked[1]  # the endpoint admits a ticket once
    page.window().close()


def test_what_stops_the_esxi_console_is_on_the_banner_without_the_ticket(
        qtbot: Any, owner: Owner, esx: sim.Sim, esx_backend: EsxiBackend,
        webmks: Endpoint) -> None:
    _, _, port = webmks
    machine = running(esx_backend)
    # refused: a URL the WebSocket library rejects, quoting it whole in its message
    vcsim_call(esx, "/desktopvm/webmks", f"https://127.0.0.1:{port}/ticket/".encode())
    page = opened(qtbot, owner, machine)
    qtbot.waitUntil(lambda: page.banner.isVisibleTo(page), timeout=10_000)
    text = page.banner_text.text()
    assert "Could not connect to the display" in text and "isn't a valid URI" in text
    assert f"The console of {machine.name} on 127.0.0.1 could not be opened" in text
    assert "desktopvm-webmks" not in text
    # no ticket: the machine was switched off meanwhile
    esx_backend.power_off(machine.id)
    try:
        page.reconnect_button.click()
        qtbot.waitUntil(lambda: "start it first" in page.banner_text.text(), timeout=10_000)
    finally:
        esx_backend.start(machine.id)
    page.window().close()


def test_an_opener_that_fails_shows_why_and_runs_off_the_gui_thread(qtbot: Any) -> None:
    calls: list[threading.Thread] = []

    def refuse() -> Any:
        calls.append(threading.current_thread())
        raise ConnectionLost("The console of web on esx01 could not be opened",
                             "cannot open the console at wss://esx01:443/ticket/…: "
                             "[SSL: CERTIFICATE_VERIFY_FAILED]\nmore lines")

    window = ConsoleWindow(SimpleNamespace(registry=None, runner=None))
    qtbot.addWidget(window)
    machine = MachineSummary("esxi@esx01", "vm-1", "web", PowerState.RUNNING)
    (page,) = window.add_pages(machine, ConsoleEndpoints(vnc=VncEndpoint(opener=refuse)))
    assert isinstance(page, DisplayPage)
    qtbot.waitUntil(lambda: page.banner.isVisibleTo(page), timeout=10_000)
    assert page.banner_text.text() == (
        "<b>Disconnected</b>: Could not connect to the display: The console of web on esx01 "
        "could not be opened: cannot open the console at wss://esx01:443/ticket/…: "
        "[SSL: CERTIFICATE_VERIFY_FAILED]")
    assert calls and threading.main_thread() not in calls
    page.reconnect_button.click()  # each connection calls the opener again
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=10_000)
    window.close()
