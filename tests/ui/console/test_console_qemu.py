"""The console window against real QEMU (TCG) running the test guest."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from backends.qemu import process
from backends.qemu.backend import QemuBackend
from desktopvm.model import UsbSpec
from desktopvm.protocol import CancelToken, ConsoleEndpoints, VncEndpoint, no_progress
from desktopvm.testing.qemu_guest import (
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    BTN_RIGHT,
    EV_ABS,
    EV_KEY,
    EV_REL,
    PROMPT,
    PS2_KEYBOARD,
    PS2_MOUSE,
    REL_X,
    REL_Y,
    TEXT_MODE_SIZE,
    TYPED_ANSWER,
    TYPED_COMMAND,
    USB_TABLET,
    InputEvent,
    SerialReader,
    guest_spec,
    without_sync,
)
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.serial_log import serial_log_for
from desktopvm.ui.console.text_pages import SerialPage
from desktopvm.ui.console.vnc_view import Scaling
from desktopvm.ui.console.window import show_console

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def test_display_and_serial_tabs_show_the_guest(qtbot, qemu, guest_iso, tmp_path):
    machine_id = qemu.create(guest_spec("console", guest_iso), progress=no_progress,
                             cancel=CancelToken())
    qemu.start(machine_id)
    summary = qemu.get_machine(machine_id).summary
    qtbot.waitUntil(lambda: qemu.console(machine_id).serial is not None, timeout=30_000)
    window = ConsoleWindow(SimpleNamespace(registry=None, runner=None))
    qtbot.addWidget(window)
    display, serial = window.add_pages(summary, qemu.console(machine_id))
    assert isinstance(display, DisplayPage) and isinstance(serial, SerialPage)
    window.show()
    # the serial terminal reaches the shell; a command's output and ANSI colours show
    window.tabs.setCurrentWidget(serial)

    def poke_until_prompt() -> bool:
        if "guest#" not in serial.terminal.text():
            serial.log.send(b"\n")
            return False
        return True

    qtbot.waitUntil(poke_until_prompt, timeout=120_000)
    serial.log.send(b"echo HELLO-$((6*7)); printf '\\033[31mred\\033[0m\\n'\n")
    qtbot.waitUntil(lambda: "HELLO-42" in serial.terminal.text(), timeout=30_000)
    term = serial.terminal.term
    reds = [ch for line in term.buffer.values() for ch in line.values()
            if ch.data == "r" and ch.fg == "red"]
    assert reds, serial.terminal.text()
    # the VGA console shows the guest's text through VNC
    window.tabs.setCurrentWidget(display)
    qtbot.waitUntil(lambda: display.session.is_connected, timeout=30_000)

    def not_blank() -> bool:
        image = display.view.image
        return any(image.pixelColor(x, y).lightness() > 60
                   for y in range(0, image.height(), 4) for x in range(0, image.width(), 4))

    qtbot.waitUntil(not_blank, timeout=60_000)
    assert display.view.image.width() >= 640
    window.grab().save(str(tmp_path / "console.png"))
    window.close()


# -- the VNC view against the guest: keyboard, pointer, password, a dying VM ------------------

KEY_A, KEY_B, KEY_LEFTSHIFT = 30, 48, 42


def boot_guest(backend, guest_iso, name: str) -> tuple[str, SerialReader]:
    """Create and start the test guest; answer its serial shell once the prompt shows."""
    machine_id = backend.create(guest_spec(name, guest_iso), progress=no_progress,
                                cancel=CancelToken())
    backend.start(machine_id)
    reader = SerialReader(backend, machine_id)
    reader.wait_for(PROMPT, poke=True)
    return machine_id, reader


def display_window(qtbot, summary, vnc: VncEndpoint) -> tuple[ConsoleWindow, DisplayPage]:
    """A console window with just the display tab (the test keeps the serial socket)."""
    window = ConsoleWindow(SimpleNamespace(registry=None, runner=None))
    qtbot.addWidget(window)
    (page,) = window.add_pages(summary, ConsoleEndpoints(vnc=vnc))
    assert isinstance(page, DisplayPage)
    window.show()
    return window, page


def test_keys_typed_into_the_view_reach_the_guest_keyboard(qtbot, qemu, guest_iso):
    machine_id, reader = boot_guest(qemu, guest_iso, "vnc-keys")
    reader.record_input(PS2_KEYBOARD)
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    qtbot.waitUntil(lambda: page.session.client is not None and page.session.client.ext_keys,
                    timeout=30_000)
    qtbot.keyClicks(page.view, "ab")  # keysyms: the offscreen platform has no scancodes
    page.send_combo("shift")  # QEMU's extended key event: a scancode
    # 3 keys x (press, release) x (MSC_SCAN, KEY, SYN) = 18 events
    events = reader.input_events(count=18)
    keys = [(code, value) for kind, code, value in events if kind == EV_KEY]
    assert keys == [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0),
                    (KEY_LEFTSHIFT, 1), (KEY_LEFTSHIFT, 0)], keys
    reader.close()
    window.close()


def guest_point(view, x: int, y: int) -> QPoint:
    """The view position that shows guest pixel (x, y)."""
    target, scale = view.target(), view.scale()
    return QPointF(target.x() + (x + 0.5) * scale, target.y() + (y + 0.5) * scale).toPoint()


def recorded(reader, enough, count: int) -> list[InputEvent]:
    """The guest's recorded input events once `enough(events)` holds (asks up to 3 times)."""
    events: list[InputEvent] = []
    for _ in range(3):
        events = without_sync(reader.input_events(count=count))
        if enough(events):
            break
    return events


def test_tablet_pointer_from_the_view_reaches_the_guest_driver(qtbot, qemu, generic_iso):
    machine_id, reader = boot_guest(qemu, generic_iso, "vnc-tablet")  # USB tablet by default
    reader.record_input(USB_TABLET)
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    view = page.view
    # the guest's tablet driver is up, so QEMU says the pointer is absolute
    qtbot.waitUntil(lambda: page.session.client is not None
                    and page.session.client.absolute_pointer is True, timeout=30_000)
    qtbot.waitUntil(lambda: view.image.width() == TEXT_MODE_SIZE[0], timeout=30_000)
    assert not view.relative
    point = guest_point(view, 360, 100)
    qtbot.mouseMove(view, point)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=point)
    events = recorded(reader, lambda e: (EV_KEY, BTN_LEFT, 0) in e, count=8)
    width, height = TEXT_MODE_SIZE
    # QEMU scales guest pixels to the tablet's 0..32767; the guest reads what it sent
    xs = [v for t, c, v in events if (t, c) == (EV_ABS, ABS_X)]
    ys = [v for t, c, v in events if (t, c) == (EV_ABS, ABS_Y)]
    assert xs and abs(xs[-1] - 360 * 0x7FFF // width) <= 2, events
    assert ys and abs(ys[-1] - 100 * 0x7FFF // height) <= 2, events
    buttons = [(c, v) for t, c, v in events if t == EV_KEY]
    assert buttons == [(BTN_LEFT, 1), (BTN_LEFT, 0)], events
    assert view.grabbed  # a click also grabs the keyboard
    reader.close()
    window.close()


def test_relative_mouse_from_the_view_reaches_the_guest_driver(qtbot, qemu, generic_iso):
    spec = guest_spec("vnc-mouse", generic_iso).model_copy(
        update={"usb": UsbSpec(version=None, tablet=False)})  # only the PS/2 mouse
    machine_id = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    qemu.start(machine_id)
    reader = SerialReader(qemu, machine_id)
    reader.wait_for(PROMPT, poke=True)
    reader.record_input(PS2_MOUSE)
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    view = page.view
    qtbot.waitUntil(lambda: view.relative, timeout=30_000)
    qtbot.waitUntil(lambda: view.image.width() == TEXT_MODE_SIZE[0], timeout=30_000)
    window.set_scaling(Scaling.ONE_TO_ONE)  # one view pixel is one guest pixel of motion
    centre = view.rect().center()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=centre)  # grabs; not the guest's
    assert view.grabbed
    qtbot.waitUntil(lambda: "mouse and keyboard grabbed" in window.statusBar().currentMessage())
    qtbot.mouseMove(view, centre + QPoint(30, 20))
    qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=centre + QPoint(30, 20))
    events = recorded(reader, lambda e: (EV_KEY, BTN_RIGHT, 0) in e, count=6)
    assert sum(v for t, c, v in events if (t, c) == (EV_REL, REL_X)) == 30, events
    assert sum(v for t, c, v in events if (t, c) == (EV_REL, REL_Y)) == 20, events
    buttons = [(c, v) for t, c, v in events if t == EV_KEY]
    assert buttons == [(BTN_RIGHT, 1), (BTN_RIGHT, 0)], events  # no left click: it grabbed
    reader.close()
    window.close()


SHIFTED = set('~!@#$%^&*()_+{}|:"<>?')


def type_like_a_user(qtbot, view, text: str) -> None:
    """Type `text` into the view as a person on a US keyboard would, Shift and all."""
    for char in text:
        if char == "\n":
            qtbot.keyClick(view, Qt.Key.Key_Return)
        elif char in SHIFTED or char.isupper():
            qtbot.keyPress(view, Qt.Key.Key_Shift)
            qtbot.keyClick(view, char, Qt.KeyboardModifier.ShiftModifier)
            qtbot.keyRelease(view, Qt.Key.Key_Shift)
        else:
            qtbot.keyClick(view, char)


def test_a_command_typed_into_the_view_runs_in_the_guest(qtbot, qemu, guest_iso):
    machine_id, reader = boot_guest(qemu, guest_iso, "vnc-typing")
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    qtbot.waitUntil(lambda: page.session.is_connected, timeout=30_000)
    qtbot.mouseClick(page.view, Qt.MouseButton.LeftButton)  # grab the keyboard
    # The VGA console runs a shell; the command's output goes to the serial port.
    type_like_a_user(qtbot, page.view, TYPED_COMMAND)
    reader.wait_for(TYPED_ANSWER, timeout=60)
    reader.close()
    window.close()


def test_the_guest_changing_resolution_resizes_the_view(qtbot, qemu, generic_iso):
    machine_id, reader = boot_guest(qemu, generic_iso, "vnc-resize")
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    view = page.view
    qtbot.waitUntil(lambda: (view.image.width(), view.image.height()) == TEXT_MODE_SIZE,
                    timeout=30_000)
    reader.load_driver("bochs")  # text mode -> a framebuffer console (1280x800 on QEMU 7.2)
    qtbot.waitUntil(lambda: view.image.width() > TEXT_MODE_SIZE[0], timeout=60_000)
    width, height = view.image.width(), view.image.height()
    assert height > TEXT_MODE_SIZE[1]
    qtbot.waitUntil(lambda: f"{width}×{height}" in window.statusBar().currentMessage(),
                    timeout=10_000)

    def text_shows() -> bool:
        image = view.image
        return any(image.pixelColor(x, y).lightness() > 60
                   for y in range(0, height, 4) for x in range(0, width, 4))

    qtbot.waitUntil(text_shows, timeout=60_000)  # the new screen is painted, not just resized
    reader.close()
    window.close()


def test_vnc_password_right_connects_wrong_fails_clearly(qtbot, qemu, guest_iso):
    guarded = QemuBackend(qemu.settings.replace(vnc_password=True))
    machine_id = guarded.create(guest_spec("vnc-password", guest_iso), progress=no_progress,
                                cancel=CancelToken())
    guarded.start(machine_id)
    vnc = guarded.console(machine_id).vnc
    assert vnc is not None and len(vnc.password) == 8
    summary = guarded.get_machine(machine_id).summary
    wrong = replace(vnc, password="x" + vnc.password[1:] if vnc.password[0] != "x"
                    else "y" + vnc.password[1:])
    window, page = display_window(qtbot, summary, wrong)
    qtbot.waitUntil(page.banner.isVisible, timeout=30_000)
    assert "Authentication failed" in page.banner_text.text()
    assert not page.session.is_connected
    qtbot.waitUntil(lambda: "Disconnected" in window.statusBar().currentMessage(), timeout=10_000)
    window.close()
    window, page = display_window(qtbot, summary, replace(vnc, password=""))
    qtbot.waitUntil(page.banner.isVisible, timeout=30_000)
    assert "wants a password" in page.banner_text.text()
    window.close()
    window, page = display_window(qtbot, summary, vnc)
    qtbot.waitUntil(lambda: page.session.is_connected, timeout=30_000)
    qtbot.waitUntil(lambda: page.view.image.width() >= 640, timeout=30_000)
    assert not page.banner.isVisible()
    # is_connected flips on the network thread; the status line follows a queued signal.
    qtbot.waitUntil(lambda: "Connected to" in window.statusBar().currentMessage(),
                    timeout=10_000)
    window.close()
    guarded.power_off(machine_id)


def test_killing_the_vm_shows_the_disconnect_banner(qtbot, qemu, guest_iso):
    machine_id = qemu.create(guest_spec("vnc-kill", guest_iso), progress=no_progress,
                             cancel=CancelToken())
    qemu.start(machine_id)
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    qtbot.waitUntil(lambda: page.session.is_connected, timeout=30_000)
    assert not page.banner.isVisible()
    runtime = qemu.store.running_runtime(qemu.store.files(machine_id))
    process.kill(runtime.pid)
    qtbot.waitUntil(page.banner.isVisible, timeout=30_000)
    assert "Disconnected" in page.banner_text.text()
    qtbot.waitUntil(lambda: "Disconnected" in window.statusBar().currentMessage(), timeout=10_000)
    # Reconnecting to a dead VM fails clearly and keeps the banner up.
    page.reconnect_button.click()
    qtbot.waitUntil(lambda: "Could not connect" in page.banner_text.text()
                    and page.banner.isVisible(), timeout=30_000)
    window.close()


FLOOD_LINES = 10_000  # about 120 kB: all of it stays in the 256 KiB scroll-back


def test_serial_flood_while_consoles_open_and_close(qtbot, qemu, guest_iso):
    """The review's crash on a real guest: it prints without pause while consoles open and
    close; every line arrives, in order, and the last console shows the end."""
    machine_id, reader = boot_guest(qemu, guest_iso, "serial-flood")
    reader.close()  # QEMU's serial socket takes one client: the machine's log
    summary = qemu.get_machine(machine_id).summary
    endpoints = qemu.console(machine_id)
    assert endpoints.serial is not None
    owner = SimpleNamespace(registry=None, runner=None)
    log = serial_log_for(owner, summary, endpoints.serial)
    qtbot.waitUntil(lambda: log.is_connected, timeout=30_000)
    log.send(b"i=0; while [ $i -le %d ]; do echo FLOOD-$i; i=$((i+1)); done\n" % FLOOD_LINES)
    last = b"FLOOD-%d\r\n" % FLOOD_LINES
    cycles = 0
    while last not in log.buffer and cycles < 1000:
        console = show_console(owner, summary, endpoints)  # display and serial tabs
        qtbot.wait(150)
        console.close()
        qtbot.wait(50)
        cycles += 1
    assert last in log.buffer, bytes(log.buffer[-300:])
    assert cycles > 3  # the consoles really came and went during the flood
    numbers = [int(line[6:]) for line in bytes(log.buffer).split(b"\r\n")
               if line.startswith(b"FLOOD-") and line[6:].isdigit()]
    assert numbers == list(range(FLOOD_LINES + 1))
    console = show_console(owner, summary, endpoints)
    serial = console.tabs.widget(1)
    assert isinstance(serial, SerialPage)
    qtbot.waitUntil(lambda: f"FLOOD-{FLOOD_LINES}" in serial.terminal.text(), timeout=30_000)
    console.close()
    log.close()
