"""The serial tab against a unix-socket server: scroll-back bar, typing, disconnect, reconnect."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktopvm.protocol import SerialEndpoint
from desktopvm.ui.console.text_pages import SerialPage


class SerialServer:
    """Accepts connections one at a time; the test sends and reads through `conn`."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(2)
        self.path = path

    def accept(self) -> socket.socket:
        self.listener.settimeout(10)
        conn, _ = self.listener.accept()
        return conn

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server(tmp_path):
    serial = SerialServer(tmp_path / "serial.sock")
    yield serial
    serial.close()


def test_scroll_back_typing_and_reconnect(qtbot, server):
    page = SerialPage(SerialEndpoint(unix_socket=str(server.path)))
    qtbot.addWidget(page)
    page.resize(700, 400)
    page.show()
    conn = server.accept()
    qtbot.waitUntil(lambda: "connected" in page.status())
    conn.sendall(b"".join(b"line %d\r\n" % n for n in range(300)))
    qtbot.waitUntil(lambda: "line 299" in page.terminal.text())
    bar = page.scrollbar
    assert bar.maximum() > 250 and bar.value() == bar.maximum()  # at the live screen
    bar.setValue(0)  # drag to the top of the scroll-back
    assert page.terminal.text().splitlines()[0] == "line 0"
    assert bar.value() == 0 and "line 299" not in page.terminal.text()
    conn.sendall(b"fresh output\r\n")  # new output brings the live screen back
    qtbot.waitUntil(lambda: "fresh output" in page.terminal.text())
    assert bar.value() == bar.maximum()
    # keys typed into the terminal go to the guest
    qtbot.keyClicks(page.terminal, "ls")
    qtbot.keyClick(page.terminal, Qt.Key.Key_Return)
    received = b""
    conn.settimeout(10)
    while len(received) < 3:
        received += conn.recv(16)
    assert received == b"ls\r"
    # the machine goes away: a banner; Reconnect connects again
    conn.close()
    qtbot.waitUntil(page.banner.isVisible)
    assert "closed" in page.status()
    accepted: list[socket.socket] = []
    acceptor = threading.Thread(target=lambda: accepted.append(server.accept()))
    acceptor.start()
    page.banner.button.click()
    acceptor.join(10)
    qtbot.waitUntil(lambda: "connected" in page.status() and not page.banner.isVisible())
    accepted[0].sendall(b"after reconnect\r\n")
    qtbot.waitUntil(lambda: "after reconnect" in page.terminal.text())
    page.close_page()
    accepted[0].close()
