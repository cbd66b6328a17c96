"""The per-machine serial log: replay on open, life across console windows, trimming, hand-off."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from desktopvm.protocol import (
    ConsoleEndpoints,
    MachineSummary,
    PowerState,
    SerialEndpoint,
    VncEndpoint,
)
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console import serial_log
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.handoff import Inbox
from desktopvm.ui.console.serial_log import SerialLog
from desktopvm.ui.console.text_pages import SerialPage
from desktopvm.ui.console.window import ConsoleWindow, follow_serial, show_console

MACHINE = MachineSummary(backend="fake", id="m1", name="vm", state=PowerState.RUNNING)
NO_PREVIEW = SimpleNamespace(screenshot=False)  # capabilities: only the serial tab


class Guest:
    """The guest's end of a serial socket: accepts one connection at a time."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(2)
        self.listener.settimeout(10)
        self.path = path
        self.endpoint = SerialEndpoint(unix_socket=str(path))

    def accept(self) -> socket.socket:
        return self.listener.accept()[0]

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def guest(tmp_path):
    peer = Guest(tmp_path / "serial.sock")
    yield peer
    peer.close()


@pytest.fixture
def owner():
    """The main window as the console code sees it."""
    return SimpleNamespace(registry=None, runner=None)


def logs(owner: SimpleNamespace) -> dict[tuple[str, str, str], SerialLog]:
    kept: dict[tuple[str, str, str], SerialLog] = owner.__dict__.get("_serial_logs", {})
    return kept


def test_a_console_shows_what_the_guest_printed_before_it_opened(qtbot, guest, owner):
    log = serial_log.serial_log_for(owner, MACHINE, guest.endpoint)
    conn = guest.accept()
    conn.sendall(b"SeaBIOS (version 1.16)\r\nBooting from DVD\r\n")
    qtbot.waitUntil(lambda: b"Booting" in log.buffer)
    # the console window opens later, on the display tab; its serial tab has the boot so far
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    display, serial = window.add_pages(MACHINE, ConsoleEndpoints(
        vnc=VncEndpoint(unix_socket=str(guest.path.with_name("no-vnc.sock"))),
        serial=guest.endpoint))
    assert isinstance(display, DisplayPage) and isinstance(serial, SerialPage)
    assert window.page() is display
    assert serial.log is log
    qtbot.waitUntil(lambda: "Booting from DVD" in serial.terminal.text())
    assert "connected" in serial.status()
    # closing the window keeps the log reading; reopening shows the output printed meanwhile
    window.close()
    conn.sendall(b"login: ")
    qtbot.waitUntil(lambda: log.buffer.endswith(b"login: "))
    assert logs(owner) == {MACHINE.key: log}
    again = ConsoleWindow(owner)
    qtbot.addWidget(again)
    (page,) = again.add_pages(MACHINE, ConsoleEndpoints(serial=guest.endpoint), NO_PREVIEW)
    assert isinstance(page, SerialPage) and page.log is log
    qtbot.waitUntil(lambda: "login:" in page.terminal.text())
    assert "SeaBIOS" in page.terminal.text()
    # typing goes to the guest through the same connection
    page.terminal.send(b"root\r")
    conn.settimeout(10)
    assert conn.recv(16) == b"root\r"
    # the machine stops: the tab shows the banner; the log goes once no tab shows it
    conn.close()
    qtbot.waitUntil(lambda: not page.banner.isHidden())
    assert logs(owner) == {MACHINE.key: log}
    again.close()
    assert logs(owner) == {}


def test_follow_serial_keeps_the_boot_from_the_start(qtbot, guest, runner):
    """Called when the machine starts: the endpoint comes from the backend in a job, and the
    boot is kept though no console is open yet."""
    asked: list[str] = []

    def console(machine_id: str) -> ConsoleEndpoints:
        asked.append(threading.current_thread().name)
        return ConsoleEndpoints(serial=guest.endpoint)

    backend = SimpleNamespace(console=console)
    owner = SimpleNamespace(registry=SimpleNamespace(open=lambda _name: backend), runner=runner)
    with qtbot.waitSignal(follow_serial(owner, MACHINE).finished, timeout=5000):
        pass
    assert asked and asked[0] != threading.main_thread().name
    conn = guest.accept()
    conn.sendall(b"Linux version 6.1\r\n")
    log = logs(owner)[MACHINE.key]
    qtbot.waitUntil(lambda: b"Linux version" in log.buffer)
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    (page,) = window.add_pages(MACHINE, ConsoleEndpoints(serial=guest.endpoint), NO_PREVIEW)
    assert isinstance(page, SerialPage) and page.log is log
    qtbot.waitUntil(lambda: "Linux version 6.1" in page.terminal.text())
    window.close()
    conn.close()
    qtbot.waitUntil(lambda: not logs(owner))


def test_a_log_with_no_tab_is_dropped_when_the_machine_stops(qtbot, guest, owner):
    log = serial_log.serial_log_for(owner, MACHINE, guest.endpoint)
    conn = guest.accept()
    conn.close()
    qtbot.waitUntil(lambda: log.is_closed)
    assert logs(owner) == {}
    # the next start gets a new log
    fresh = serial_log.serial_log_for(owner, MACHINE, guest.endpoint)
    assert fresh is not log
    guest.accept().close()
    qtbot.waitUntil(lambda: fresh.is_closed)


def test_reconnect_keeps_the_scroll_back(qtbot, guest, owner):
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    (page,) = window.add_pages(MACHINE, ConsoleEndpoints(serial=guest.endpoint), NO_PREVIEW)
    assert isinstance(page, SerialPage)
    conn = guest.accept()
    conn.sendall(b"first boot\r\n")
    qtbot.waitUntil(lambda: "first boot" in page.terminal.text())
    conn.close()
    qtbot.waitUntil(lambda: not page.banner.isHidden())
    accepted: list[socket.socket] = []
    acceptor = threading.Thread(target=lambda: accepted.append(guest.accept()))
    acceptor.start()
    page.banner.button.click()
    acceptor.join(10)
    accepted[0].sendall(b"second boot\r\n")
    qtbot.waitUntil(lambda: "second boot" in page.terminal.text())
    assert "first boot" in page.terminal.text()
    assert page.banner.isHidden()
    later = SerialPage(guest.endpoint, log=page.log)  # a tab opened now replays both boots
    qtbot.addWidget(later)
    qtbot.waitUntil(lambda: "second boot" in later.terminal.text())
    assert "first boot" in later.terminal.text()
    later.close_page()
    window.close()
    accepted[0].close()


def test_show_console_opens_on_the_display(qtbot, tmp_path, guest, owner):
    vnc = FakeVncServer(tmp_path / "vnc.sock")
    console = show_console(owner, MACHINE, ConsoleEndpoints(
        vnc=VncEndpoint(unix_socket=str(vnc.path)), serial=guest.endpoint))
    qtbot.addWidget(console)
    assert isinstance(console.page(), DisplayPage)
    assert [console.tabs.tabText(i) for i in range(console.tabs.count())] == [
        "vm — Display", "vm — Serial"]
    console.close()
    vnc.close()


def test_the_scroll_back_is_bounded_and_starts_at_a_line(qtbot, guest, monkeypatch):
    monkeypatch.setattr(serial_log, "SCROLLBACK_BYTES", 1000)
    log = SerialLog(guest.endpoint)
    conn = guest.accept()
    lines = b"".join(b"line %04d\r\n" % n for n in range(300))  # 3300 bytes
    conn.sendall(lines)
    qtbot.waitUntil(lambda: log.end == len(lines))
    assert len(log.buffer) <= 1000
    assert log.buffer.startswith(b"line ") and lines.endswith(bytes(log.buffer))
    assert log.start == len(lines) - len(log.buffer)
    page = SerialPage(guest.endpoint, log=log)  # a tab opened now replays what is kept
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.position == log.end)
    assert "line 0299" in page.terminal.text()
    page.close_page()
    log.close()
    conn.close()


def test_a_slow_tab_holds_the_guest_back_instead_of_losing_output(qtbot, guest, monkeypatch):
    monkeypatch.setattr(serial_log, "FEED_BUDGET_S", 0.0)  # a terminal that gets no time
    log = SerialLog(guest.endpoint)
    page = SerialPage(guest.endpoint, log=log)
    qtbot.addWidget(page)
    conn = guest.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # the guest's UART is small
    sent = b"".join(b"message %05d\r\n" % n for n in range(20_000))  # 300 kB
    sender = threading.Thread(target=conn.sendall, args=(sent,), daemon=True)
    sender.start()
    # the tab lags: the log stops taking output, the reader waits, the guest's writes block
    qtbot.waitUntil(lambda: log.end - page.position >= serial_log.LAG_LIMIT)
    qtbot.wait(300)
    assert sender.is_alive() and log.end < len(sent)
    monkeypatch.setattr(serial_log, "FEED_BUDGET_S", 0.008)  # it gets its time again
    qtbot.waitUntil(lambda: not sender.is_alive(), timeout=30_000)
    qtbot.waitUntil(lambda: page.position == len(sent), timeout=30_000)
    assert bytes(log.buffer) == sent[-len(log.buffer):] and log.end == len(sent)
    page.close_page()
    log.close()
    conn.close()


def test_inbox_keeps_order_waits_when_full_and_wakes_on_close():
    inbox = Inbox(limit=10)
    assert inbox.put(b"0123456789")
    inbox.post("event", 1)
    results: list[bool] = []
    blocked = threading.Thread(target=lambda: results.append(inbox.put(b"more")))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # full: the worker waits
    assert inbox.take() == [("data", b"0123456789"), ("event", 1)]
    blocked.join(5)
    assert results == [True] and inbox.take() == [("data", b"more")]
    assert inbox.put(b"0123456789")
    late = threading.Thread(target=lambda: results.append(inbox.put(b"x")))
    late.start()
    inbox.close()
    late.join(5)
    assert results == [True, False] and not inbox.is_open
    inbox.post("ignored")
    assert inbox.take() == []


def test_a_tab_torn_down_without_closing_is_no_longer_fed(qtbot, guest, owner):
    # Qt can delete a window's pages without close_page (its window deleted outright): the
    # shared log must stop feeding them, not raise in its timer slot (the stress test's crash).
    import shiboken6

    log = serial_log.serial_log_for(owner, MACHINE, guest.endpoint)
    conn = guest.accept()
    window = ConsoleWindow(owner)
    (page,) = window.add_pages(MACHINE, ConsoleEndpoints(serial=guest.endpoint), NO_PREVIEW)
    assert isinstance(page, SerialPage) and page.log is log
    conn.sendall(b"first\r\n")
    qtbot.waitUntil(lambda: "first" in page.terminal.text())
    window.deleteLater()  # no closeEvent, no close_page: Qt deletes it and its pages
    qtbot.waitUntil(lambda: not shiboken6.isValid(page))
    with qtbot.captureExceptions() as raised:
        conn.sendall(b"second\r\n")
        qtbot.waitUntil(lambda: b"second" in log.buffer)
        qtbot.wait(3 * serial_log.TICK_MS)
    assert raised == []
    assert log.readers == []
    conn.close()
    log.close()
