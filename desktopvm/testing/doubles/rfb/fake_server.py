"""A tiny scripted RFB server on a unix socket, for client and widget tests without QEMU."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from pathlib import Path

from desktopvm.rfb.auth import vnc_response

CHALLENGE = bytes(range(16))


class FakeVncServer:
    """Accepts one client at a time, does the handshake, records what the client sends."""

    def __init__(self, path: Path, *, version: bytes = b"RFB 003.008\n", password: str = "",
                 size: tuple[int, int] = (64, 48), ext_keys: bool = True) -> None:
        self.path, self.version, self.password = path, version, password
        self.width, self.height = size
        self.ext_keys = ext_keys
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(4)
        self.conn: socket.socket | None = None
        self.messages: list[tuple[object, ...]] = []
        self.connected = threading.Event()
        self.auth_failed = threading.Event()
        self.update_requests = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- server side -------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                if self._handshake(conn):
                    self.conn = conn
                    self.connected.set()
                    self._read_messages(conn)
            except (OSError, AssertionError):
                pass
            finally:
                conn.close()

    def _recv(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _handshake(self, conn: socket.socket) -> bool:
        conn.sendall(self.version)
        client_version = self._recv(conn, 12)
        minor = int(client_version[8:11])
        kind = 2 if self.password else 1
        if minor == 3:
            conn.sendall(struct.pack(">I", kind))
        else:
            conn.sendall(bytes([1, kind]))
            assert self._recv(conn, 1)[0] == kind
        if kind == 2:
            conn.sendall(CHALLENGE)
            if self._recv(conn, 16) != vnc_response(CHALLENGE, self.password):
                self.auth_failed.set()
                reason = b"Authentication failed"
                conn.sendall(struct.pack(">I", 1) + (
                    struct.pack(">I", len(reason)) + reason if minor == 8 else b""))
                conn.close()
                return False
        if kind == 2 or minor == 8:
            conn.sendall(struct.pack(">I", 0))
        self._recv(conn, 1)  # ClientInit
        name = b"fake"
        conn.sendall(struct.pack(">HH", self.width, self.height) + bytes(16)
                     + struct.pack(">I", len(name)) + name)
        return True

    def _read_messages(self, conn: socket.socket) -> None:
        sizes = {0: 19, 3: 9, 4: 7, 5: 5, 255: 11}
        while True:
            kind = self._recv(conn, 1)[0]
            if kind == 2:
                (count,) = struct.unpack(">xH", self._recv(conn, 3))
                encodings = struct.unpack(f">{count}i", self._recv(conn, 4 * count))
                self.messages.append(("encodings", encodings))
                if self.ext_keys and -258 in encodings:
                    self.send_rects([(0, 0, 0, 0, -258, b"")])
            elif kind == 6:
                (length,) = struct.unpack(">xxxI", self._recv(conn, 7))
                self.messages.append(("cut", self._recv(conn, length)))
            else:
                body = self._recv(conn, sizes[kind])
                if kind == 3:
                    self.update_requests += 1
                elif kind == 4:
                    down, keysym = struct.unpack(">BxxI", body)
                    self.messages.append(("key", bool(down), keysym, 0))
                elif kind == 5:
                    self.messages.append(("pointer", *struct.unpack(">BHH", body)))
                elif kind == 255:
                    _, down, keysym, code = struct.unpack(">BHII", body)
                    self.messages.append(("key", bool(down), keysym, code))

    # -- what tests make the server do ---------------------------------------------------------
    def send_rects(self, rects: list[tuple[int, int, int, int, int, bytes]]) -> None:
        """One FramebufferUpdate with (x, y, w, h, encoding, payload) rectangles."""
        assert self.conn is not None
        message = struct.pack(">BxH", 0, len(rects))
        for x, y, w, h, encoding, payload in rects:
            message += struct.pack(">HHHHi", x, y, w, h, encoding) + payload
        self.conn.sendall(message)

    def fill(self, x: int, y: int, w: int, h: int, bgrx: bytes) -> None:
        """A Raw rectangle of one colour."""
        self.send_rects([(x, y, w, h, 0, bgrx * (w * h))])

    def resize(self, width: int, height: int) -> None:
        """DesktopSize: the screen changes size."""
        self.width, self.height = width, height
        self.send_rects([(0, 0, width, height, -223, b"")])

    def pointer_mode(self, absolute: bool) -> None:
        """QEMU's pointer type change: the guest's pointer is now absolute or relative."""
        self.send_rects([(int(absolute), 0, self.width, self.height, -257, b"")])

    def drop_client(self) -> None:
        """Close the current connection (as a dying VM would)."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self.conn = None
            self.connected.clear()

    def close(self) -> None:
        self.drop_client()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(5)
