"""Console worker threads never call Qt, and a serial flood leaves the GUI thread free."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from PySide6.QtCore import QTimer

from desktopvm.protocol import SerialEndpoint, VncEndpoint
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.text_pages import SerialPage


def _is_qt(function: Any) -> bool:
    owner = getattr(function, "__self__", None)
    module = (type(owner).__module__ if owner is not None
              else getattr(function, "__module__", None)) or ""
    return module.startswith(("PySide6", "shiboken6"))


@pytest.fixture
def qt_calls_off_gui_thread() -> Iterator[list[str]]:
    """Every PySide6 function or method called by a thread started during the test."""
    calls: list[str] = []

    def profile(_frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and _is_qt(arg):
            calls.append(f"{threading.current_thread().name}: {arg!r}")

    threading.setprofile(profile)  # threads started from now on report their C calls
    yield calls
    threading.setprofile(None)


class Flood:
    """A serial peer printing `total` numbered lines as fast as the socket takes them."""

    def __init__(self, path: Path, total: int) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.path, self.total, self.lines = path, total, 0
        self.done = threading.Event()  # all lines were taken by the reader
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with contextlib.suppress(OSError), conn:
            while self.lines < self.total:
                conn.sendall(b"".join(b"flood line %d \x1b[32mok\x1b[0m\r\n" % (self.lines + i)
                                      for i in range(100)))
                self.lines += 100
            self.done.set()
            conn.recv(1)  # stay connected until the test ends

    def close(self) -> None:
        self.listener.close()


def test_workers_never_call_qt(qtbot, tmp_path, qt_calls_off_gui_thread):
    flood = Flood(tmp_path / "serial.sock", total=2000)
    vnc = FakeVncServer(tmp_path / "vnc.sock", size=(64, 48))
    serial = SerialPage(SerialEndpoint(unix_socket=str(flood.path)))
    display = DisplayPage(VncEndpoint(unix_socket=str(vnc.path)))
    for page in (serial, display):
        qtbot.addWidget(page)
        page.show()
    qtbot.waitUntil(lambda: "flood line 1999 " in serial.terminal.text())
    qtbot.waitUntil(lambda: display.session.is_connected)
    assert vnc.connected.wait(5)
    vnc.fill(0, 0, 8, 8, b"\x00\x00\xff\x00")
    vnc.resize(80, 50)
    vnc.pointer_mode(absolute=False)
    qtbot.waitUntil(lambda: display.view.relative and display.view.image.width() == 80)
    vnc.drop_client()  # the disconnect travels the same way
    qtbot.waitUntil(display.banner.isVisible)
    serial.close_page()
    display.close_page()
    flood.close()
    vnc.close()
    assert qt_calls_off_gui_thread == []


def test_a_serial_flood_leaves_the_gui_thread_free(qtbot, tmp_path):
    """Timers fire while a guest prints megabytes without pause: the terminal takes the output
    in slices and the guest waits for it (before, the reader queued it all at once and the
    GUI thread did nothing else until it had drawn every byte)."""
    flood = Flood(tmp_path / "serial.sock", total=250_000)  # about 8 MB
    page = SerialPage(SerialEndpoint(unix_socket=str(flood.path)))
    qtbot.addWidget(page)
    page.show()
    ticks = [0]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(20)
    qtbot.waitUntil(lambda: ticks[0] >= 20 and "flood line" in page.terminal.text(),
                    timeout=60_000)
    timer.stop()
    assert not flood.done.is_set(), "the GUI thread only got time after the flood ended"
    shown = page.position
    qtbot.waitUntil(lambda: page.position > shown)  # and the output keeps coming
    page.close_page()
    flood.close()
