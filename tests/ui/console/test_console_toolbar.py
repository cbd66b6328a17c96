"""The console window's toolbar on a fake VNC server and a serial socket: every action once."""

from __future__ import annotations

import socket
import sys
import threading
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QApplication

from desktopvm.jobs import JobRunner
from desktopvm.protocol import (
    ConsoleEndpoints,
    MachineSummary,
    PowerState,
    SerialEndpoint,
    VncEndpoint,
)
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.text_pages import SerialPage
from desktopvm.ui.console.vnc_view import Scaling

MACHINE = MachineSummary(backend="fake", id="m1", name="fake-vm", state=PowerState.RUNNING)


class TypingBackend:
    """Records what the window asks the backend to type, and on which thread."""

    def __init__(self) -> None:
        self.typed: list[tuple[str, str, bool]] = []

    def type_text(self, machine_id: str, text: str) -> None:
        on_gui = threading.current_thread() is threading.main_thread()
        self.typed.append((machine_id, text, on_gui))


@pytest.fixture
def runner(qtbot):
    jobs = JobRunner(max_threads=2)
    yield jobs
    jobs.cancel_all()
    assert jobs.wait_for_done(10_000)


@pytest.fixture
def serial_listener(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "serial.sock"))
    listener.listen(1)
    listener.settimeout(10)
    yield listener
    listener.close()


def test_toolbar_actions(qtbot, tmp_path, runner, serial_listener):
    server = FakeVncServer(tmp_path / "vnc.sock", size=(320, 200))
    backend = TypingBackend()
    owner = SimpleNamespace(registry=SimpleNamespace(open=lambda _name: backend), runner=runner)
    marker = tmp_path / "viewer-ran"
    viewer = (sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ok')")
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    display, serial = window.add_pages(MACHINE, ConsoleEndpoints(
        vnc=VncEndpoint(unix_socket=str(server.path)),
        serial=SerialEndpoint(unix_socket=serial_listener.getsockname()),
        native_viewer=viewer))
    assert isinstance(display, DisplayPage) and isinstance(serial, SerialPage)
    conn, _ = serial_listener.accept()
    window.resize(900, 640)
    window.show()
    window.tabs.setCurrentWidget(display)
    qtbot.waitUntil(lambda: display.session.is_connected and display.view.image.width() == 320)

    # scaling: fit fills the view; 1:1 shows guest pixels; fit width fills the width
    view = display.view
    assert view.scale() > 1.5
    window.set_scaling(Scaling.ONE_TO_ONE)
    assert view.scale() == pytest.approx(1 / view.devicePixelRatioF())
    assert view.size().width() == 320
    assert window.scaling_actions[Scaling.ONE_TO_ONE].isChecked()
    window.scaling_actions[Scaling.FIT_WIDTH].trigger()
    assert view.scaling is Scaling.FIT_WIDTH
    assert view.width() == display.scroller.viewport().width()
    assert view.scale() == pytest.approx(view.width() / 320)

    # Type clipboard: the display tab asks the backend, in a job
    QApplication.clipboard().setText("echo hi")
    window.type_clipboard()
    qtbot.waitUntil(lambda: backend.typed == [("m1", "echo hi", False)])
    # ... the serial tab pastes into its own connection, newline as Enter
    window.tabs.setCurrentWidget(serial)
    assert not window.scaling_actions[Scaling.FIT].isEnabled()  # a terminal does not scale
    QApplication.clipboard().setText("uname\n")
    window.type_clipboard()
    conn.settimeout(10)
    assert conn.recv(64) == b"uname\r"

    # Open native viewer runs the hypervisor's viewer command
    window.open_native_viewer()
    qtbot.waitUntil(marker.exists, timeout=20_000)

    # Full screen on and off
    window.toggle_full_screen()
    qtbot.waitUntil(window.isFullScreen)
    window.toggle_full_screen()
    qtbot.waitUntil(lambda: not window.isFullScreen())

    # Detach: the serial tab moves to a window of its own and keeps working
    torn = window.detach_tab(window.tabs.indexOf(serial))
    assert torn is not None and torn.page() is serial and window.tabs.count() == 1
    conn.sendall(b"still here\r\n")
    qtbot.waitUntil(lambda: "still here" in serial.terminal.text())
    assert window.detach_tab(0) is None  # the last tab stays
    assert window.scaling_actions[Scaling.FIT_WIDTH].isChecked()  # the display's own mode
    torn.close()
    window.close()
    conn.close()
    server.close()
