"""The console window against real QEMU (TCG) running the test guest."""

from __future__ import annotations

import re
import struct
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QPoint, Qt

from backends.qemu import process, qmp
from backends.qemu.backend import QemuBackend
from backends.qemu.layout import RunFiles
from desktopvm.protocol import CancelToken, ConsoleEndpoints, VncEndpoint, no_progress
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.text_pages import SerialPage
from tests.backends.qemu.guest import PROMPT, SerialReader, guest_spec

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
            serial.reader.send(b"\n")
            return False
        return True

    qtbot.waitUntil(poke_until_prompt, timeout=120_000)
    serial.reader.send(b"echo HELLO-$((6*7)); printf '\\033[31mred\\033[0m\\n'\n")
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

EV_KEY = 1
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


def input_events(dump: bytes) -> list[tuple[int, int, int]]:
    """(type, code, value) of the struct input_event records in `od -An -tx1 -v` output."""
    hex_bytes = [w for line in dump.splitlines() for w in line.split()
                 if len(w) == 2 and all(c in b"0123456789abcdef" for c in w)]
    raw = bytes(int(w, 16) for w in hex_bytes)
    return [struct.unpack_from("<HHi", raw, offset + 16) for offset in range(0, len(raw) - 23, 24)]


def test_keys_typed_into_the_view_reach_the_guest_keyboard(qtbot, qemu, guest_iso):
    machine_id, reader = boot_guest(qemu, guest_iso, "vnc-keys")
    # Record the PS/2 keyboard's evdev events in the guest.
    reader.run("for d in /sys/class/input/event*; do grep -q 'AT Translated' $d/device/name "
               "&& K=/dev/input/${d##*/}; done; cat $K > /tmp/keys & echo LISTENING-$((5*5))",
               b"LISTENING-25")
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    qtbot.waitUntil(lambda: page.session.client is not None and page.session.client.ext_keys,
                    timeout=30_000)
    qtbot.keyClicks(page.view, "ab")  # keysyms: the offscreen platform has no scancodes
    page.send_combo("shift")  # QEMU's extended key event: a scancode
    # 3 keys x (press, release) x (MSC_SCAN, KEY, SYN) = 18 events of 24 bytes
    out = reader.run("until [ $(wc -c < /tmp/keys) -ge 432 ]; do sleep 0.1; done; "
                     "echo DUMP-$((7*7)); od -An -tx1 -v /tmp/keys; echo DUMPED-$((8*8))",
                     b"DUMPED-64", timeout=60)
    dump = out.split(b"DUMP-49", 1)[1].split(b"DUMPED-64", 1)[0]
    keys = [(code, value) for kind, code, value in input_events(dump) if kind == EV_KEY]
    assert keys == [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0),
                    (KEY_LEFTSHIFT, 1), (KEY_LEFTSHIFT, 0)], keys
    reader.close()
    window.close()


def trace_input_events(backend, machine_id: str, log: Path) -> None:
    """Have QEMU log every event its input layer hands to the guest's devices into `log`.

    The test guest loads no mouse driver (no psmouse, no usbhid), so the guest cannot report
    pointer events itself; QEMU's input-layer trace shows what reaches its PS/2 mouse/tablet.
    """
    runtime = backend.store.running_runtime(backend.store.files(machine_id))
    with qmp.connect(RunFiles(Path(runtime.run_dir)).qmp) as session:
        session.human(f"logfile {log}")
        session.human("trace-event input_event_* on")


def test_pointer_events_from_the_view_reach_the_guest(qtbot, qemu, guest_iso, tmp_path):
    machine_id, reader = boot_guest(qemu, guest_iso, "vnc-pointer")
    log = tmp_path / "input-trace.log"
    trace_input_events(qemu, machine_id, log)
    window, page = display_window(qtbot, qemu.get_machine(machine_id).summary,
                                  qemu.console(machine_id).vnc)
    qtbot.waitUntil(lambda: page.session.is_connected, timeout=30_000)
    qtbot.waitUntil(lambda: page.view.image.width() >= 640, timeout=30_000)
    view = page.view
    # Without a guest tablet driver QEMU's current pointer is the PS/2 mouse: relative.
    qtbot.waitUntil(lambda: view.relative, timeout=30_000)
    target = view.target().toRect()
    start, end = target.center(), target.center() + QPoint(40, 25)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=start)  # grabs the pointer
    assert view.grabbed
    qtbot.mouseMove(view, end)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=end)
    qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=end)

    def traced() -> str:
        return log.read_text() if log.exists() else ""

    wanted = ("button left, down 1", "button left, down 0", "button right, down 1",
              "button right, down 0")
    qtbot.waitUntil(lambda: all(w in traced() for w in wanted), timeout=30_000)
    moves = re.findall(r"input_event_(rel|abs) con -?\d+, axis (x|y), value (-?\d+)", traced())
    assert any(axis == "x" and int(value) != 0 for _kind, axis, value in moves), traced()
    assert any(axis == "y" and int(value) != 0 for _kind, axis, value in moves), traced()
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
