"""The RFB client against a scripted fake server: versions, security, updates, input."""

from __future__ import annotations

import threading
import time
import zlib

import pytest

from desktopvm.rfb import AuthenticationFailed, RfbClient, RfbError, RfbListener, open_socket
from desktopvm.rfb.keys import combo_keys, evdev_to_qnum
from desktopvm.testing.doubles.rfb.encoder import expected_bgrx, pattern, zrle_message
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer


class Recorder(RfbListener):
    def __init__(self) -> None:
        self.updates: list[object] = []
        self.sizes: list[object] = []
        self.cursors: list[tuple[int, int, int, int, bytes]] = []
        self.changed = threading.Condition()

    def on_update(self, rects) -> None:
        with self.changed:
            self.updates.append(rects)
            self.changed.notify_all()

    def on_resize(self, width, height) -> None:
        self.sizes.append((width, height))

    def on_cursor(self, hot_x, hot_y, w, h, bgra) -> None:
        with self.changed:
            self.cursors.append((hot_x, hot_y, w, h, bgra))
            self.changed.notify_all()

    def on_pointer_mode(self, absolute) -> None:
        self.sizes.append(("absolute" if absolute else "relative",))


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.005)


@pytest.fixture
def server_factory(tmp_path):
    servers: list[FakeVncServer] = []

    def make(**options) -> FakeVncServer:
        server = FakeVncServer(tmp_path / f"vnc{len(servers)}.sock", **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def start(server: FakeVncServer, password: str = "") -> tuple[RfbClient, Recorder, list[RfbError]]:
    recorder = Recorder()
    client = RfbClient(open_socket(unix_socket=str(server.path)), recorder, password=password)
    client.handshake()
    errors: list[RfbError] = []

    def loop() -> None:
        try:
            client.run()
        except RfbError as error:
            errors.append(error)

    threading.Thread(target=loop, daemon=True).start()
    return client, recorder, errors


@pytest.mark.parametrize("version", [b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.008\n",
                                     b"RFB 003.889\n", b"RFB 004.001\n"])
@pytest.mark.parametrize("password", ["", "s3cret"])
def test_versions_and_security(server_factory, version, password):
    server = server_factory(version=version, password=password)
    client, _, _ = start(server, password)
    assert client.name == "fake"
    assert (client.framebuffer.width, client.framebuffer.height) == (64, 48)
    client.close()


@pytest.mark.parametrize("version", [b"RFB 003.003\n", b"RFB 003.008\n"])
def test_wrong_password_fails_clearly(server_factory, version):
    server = server_factory(version=version, password="right")
    client = RfbClient(open_socket(unix_socket=str(server.path)), password="wrong")
    with pytest.raises(AuthenticationFailed):
        client.handshake()
    assert server.auth_failed.is_set()


def test_missing_password_is_an_authentication_failure(server_factory):
    server = server_factory(password="right")
    with pytest.raises(AuthenticationFailed, match="password"):
        RfbClient(open_socket(unix_socket=str(server.path))).handshake()


def test_updates_resize_and_cursor(server_factory):
    server = server_factory()
    client, recorder, errors = start(server)
    server.connected.wait(5)
    server.fill(0, 0, 64, 48, b"\x10\x20\x30\x00")
    wait_for(lambda: recorder.updates)
    assert client.framebuffer.data[:3] == b"\x10\x20\x30"
    image = pattern(20, 10, colours=6)
    server.send_rects([(5, 5, 20, 10, 16, zrle_message(image, "prle", zlib.compressobj())),
                       (40, 30, 5, 5, 1, (0).to_bytes(2, "big") * 2)])
    wait_for(lambda: len(recorder.updates) == 2)
    assert client.framebuffer.get(5, 5, 20, 10) == expected_bgrx(image)
    assert client.framebuffer.get(40, 30, 5, 5) == client.framebuffer.get(0, 0, 5, 5)
    server.resize(100, 80)
    wait_for(lambda: recorder.sizes == [(100, 80)])
    assert len(client.framebuffer.data) == 100 * 80 * 4
    server.send_rects([(1, 2, 2, 1, -239, b"\x01\x02\x03\x00" * 2 + b"\x80")])
    wait_for(lambda: recorder.cursors)
    assert recorder.cursors[0][:4] == (1, 2, 2, 1)
    assert not errors
    server.drop_client()
    wait_for(lambda: errors)
    assert isinstance(errors[0], RfbError)


def test_keys_use_scancodes_after_the_server_acknowledges(server_factory):
    server = server_factory()
    client, _, _ = start(server)
    wait_for(lambda: client.ext_keys)
    for keysym, code in combo_keys("ctrl-alt-delete"):
        client.key_event(keysym, True, code)
    client.key_event(0x61, True, 0)  # no scancode: keysym message
    client.pointer_event(500, -3, 1)
    wait_for(lambda: len(server.messages) >= 6)
    keys = [m for m in server.messages if m[0] == "key"]
    assert keys[:3] == [("key", True, 0xFFE3, 0x1D), ("key", True, 0xFFE9, 0x38),
                        ("key", True, 0xFFFF, 0xD3)]
    assert keys[3] == ("key", True, 0x61, 0)
    assert ("pointer", 1, 63, 0) in server.messages  # clamped to the screen
    client.close()


def test_pointer_type_change_and_relative_motion(server_factory):
    server = server_factory()
    client, recorder, _ = start(server)
    wait_for(lambda: any(m[0] == "encodings" for m in server.messages))
    encodings = next(m[1] for m in server.messages if m[0] == "encodings")
    assert -257 in encodings  # we ask for QEMU's pointer type change
    assert client.absolute_pointer is None and not client.relative_pointer
    server.pointer_mode(absolute=False)
    wait_for(lambda: client.relative_pointer)
    assert recorder.sizes == [("relative",)]  # a pseudo-rectangle: no resize, no update
    assert not recorder.updates
    # QEMU reads relative motion as an offset from 0x7FFF on each axis
    client.pointer_motion(5, -3, 0)
    client.pointer_motion(-100_000, 100_000, 4)  # clamped to what 16 bits can say
    wait_for(lambda: len([m for m in server.messages if m[0] == "pointer"]) == 2)
    assert [m for m in server.messages if m[0] == "pointer"] == [
        ("pointer", 0, 0x7FFF + 5, 0x7FFF - 3), ("pointer", 4, 0, 0xFFFE)]
    server.pointer_mode(absolute=True)
    wait_for(lambda: client.absolute_pointer)
    assert recorder.sizes == [("relative",), ("absolute",)]
    client.close()


def test_keysym_fallback_without_the_extension(server_factory):
    server = server_factory(ext_keys=False)
    client, _, _ = start(server)
    wait_for(lambda: server.update_requests >= 1)
    client.key_event(0xFFFF, True, 0xD3)
    wait_for(lambda: any(m[0] == "key" for m in server.messages))
    assert ("key", True, 0xFFFF, 0) in server.messages
    client.close()


def test_key_tables():
    assert evdev_to_qnum(30) == 0x1E  # KEY_A
    assert evdev_to_qnum(111) == 0xD3  # KEY_DELETE
    assert evdev_to_qnum(200) == 0
    with pytest.raises(ValueError, match="nope"):
        combo_keys("ctrl-nope")


def test_not_a_vnc_server(tmp_path):
    import socket

    a, b = socket.socketpair()
    b.sendall(b"HTTP/1.1 400 Bad\r\n")
    with pytest.raises(RfbError, match="Not a VNC server"):
        RfbClient(a).handshake()
    a.close()
    b.close()
