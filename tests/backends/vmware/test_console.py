"""Consoles over Workstation's VNC server, on the stand-in's picture server (fakevnc.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.vmware import console
from backends.vmware.vmx import VmxDocument
from desktopvm.model import defaults_for
from desktopvm.protocol import (
    AuthenticationFailed,
    CancelToken,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.rfb import AuthenticationFailed as RfbAuthenticationFailed
from desktopvm.rfb import RfbClient, open_socket
from desktopvm.testing.doubles.vmware.standin import FakeVMware


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeVMware]:
    fake = FakeVMware(tmp_path / "vmware")
    yield fake
    fake.close()


def made(fake: FakeVMware, name: str = "m1") -> str:
    backend = fake.backend()
    spec = defaults_for("other-linux", backend.capabilities(), name=name)
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def test_the_vnc_console_of_a_machine_made_in_vmware_comes_from_its_vmx(
        fake: FakeVMware, shared_fixtures: Path):
    machine = made(fake)
    fake.set(display="")  # no server: the fixture's port 5903 may be another program's here
    backend = fake.backend()
    backend.library.own_list.write_text("", "utf-8")  # a machine made in VMware, not by us
    keys = VmxDocument.read(shared_fixtures / "vmware_libvirt_remotedisplay_vnc_keys.vmx")
    document = VmxDocument.read(Path(machine))
    for key in ("RemoteDisplay.vnc.enabled", "RemoteDisplay.vnc.port",
                "RemoteDisplay.vnc.password"):
        document.set(key, keys.get(key))
    Path(machine).write_bytes(document.to_bytes())
    backend.start(machine)
    endpoints = backend.console(machine)
    assert endpoints.vnc is not None
    assert (endpoints.vnc.host, endpoints.vnc.port, endpoints.vnc.password) == (
        "127.0.0.1", 5903, "password")
    assert endpoints.serial is not None and endpoints.serial.unix_socket.endswith("serial1.sock")


def test_without_vnc_screenshots_and_keys_are_refused_saying_how_to_turn_it_on(
        fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.library.own_list.write_text("", "utf-8")  # VMware's machine, VNC off in its .vmx
    backend.start(machine)
    assert backend.console(machine).vnc is None
    for call in (lambda: backend.screenshot(machine), lambda: backend.type_text(machine, "x"),
                 lambda: backend.send_keys(machine, ["ctrl"])):
        with pytest.raises(UnsupportedOperation, match="VNC Connections"):
            call()
    assert fake.vnc_keys() == []


def test_own_machines_get_a_new_vnc_password_at_each_start_and_only_it_opens(
        fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    passwords: list[str] = []
    for _ in range(2):
        backend.start(machine)
        endpoint = backend.console(machine).vnc
        assert endpoint is not None and endpoint.host == "127.0.0.1"
        for stale in passwords:  # the stand-in's server asks for the password in the .vmx
            client = RfbClient(open_socket(endpoint.host, endpoint.port), password=stale)
            with pytest.raises(RfbAuthenticationFailed):
                client.handshake()
        client = RfbClient(open_socket(endpoint.host, endpoint.port),
                           password=endpoint.password)
        client.handshake()
        client.close()
        passwords.append(endpoint.password)
        backend.power_off(machine)
    assert len(set(passwords)) == 2 and all(len(p) == 8 for p in passwords)


def test_a_wrong_password_in_the_vmx_is_an_authentication_error(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    document = VmxDocument.read(Path(machine))  # changed after VMware read it
    document.set("RemoteDisplay.vnc.password", "stale123")
    Path(machine).write_bytes(document.to_bytes())
    with pytest.raises(AuthenticationFailed, match="refused the password"):
        backend.screenshot(machine)


def test_the_screenshot_is_the_servers_picture_in_its_colours(fake: FakeVMware):
    from PySide6.QtGui import QColor, QImage

    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    image = QImage.fromData(backend.screenshot(machine))
    assert (image.width(), image.height()) == (640, 400)
    # fakevnc.py: left half red, right half blue, bottom quarter green
    assert image.pixelColor(10, 10) == QColor(255, 0, 0)
    assert image.pixelColor(630, 10) == QColor(0, 0, 255)
    assert image.pixelColor(320, 390) == QColor(0, 160, 0)


def test_keys_and_text_reach_the_vnc_server_as_keysyms_in_order(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    backend.send_keys(machine, ["ctrl-alt-delete"])
    backend.type_text(machine, "A!\n")
    events = [(e["keysym"], e["down"]) for e in fake.vnc_keys()]
    ctrl, alt, delete, shift, enter = 0xFFE3, 0xFFE9, 0xFFFF, 0xFFE1, 0xFF0D
    assert events == [
        (ctrl, True), (alt, True), (delete, True), (delete, False), (alt, False), (ctrl, False),
        (shift, True), (ord("A"), True), (ord("A"), False), (shift, False),
        (shift, True), (ord("!"), True), (ord("!"), False), (shift, False),
        (enter, True), (enter, False)]


def test_keys_have_reached_a_busy_server_when_send_keys_returns(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    fake.set(key_delay=0.2)  # the server reads each key event slowly
    backend.send_keys(machine, ["ctrl-alt-delete"])
    assert len(fake.vnc_keys()) == 6, "send_keys returned before the server had the keys"


def test_a_taken_port_moves_the_machine_to_the_next_free_one():
    keys = console.vnc_for_start(3, taken=lambda port: port in (5953, 5954))
    assert keys["RemoteDisplay.vnc.port"] == "5955"
    assert console.vnc_for_start(99, taken=lambda port: port == 6049)[
        "RemoteDisplay.vnc.port"] == "5950"  # the range wraps round


def test_vmwares_own_window_is_started_with_the_machine(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    argv = backend.console(machine).native_viewer
    assert argv[0] == str(fake.bin / "vmware")
    # what desktopvm/ui/viewer.py starts, run here to see the stand-in take the call
    subprocess.run(argv, check=True, capture_output=True)
    assert fake.calls("vmware") == [["-x", machine]]
