"""A blocking RFB 3.3/3.7/3.8 client: handshake, security, message loop and input events."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import zlib
from typing import BinaryIO

from desktopvm.rfb.auth import vnc_response
from desktopvm.rfb.decoders import DecodeError, cursor_to_bgra, decode_zrle
from desktopvm.rfb.framebuffer import BPP, Framebuffer, Rect

RAW, COPYRECT, ZRLE = 0, 1, 16
CURSOR, DESKTOP_SIZE, QEMU_POINTER_TYPE, QEMU_EXT_KEY = -239, -223, -257, -258
ENCODINGS = (ZRLE, COPYRECT, RAW, DESKTOP_SIZE, CURSOR, QEMU_POINTER_TYPE, QEMU_EXT_KEY)
# In QEMU's relative pointer mode a PointerEvent carries motion as an offset from this centre.
RELATIVE_CENTRE = 0x7FFF
SEC_NONE, SEC_VNC = 1, 2
# 32 bits per pixel, depth 24, little endian, true colour, 8 bits per channel at R16 G8 B0.
PIXEL_FORMAT = struct.pack(">BBBBHHHBBBxxx", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


class RfbError(Exception):
    """The RFB session failed: refused, broken protocol, or the connection went away."""


class AuthenticationFailed(RfbError):
    """The server refused our credentials (or wanted a password we do not have)."""


class RfbListener:
    """What the client reports from its reader thread; override what you need."""

    def on_resize(self, width: int, height: int) -> None:
        """The framebuffer has a new size (and is blank until repainted)."""

    def on_update(self, rects: list[Rect]) -> None:
        """A whole FramebufferUpdate was applied to `client.framebuffer`."""

    def on_cursor(self, hot_x: int, hot_y: int, w: int, h: int, bgra: bytes) -> None:
        """The server set the pointer's shape."""

    def on_bell(self) -> None:
        """The guest rang the bell."""

    def on_cut_text(self, text: str) -> None:
        """The guest's clipboard changed."""

    def on_pointer_mode(self, absolute: bool) -> None:
        """The guest's pointing device is now absolute (a tablet) or relative (a mouse)."""


def open_socket(host: str = "", port: int = 0, unix_socket: str = "",
                timeout: float = 10.0) -> socket.socket:
    """A connected socket to a VNC server (unix socket or TCP)."""
    if unix_socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(unix_socket)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((host or "127.0.0.1", port), timeout=timeout)


class RfbClient:
    """One session with a VNC server. `handshake()` then `run()` in a worker thread."""

    def __init__(self, sock: socket.socket, listener: RfbListener | None = None,
                 password: str = "", shared: bool = True) -> None:
        self.sock = sock
        self.stream: BinaryIO = sock.makefile("rb")
        self.listener = listener or RfbListener()
        self.password, self.shared = password, shared
        self.version = (3, 8)
        self.name = ""
        self.framebuffer = Framebuffer(0, 0)
        self.lock = threading.Lock()  # held while the framebuffer changes
        self.ext_keys = False  # the server accepted QEMU's extended key events
        # None until the server says (QEMU's pointer type change); servers that never say
        # take absolute positions.
        self.absolute_pointer: bool | None = None
        self._send_lock = threading.Lock()
        self._inflate = zlib.decompressobj()
        self._scratch = bytearray()
        self._closed = False

    # -- plumbing ------------------------------------------------------------------------
    def _read(self, count: int) -> bytes:
        data = self.stream.read(count)
        if data is None or len(data) < count:
            raise RfbError("The VNC server closed the connection")
        return data

    def _read_view(self, count: int) -> memoryview:
        """`count` bytes read into a reused buffer (valid until the next call).

        Raw rectangles are megabytes: a fresh bytes object for each costs an allocation and
        its page faults, which at 1080p is more than the copy into the framebuffer.
        """
        if len(self._scratch) < count:
            self._scratch = bytearray(count)
        view = memoryview(self._scratch)[:count]
        done = 0
        while done < count:
            got = self.stream.readinto(view[done:])  # type: ignore[attr-defined]
            if not got:
                raise RfbError("The VNC server closed the connection")
            done += got
        return view

    def _unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))

    def send(self, data: bytes) -> None:
        """Send a client message (thread safe)."""
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError as error:
                raise RfbError(f"Sending to the VNC server failed: {error}") from error

    def _reason(self) -> str:
        (length,) = self._unpack(">I")
        return self._read(length).decode("utf-8", errors="replace")

    # -- handshake -----------------------------------------------------------------------
    def handshake(self) -> None:
        """Agree a version, authenticate, and read the server's framebuffer description."""
        try:
            self._handshake()
        except (OSError, struct.error) as error:
            self.close()
            raise RfbError(f"VNC handshake failed: {error}") from error
        except RfbError:
            self.close()
            raise
        self.sock.settimeout(None)

    def _handshake(self) -> None:
        banner = self._read(12)
        if not banner.startswith(b"RFB ") or banner[7:8] != b".":
            raise RfbError(f"Not a VNC server (it said {banner!r})")
        major, minor = int(banner[4:7]), int(banner[8:11])
        self.version = (3, 8) if (major, minor) >= (3, 8) else (3, 7) if minor == 7 else (3, 3)
        self.send(b"RFB 003.%03d\n" % self.version[1])
        kind = self._security_type()
        if kind == SEC_VNC:
            self.send(vnc_response(self._read(16), self.password))
        if kind == SEC_VNC or self.version >= (3, 8):
            (result,) = self._unpack(">I")
            if result != 0:
                reason = self._reason() if self.version >= (3, 8) else ""
                raise AuthenticationFailed(reason or "The VNC server refused the password")
        self.send(bytes([1 if self.shared else 0]))
        width, height = self._unpack(">HH")
        self._read(16)  # the server's pixel format: we set our own below
        (length,) = self._unpack(">I")
        self.name = self._read(length).decode("utf-8", errors="replace")
        self.framebuffer = Framebuffer(width, height)
        self.send(b"\x00\x00\x00\x00" + PIXEL_FORMAT)
        self.send(struct.pack(f">BxH{len(ENCODINGS)}i", 2, len(ENCODINGS), *ENCODINGS))
        self.request_update(incremental=False)

    def _security_type(self) -> int:
        if self.version == (3, 3):
            (kind,) = self._unpack(">I")
            if kind == 0:
                raise RfbError(f"The VNC server refused the connection: {self._reason()}")
            if kind not in (SEC_NONE, SEC_VNC):
                raise RfbError(f"Unsupported VNC security type {kind}")
            self._check_password(kind)
            return kind
        (count,) = self._unpack(">B")
        if count == 0:
            raise RfbError(f"The VNC server refused the connection: {self._reason()}")
        offered = set(self._read(count))
        kind = SEC_NONE if SEC_NONE in offered else SEC_VNC if SEC_VNC in offered else 0
        if not kind:
            raise RfbError(f"No supported VNC security type among {sorted(offered)}")
        self._check_password(kind)
        self.send(bytes([kind]))
        return kind

    def _check_password(self, kind: int) -> None:
        if kind == SEC_VNC and not self.password:
            raise AuthenticationFailed("The VNC server wants a password")

    # -- messages from the server ---------------------------------------------------------
    def run(self) -> None:
        """Read server messages until the connection closes; raises RfbError at the end."""
        try:
            while True:
                (kind,) = self._unpack(">B")
                if kind == 0:
                    self._framebuffer_update()
                elif kind == 1:
                    _, count = self._unpack(">xHH")
                    self._read(6 * count)
                elif kind == 2:
                    self.listener.on_bell()
                elif kind == 3:
                    (length,) = self._unpack(">xxxI")
                    self.listener.on_cut_text(self._read(length).decode("latin-1"))
                else:
                    raise RfbError(f"Unknown VNC server message {kind}")
        except (OSError, ValueError, struct.error, zlib.error) as error:
            if self._closed:
                raise RfbError("The connection was closed") from error
            raise RfbError(f"VNC session broke: {error}") from error
        finally:
            self.close()

    def _framebuffer_update(self) -> None:
        (count,) = self._unpack(">xH")
        dirty: list[Rect] = []
        resized = False
        for _ in range(count):
            x, y, w, h, encoding = self._unpack(">HHHHi")
            if encoding == DESKTOP_SIZE:
                with self.lock:
                    self.framebuffer.resize(w, h)
                self.listener.on_resize(w, h)
                resized = True
                continue
            if encoding == QEMU_EXT_KEY:
                self.ext_keys = True
                continue
            if encoding == QEMU_POINTER_TYPE:
                self.absolute_pointer = bool(x)
                self.listener.on_pointer_mode(bool(x))
                continue
            if encoding == CURSOR:
                pixels = self._read(w * h * BPP)
                mask = self._read(((w + 7) // 8) * h)
                self.listener.on_cursor(x, y, w, h, cursor_to_bgra(pixels, mask, w, h))
                continue
            self._rectangle(x, y, w, h, encoding)
            dirty.append(Rect(x, y, w, h))
        if dirty:
            self.listener.on_update(dirty)
        self.request_update(incremental=not resized)

    def _rectangle(self, x: int, y: int, w: int, h: int, encoding: int) -> None:
        fb = self.framebuffer
        if not fb.clip(x, y, w, h):
            raise DecodeError(f"rectangle {w}x{h}+{x}+{y} outside the "
                              f"{fb.width}x{fb.height} screen")
        if encoding == RAW:
            pixels = self._read_view(w * h * BPP)
            with self.lock:
                fb.put(x, y, w, h, pixels)
        elif encoding == COPYRECT:
            src_x, src_y = self._unpack(">HH")
            if not fb.clip(src_x, src_y, w, h):
                raise DecodeError("CopyRect source outside the screen")
            with self.lock:
                fb.copy_rect(src_x, src_y, Rect(x, y, w, h))
        elif encoding == ZRLE:
            (length,) = self._unpack(">I")
            data = self._inflate.decompress(self._read(length))
            with self.lock:
                decode_zrle(fb, Rect(x, y, w, h), data)
        else:
            raise RfbError(f"The server used encoding {encoding}, which we did not ask for")

    # -- messages to the server ------------------------------------------------------------
    def request_update(self, incremental: bool = True) -> None:
        """Ask for the changes of the whole screen (or all of it)."""
        fb = self.framebuffer
        self.send(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, fb.width, fb.height))

    def key_event(self, keysym: int, down: bool, scancode: int = 0) -> None:
        """A key press or release: as a scancode when the server allows it, else a keysym."""
        if self.ext_keys and scancode:
            self.send(struct.pack(">BBHII", 255, 0, int(down), keysym, scancode))
        else:
            self.send(struct.pack(">BBxxI", 4, int(down), keysym))

    def pointer_event(self, x: int, y: int, buttons: int) -> None:
        """The pointer at (x, y) with a button mask (1 left, 2 middle, 4 right, 8/16 wheel)."""
        fb = self.framebuffer
        x = max(0, min(x, fb.width - 1))
        y = max(0, min(y, fb.height - 1))
        self.send(struct.pack(">BBHH", 5, buttons & 0xFF, x, y))

    @property
    def relative_pointer(self) -> bool:
        """Whether the server wants pointer motion rather than positions."""
        return self.absolute_pointer is False

    def pointer_motion(self, dx: int, dy: int, buttons: int) -> None:
        """Relative motion by (dx, dy) guest pixels with a button mask (relative mode only)."""
        dx = max(-RELATIVE_CENTRE, min(dx, RELATIVE_CENTRE))
        dy = max(-RELATIVE_CENTRE, min(dy, RELATIVE_CENTRE))
        self.send(struct.pack(">BBHH", 5, buttons & 0xFF,
                              RELATIVE_CENTRE + dx, RELATIVE_CENTRE + dy))

    def cut_text(self, text: str) -> None:
        """Offer text as the client's clipboard."""
        data = text.encode("latin-1", errors="replace")
        self.send(struct.pack(">BxxxI", 6, len(data)) + data)

    def close(self) -> None:
        """Close the connection; `run()` then ends with RfbError."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError, ValueError):
            self.stream.close()
        self.sock.close()
