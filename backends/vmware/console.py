"""Consoles: Workstation's VNC server (endpoint, screenshots, keys, text), serial ports, VMware's
own window.

Workstation's VNC server is configured in the .vmx (`RemoteDisplay.vnc.enabled`, `.port`,
`.ip`, `.password`; libvirt's mapping and fixture vmware_libvirt_remotedisplay_vnc_keys.vmx;
Packer still writes these keys for 17.x, research §A.7). When a machine has it on, its address
is offered to DesktopVM's RFB console, and screenshots, keys and typed text go through it too
with DesktopVM's RFB client (a shared session, so an open console stays connected): vmrun's
`captureScreen` and `typeKeystrokesInGuest` need a guest login and VMware Tools (research
§A.4). The native window: `vmware -x <vmx>` (Workstation), `vmplayer <vmx>` (Player),
`open -a "VMware Fusion" <vmx>` (Fusion).
"""

from __future__ import annotations

import re
import secrets
import socket
import string
import struct
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from backends.vmware import keys
from backends.vmware.inventory import Record
from backends.vmware.locate import Installation
from desktopvm import rfb
from desktopvm.model import SerialMode
from desktopvm.protocol import (
    AuthenticationFailed,
    CommandFailed,
    ConsoleEndpoints,
    SerialEndpoint,
    UnsupportedOperation,
    VncEndpoint,
)
from desktopvm.protocol.states import Operation, require

DEFAULT_VNC_PORT = 5900
PROBE_TIMEOUT = 1.0  # a loopback connect answers at once; this only bounds a stuck listener
VNC_TIMEOUT = 15.0  # seconds one VNC answer may take (the first screen)
DRAIN_TIMEOUT = 5.0  # seconds a server may take to close a session we ended
OWN_VNC_PORTS = (5950, 100)  # DesktopVM's machines get 5950-6049, one port each
PASSWORD_CHARACTERS = string.ascii_letters + string.digits
_TCP = re.compile(r"^(?:telnet|tcp)://([^:/]*):(\d+)")


def vnc(record: Record) -> VncEndpoint | None:
    """The machine's VNC server, when its .vmx turns it on."""
    document = record.document
    if not document.flag("RemoteDisplay.vnc.enabled"):
        return None
    host = document.get("RemoteDisplay.vnc.ip") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a server on every address: reach it locally
        host = "127.0.0.1"
    return VncEndpoint(host=host, port=document.number("RemoteDisplay.vnc.port",
                                                       DEFAULT_VNC_PORT),
                       password=document.get("RemoteDisplay.vnc.password"))


def port_answers(port: int) -> bool:
    """Whether something already listens on the loopback port."""
    try:
        rfb.open_socket("127.0.0.1", port, timeout=PROBE_TIMEOUT).close()
    except OSError:
        return False
    return True


def vnc_for_start(index: int, taken: Callable[[int], bool] = port_answers) -> dict[str, str]:
    """The VNC keys a machine DesktopVM made gets before each start: Workstation's server on
    the loopback interface, a port of its own, and a new password (VNC uses 8 characters).

    The port is the machine's own (5950 + its place in DesktopVM's list) unless something
    already listens there (another program's VNC server): then the next free one of the range,
    since VMware would not serve where the port is taken. Packer picks a free port the same
    way and writes the same keys for Workstation and Fusion 17.x (StepConfigureVNC, research
    §A.7). The password is VMware's to read from the .vmx; it changes at every start.
    """
    base, count = OWN_VNC_PORTS
    ports = [base + (index + step) % count for step in range(count)]
    port = next((p for p in ports if not taken(p)), ports[0])
    password = "".join(secrets.choice(PASSWORD_CHARACTERS) for _ in range(8))
    return {"RemoteDisplay.vnc.enabled": "TRUE", "RemoteDisplay.vnc.ip": "127.0.0.1",
            "RemoteDisplay.vnc.port": str(port), "RemoteDisplay.vnc.password": password}


def serial(record: Record, windows: bool) -> SerialEndpoint | None:
    """The first serial port the console can attach to (a socket, a pipe, a TCP server)."""
    for port in record.spec(windows).serial:
        if port.mode is SerialMode.SOCKET and port.path:
            return SerialEndpoint(unix_socket=port.path)
        if port.mode is SerialMode.PIPE and port.path:
            return SerialEndpoint(pipe=port.path)
        if port.mode is SerialMode.TCP:
            match = _TCP.match(port.path)
            if match:
                return SerialEndpoint(host=match.group(1) or "127.0.0.1",
                                      port=int(match.group(2)))
    return None


def viewer(installation: Installation, vmx: Path) -> tuple[str, ...]:
    """VMware's own window for the machine."""
    if installation.product == "fusion" or sys.platform == "darwin":
        return ("open", "-a", "VMware Fusion", str(vmx))
    folder = Path(installation.vmrun).parent
    suffix = ".exe" if installation.windows else ""
    program = "vmplayer" if installation.product == "player" else "vmware"
    return (str(folder / f"{program}{suffix}"), *(() if program == "vmplayer" else ("-x",)),
            str(vmx))


def endpoints(installation: Installation, record: Record) -> ConsoleEndpoints:
    """The ways into a running machine."""
    require(Operation.CONSOLE, record.state, record.name)
    return ConsoleEndpoints(vnc=vnc(record), serial=serial(record, installation.windows),
                            native_viewer=viewer(installation, record.vmx))


# -- over the VNC server: screenshots, keys, text --------------------------------------------

@contextmanager
def _session(record: Record, listener: rfb.RfbListener | None = None) -> Iterator[rfb.RfbClient]:
    """An authenticated, shared RFB session with the machine's VNC server."""
    require(Operation.CONSOLE, record.state, record.name)
    endpoint = vnc(record)
    if endpoint is None:
        raise UnsupportedOperation(keys.NO_VNC.format(name=record.name))
    where = f"{endpoint.host}:{endpoint.port}"
    try:
        sock = rfb.open_socket(endpoint.host, endpoint.port, timeout=VNC_TIMEOUT)
    except OSError as error:
        raise CommandFailed(f"VMware's VNC server for {record.name} does not answer on {where}",
                            details=str(error)) from error
    client = rfb.RfbClient(sock, listener, password=endpoint.password or "", shared=True)
    try:
        client.handshake()
    except rfb.AuthenticationFailed as error:
        raise AuthenticationFailed(f"VMware's VNC server for {record.name} refused the "
                                   f"password in its .vmx: {error}") from error
    except rfb.RfbError as error:
        raise CommandFailed(f"VNC with {record.name} failed on {where}: {error}") from error
    try:
        yield client
    finally:
        client.close()


class _FirstScreen(rfb.RfbListener):
    """Keeps the first picture that covers the whole screen, then ends the session."""

    def __init__(self) -> None:
        self.client: rfb.RfbClient | None = None
        self.covered: rfb.Rect | None = None
        self.picture: tuple[int, int, bytes] | None = None

    def on_resize(self, width: int, height: int) -> None:
        self.covered = None  # everything is painted again after a resize

    def on_update(self, rects: list[rfb.Rect]) -> None:
        assert self.client is not None
        for rect in rects:
            self.covered = rect if self.covered is None else self.covered.union(rect)
        fb = self.client.framebuffer
        if self.covered == rfb.Rect(0, 0, fb.width, fb.height) and self.picture is None:
            self.picture = (fb.width, fb.height, bytes(fb.data))
            self.client.close()  # run() ends: nothing more is needed


def screenshot(record: Record) -> bytes:
    """A PNG of the screen: the first full picture VMware's VNC server sends."""
    listener = _FirstScreen()
    with _session(record, listener) as client:
        listener.client = client
        client.sock.settimeout(VNC_TIMEOUT)
        try:
            client.run()
        except rfb.RfbError as error:
            if listener.picture is None:
                raise CommandFailed(f"VMware's VNC server sent no picture of {record.name}",
                                    details=str(error)) from error
    assert listener.picture is not None
    return png(*listener.picture)


def png(width: int, height: int, bgrx: bytes) -> bytes:
    """An 8-bit RGB PNG of framebuffer pixels (B, G, R, X bytes each; desktopvm.rfb's layout)."""
    rgb = bytearray(width * height * 3)
    rgb[0::3], rgb[1::3], rgb[2::3] = bgrx[2::4], bgrx[1::4], bgrx[0::4]
    row = width * 3
    raw = b"".join(b"\x00" + rgb[y * row:(y + 1) * row] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def send_keys(record: Record, combos: Sequence[str]) -> None:
    """Press each combination (in order, released in reverse) over the VNC server."""
    _press(record, keys.combos_keysyms(combos))


def type_text(record: Record, text: str) -> None:
    """Type `text` key by key on a US layout over the VNC server."""
    _press(record, keys.text_keysyms(text))


def _press(record: Record, combos: list[list[int]]) -> None:
    with _session(record) as client:
        for combo in combos:
            for keysym in combo:
                client.key_event(keysym, True)
            for keysym in reversed(combo):
                client.key_event(keysym, False)
        # End the session the polite way and read until the server closes it: closing with
        # its screen updates unread would reset the connection, which can drop the keys, and
        # only a server that has read everything we sent (the keys come last) closes. The
        # bytes are not parsed: run() would ask for more updates on the half-closed socket.
        try:
            client.sock.shutdown(socket.SHUT_WR)
            client.sock.settimeout(DRAIN_TIMEOUT)
            while client.sock.recv(65536):
                pass
        except OSError:
            pass  # a server that keeps the session open has had the keys for seconds now
