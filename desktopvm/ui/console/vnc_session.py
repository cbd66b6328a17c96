"""Runs an RFB client in a worker thread and hands its changes to the GUI thread as QImages.

The worker never calls Qt: it reports plain values into an `Inbox` and unions changed
rectangles under a lock; a timer on the GUI thread takes them and emits the signals there.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRect, QTimer, Signal
from PySide6.QtGui import QImage

from desktopvm.protocol import AuthenticationFailed as HostRefusedCredentials
from desktopvm.protocol import BackendError, VncEndpoint
from desktopvm.rfb import AuthenticationFailed, Rect, RfbClient, RfbError, RfbListener, open_socket
from desktopvm.rfb.keys import combo_keys
from desktopvm.ui.console.handoff import Inbox

TICK_MS = 16  # QEMU sends at most ~33 updates/s; a tick takes all that arrived meanwhile


def _reason(error: Exception) -> str:
    """One line saying why: a backend's summary with the first line of its details (the
    refusal, the TLS failure), which it writes without tickets or passwords."""
    if isinstance(error, BackendError):
        detail = error.details.strip().splitlines()[0] if error.details.strip() else ""
        return f"{error.summary}: {detail}" if detail else error.summary
    return str(error) or type(error).__name__


class _Link(RfbListener):
    """One connection attempt: the worker thread's side, plain Python only."""

    def __init__(self, endpoint: VncEndpoint) -> None:
        self.endpoint = endpoint
        self.inbox = Inbox()
        self.client: RfbClient | None = None
        self.pending: Rect | None = None  # union of the rectangles changed since the last take
        self.pending_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # guards _sock and client against close()
        self.thread = threading.Thread(target=self._work, name="vnc-session", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        endpoint = self.endpoint
        try:
            # A backend's own way in (ESXi's WebMKS) is called anew for each connection:
            # its tickets are good for one.
            sock = (endpoint.opener() if endpoint.opener is not None else
                    open_socket(endpoint.host, endpoint.port, endpoint.unix_socket))
            with self._lock:
                if not self.inbox.is_open:  # closed while connecting
                    sock.close()
                    return
                self._sock = sock
            client = RfbClient(sock, self, password=endpoint.password)
            client.handshake()
        except (AuthenticationFailed, HostRefusedCredentials) as error:
            self.inbox.post("disconnected", str(error), True)
            return
        except Exception as error:  # an opener's failure of any kind is shown, never lost
            self.inbox.post("disconnected", f"Could not connect to the display: {_reason(error)}",
                            False)
            return
        with self._lock:
            self.client = client
            if not self.inbox.is_open:
                client.close()
        fb = client.framebuffer
        self.inbox.post("connected", client, client.name, fb.width, fb.height)
        try:
            client.run()
            message = "The display closed"
        except Exception as error:  # whatever ends the session is shown, never lost
            message = str(error)
        self.inbox.post("disconnected", message, False)

    def close(self) -> None:
        """GUI thread: end the connection without waiting (the worker ends by itself)."""
        self.inbox.close()
        with self._lock:
            client, sock = self.client, self._sock
        if client is not None:
            client.close()
        elif sock is not None:  # still in the handshake
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- RfbListener (worker thread) -------------------------------------------------------
    def on_resize(self, width: int, height: int) -> None:
        with self.pending_lock:
            self.pending = None
        self.inbox.post("resized", width, height)

    def on_update(self, rects: list[Rect]) -> None:
        with self.pending_lock:
            union = rects[0] if self.pending is None else self.pending
            for rect in rects:
                union = union.union(rect)
            self.pending = union

    def on_cursor(self, hot_x: int, hot_y: int, w: int, h: int, bgra: bytes) -> None:
        if w and h:
            self.inbox.post("cursor", bytes(bgra), w, h, hot_x, hot_y)

    def on_pointer_mode(self, absolute: bool) -> None:
        self.inbox.post("pointer_mode", absolute)


class VncSession(QObject):
    """One connection to a VNC endpoint. Signals are emitted on the GUI thread.

    connected(name, width, height); resized(width, height); changed() (call take_changes());
    cursor(QImage, hot_x, hot_y); pointer_mode(absolute); disconnected(message, auth_failed).
    """

    connected = Signal(str, int, int)
    resized = Signal(int, int)
    changed = Signal()
    cursor = Signal(QImage, int, int)
    pointer_mode = Signal(bool)
    disconnected = Signal(str, bool)

    def __init__(self, endpoint: VncEndpoint, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.client: RfbClient | None = None  # set and cleared on the GUI thread
        self._link: _Link | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    @property
    def is_connected(self) -> bool:
        """Whether a session is up."""
        return self.client is not None

    def open(self) -> None:
        """Connect (again) in a worker thread."""
        if self._link is not None and self._link.inbox.is_open:
            return  # connecting or connected
        self._link = _Link(self.endpoint)
        self._timer.start()

    def close(self) -> None:
        """End the session without waiting for its worker; no signal follows."""
        if self._link is not None:
            self._link.close()
        self.client = None
        self._timer.stop()

    # -- GUI thread -----------------------------------------------------------------------
    def _tick(self) -> None:
        link = self._link
        if link is None:
            return
        for event in link.inbox.take():
            self._apply(link, event)
        if self.client is not None and link.pending is not None:
            self.changed.emit()

    def _apply(self, link: _Link, event: tuple[Any, ...]) -> None:
        kind, args = event[0], event[1:]
        if kind == "connected":
            self.client = args[0]
            self.connected.emit(*args[1:])
        elif kind == "resized":
            self.resized.emit(*args)
        elif kind == "cursor":
            bgra, w, h, hot_x, hot_y = args
            image = QImage(bgra, w, h, w * 4, QImage.Format.Format_ARGB32).copy()
            self.cursor.emit(image, hot_x, hot_y)
        elif kind == "pointer_mode":
            self.pointer_mode.emit(*args)
        elif kind == "disconnected":
            link.inbox.close()  # this attempt is over: open() may start another
            self.client = None
            self._timer.stop()
            self.disconnected.emit(*args)

    def take_changes(self) -> tuple[QRect, QImage] | None:
        """The changed region since the last call and its pixels (None when nothing changed)."""
        client, link = self.client, self._link
        if client is None or link is None:
            return None
        with link.pending_lock:
            rect, link.pending = link.pending, None
        if rect is None:
            return None
        fb = client.framebuffer
        with client.lock:
            if not fb.clip(rect.x, rect.y, rect.w, rect.h) or not rect.w or not rect.h:
                return None
            whole = QImage(fb.data, fb.width, fb.height, fb.stride, QImage.Format.Format_RGB32)
            region = whole.copy(rect.x, rect.y, rect.w, rect.h)
        return QRect(rect.x, rect.y, rect.w, rect.h), region

    def key(self, keysym: int, down: bool, scancode: int = 0) -> None:
        """Send a key event (ignored while disconnected)."""
        self._send(lambda c: c.key_event(keysym, down, scancode))

    def pointer(self, x: int, y: int, buttons: int) -> None:
        """Send the pointer position and buttons."""
        self._send(lambda c: c.pointer_event(x, y, buttons))

    def motion(self, dx: int, dy: int, buttons: int) -> None:
        """Send relative pointer motion and buttons (for a guest with a relative mouse)."""
        self._send(lambda c: c.pointer_motion(dx, dy, buttons))

    def send_combo(self, combo: str) -> None:
        """Press the keys of a combination ("ctrl-alt-delete") and release them in reverse."""
        keys = combo_keys(combo)
        for keysym, code in keys:
            self.key(keysym, True, code)
        for keysym, code in reversed(keys):
            self.key(keysym, False, code)

    def _send(self, action: Callable[[RfbClient], None]) -> None:
        client = self.client
        if client is None:
            return
        try:
            action(client)
        except RfbError:
            client.close()
