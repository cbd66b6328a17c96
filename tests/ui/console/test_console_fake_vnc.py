"""The console window's VNC tab against a scripted fake server (no QEMU needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import QPoint, Qt

from desktopvm.protocol import ConsoleEndpoints, MachineSummary, PowerState, VncEndpoint
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console import ConsoleWindow
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.vnc_view import Scaling

MACHINE = MachineSummary(backend="fake", id="m1", name="fake-vm", state=PowerState.RUNNING)


@pytest.fixture
def server(tmp_path):
    fake = FakeVncServer(tmp_path / "vnc.sock", size=(64, 48))
    yield fake
    fake.close()


@pytest.fixture
def window(qtbot, server):
    console = ConsoleWindow(SimpleNamespace(registry=None, runner=None))
    qtbot.addWidget(console)
    console.add_pages(MACHINE, ConsoleEndpoints(vnc=VncEndpoint(unix_socket=str(server.path))))
    console.show()
    page = console.page()
    assert isinstance(page, DisplayPage)
    qtbot.waitUntil(lambda: page.session.is_connected)
    assert server.connected.wait(5)
    yield console
    console.close()


def test_frames_resize_keys_and_disconnect_banner(qtbot, window, server, tmp_path):
    page = window.page()
    assert isinstance(page, DisplayPage)
    server.fill(8, 4, 10, 6, b"\x00\x00\xff\x00")  # red
    qtbot.waitUntil(lambda: page.view.image.pixelColor(10, 5).red() == 255)
    assert page.view.image.pixelColor(0, 0).red() == 0
    qtbot.waitUntil(lambda: "64×48" in window.statusBar().currentMessage(), timeout=10_000)
    # DesktopSize: the guest changes resolution and the view follows
    server.resize(200, 120)
    qtbot.waitUntil(lambda: page.view.image.width() == 200)
    qtbot.waitUntil(lambda: "200×120" in window.statusBar().currentMessage())
    # keys: Ctrl+Alt+Del from the menu goes as scancodes; typed keys as keysyms
    qtbot.waitUntil(lambda: page.session.client is not None and page.session.client.ext_keys)
    window.send_combo("ctrl-alt-delete")
    qtbot.keyClick(page.view, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: len([m for m in server.messages if m[0] == "key"]) >= 8)
    keys = [m for m in server.messages if m[0] == "key"]
    assert keys[2] == ("key", True, 0xFFFF, 0xD3)
    assert ("key", True, ord("a"), 0) in keys and ("key", False, ord("a"), 0) in keys
    # pointer: a click maps to guest coordinates
    qtbot.mouseClick(page.view, Qt.MouseButton.LeftButton, pos=page.view.rect().center())
    qtbot.waitUntil(lambda: any(m[0] == "pointer" and m[1] == 1 for m in server.messages))
    assert page.view.grabbed
    qtbot.waitUntil(lambda: "grabbed" in window.statusBar().currentMessage(), timeout=10_000)
    # screenshot
    assert window.save_screenshot(str(tmp_path / "shot.png"))
    # the VM dies: banner with Reconnect; reconnecting works
    server.drop_client()
    qtbot.waitUntil(page.banner.isVisible)
    assert "Disconnected" in page.banner_text.text()
    assert not page.view.grabbed
    page.reconnect_button.click()
    qtbot.waitUntil(lambda: page.session.is_connected and not page.banner.isVisible())


def test_modifiers_are_released_on_focus_out(qtbot, window, server):
    page = window.page()
    assert isinstance(page, DisplayPage)
    qtbot.keyPress(page.view, Qt.Key.Key_Control)
    qtbot.waitUntil(lambda: ("key", True, 0xFFE3, 0) in server.messages)
    page.view.release_keys()  # what focusOutEvent does
    qtbot.waitUntil(lambda: ("key", False, 0xFFE3, 0) in server.messages)


def test_relative_pointer_grabs_and_sends_motion(qtbot, window, server):
    page = window.page()
    assert isinstance(page, DisplayPage)
    view = page.view
    page.set_scaling(Scaling.ONE_TO_ONE)  # one view pixel per guest pixel: motion is unscaled
    assert not view.relative
    server.pointer_mode(absolute=False)  # the guest has a mouse, not a tablet
    qtbot.waitUntil(lambda: view.relative)
    qtbot.waitUntil(lambda: "relative mouse" in window.statusBar().currentMessage())

    def pointer_messages() -> list[tuple[object, ...]]:
        return [m for m in server.messages if m[0] == "pointer"]

    centre = view.rect().center()
    qtbot.mouseMove(view, centre)  # not grabbed: the guest pointer does not follow
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=centre)  # grabs; not sent
    assert view.grabbed
    qtbot.waitUntil(lambda: "mouse and keyboard grabbed" in window.statusBar().currentMessage())
    qtbot.mouseMove(view, centre + QPoint(22, -7))
    qtbot.mousePress(view, Qt.MouseButton.RightButton, pos=centre + QPoint(22, -7))
    qtbot.mouseRelease(view, Qt.MouseButton.RightButton, pos=centre + QPoint(22, -7))
    qtbot.waitUntil(lambda: len(pointer_messages()) >= 3)
    assert pointer_messages() == [("pointer", 0, 0x7FFF + 22, 0x7FFF - 7),
                                  ("pointer", 4, 0x7FFF, 0x7FFF),
                                  ("pointer", 0, 0x7FFF, 0x7FFF)]
    # Ctrl+Alt gives mouse and keyboard back
    qtbot.keyPress(view, Qt.Key.Key_Control)
    qtbot.keyPress(view, Qt.Key.Key_Alt, Qt.KeyboardModifier.ControlModifier)
    assert not view.grabbed
    qtbot.mouseMove(view, centre + QPoint(40, 40))
    server.pointer_mode(absolute=True)  # a tablet again: positions, no grab needed
    qtbot.waitUntil(lambda: not view.relative)
    qtbot.mouseMove(view, view.target().topLeft().toPoint() + QPoint(3, 4))
    qtbot.waitUntil(lambda: pointer_messages()[-1] == ("pointer", 0, 3, 4))
    assert len(pointer_messages()) == 4  # nothing was sent while released in relative mode


def test_wrong_password_shows_authentication_failed(qtbot, tmp_path):
    fake = FakeVncServer(tmp_path / "pw.sock", password="right")
    console = ConsoleWindow(SimpleNamespace(registry=None, runner=None))
    qtbot.addWidget(console)
    console.add_pages(MACHINE, ConsoleEndpoints(vnc=VncEndpoint(
        unix_socket=str(fake.path), password="wrong")))
    page = console.page()
    assert isinstance(page, DisplayPage)
    qtbot.waitUntil(lambda: page.banner.isVisibleTo(console))
    assert "Authentication failed" in page.banner_text.text()
    console.close()
    fake.close()
