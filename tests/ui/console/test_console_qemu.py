"""The console window against real QEMU (TCG) running the test guest."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from desktopvm.protocol import CancelToken, no_progress
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.text_pages import SerialPage
from tests.backends.qemu.guest import guest_spec

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
