"""The Send key menu offers only what the current tab can send (review-code.md C12)."""

from __future__ import annotations

from types import SimpleNamespace

from backends.hyperv.keys import SENDABLE as HYPERV_KEYS
from desktopvm.protocol import ConsoleEndpoints, MachineSummary, PowerState, VncEndpoint
from desktopvm.protocol.keys import COMMON_COMBOS
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console import ConsoleWindow

MACHINE = MachineSummary(backend="fake", id="m1", name="vm", state=PowerState.RUNNING)


def labels(window: ConsoleWindow) -> list[str]:
    window._fill_send_menu()
    return [action.text() for action in window.send_menu.actions()]


def test_a_preview_offers_only_the_keys_its_backend_can_send(qtbot):
    owner = SimpleNamespace(registry=None, runner=None)
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    caps = SimpleNamespace(screenshot=True, keys=HYPERV_KEYS)  # Hyper-V: no SysRq
    window.add_pages(MACHINE, ConsoleEndpoints(), caps)
    offered = labels(window)
    assert "Alt+SysRq" not in offered
    assert "Ctrl+Alt+Del" in offered and "PrintScreen" in offered
    window.close()


def test_a_vnc_display_offers_every_key(qtbot, tmp_path):
    server = FakeVncServer(tmp_path / "vnc.sock", size=(64, 48))
    owner = SimpleNamespace(registry=None, runner=None)
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    window.add_pages(MACHINE, ConsoleEndpoints(vnc=VncEndpoint(unix_socket=str(server.path))),
                     SimpleNamespace(screenshot=True, keys=frozenset()))
    assert labels(window) == [label for label, _ in COMMON_COMBOS]
    window.close()
    server.close()
