"""Runs an RFB client in a worker thread and hands its changes to the GUI thread as QImages."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage

from desktopvm.protocol import VncEndpoint
from desktopvm.rfb import AuthenticationFailed, Rect, RfbClient, RfbError, RfbListener, open_socket
from desktopvm.rfb.keys import combo_keys


class VncSession(QObject, RfbListener):
    """One connection to a VNC endpoint. Signals arrive queued on the GUI thread.

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
        self.client: RfbClient | None = None
        self._pending: Rect | None = None
        self._pending_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def is_connected(self) -> bool:
        """Whether a session is up."""
        return self.client is not None

    def open(self) -> None:
        """Connect (again) in a worker thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._work, name="vnc-session", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        endpoint = self.endpoint
        try:
            sock = open_socket(endpoint.host, endpoint.port, endpoint.unix_socket)
            client = RfbClient(sock, self, password=endpoint.password)
            client.handshake()
        except AuthenticationFailed as error:
            self.disconnected.emit(str(error), True)
            return
        except (OSError, RfbError) as error:
            self.disconnected.emit(f"Could not connect to the display: {error}", False)
            return
        self.client = client
        fb = client.framebuffer
        self.connected.emit(client.name, fb.width, fb.height)
        try:
            client.run()
        except RfbError as error:
            message = str(error)
        self.client = None
        self.disconnected.emit(message, False)

    def close(self) -> None:
        """End the session (the worker then reports disconnected)."""
        client = self.client
        if client is not None:
            client.close()
        if self._thread is not None:
            self._thread.join(5)

    # -- RfbListener (worker thread) -------------------------------------------------------
    def on_resize(self, width: int, height: int) -> None:
        with self._pending_lock:
            self._pending = None
        self.resized.emit(width, height)

    def on_update(self, rects: list[Rect]) -> None:
        with self._pending_lock:
            first = self._pending is None
            union = rects[0] if first else self._pending
            for rect in rects:
                union = union.union(rect)  # type: ignore[union-attr]
            self._pending = union
        if first:
            self.changed.emit()

    def on_cursor(self, hot_x: int, hot_y: int, w: int, h: int, bgra: bytes) -> None:
        if w and h:
            image = QImage(bgra, w, h, w * 4, QImage.Format.Format_ARGB32).copy()
            self.cursor.emit(image, hot_x, hot_y)

    def on_pointer_mode(self, absolute: bool) -> None:
        self.pointer_mode.emit(absolute)

    # -- GUI thread -----------------------------------------------------------------------
    def take_changes(self) -> tuple[QRect, QImage] | None:
        """The changed region since the last call and its pixels (None when nothing changed)."""
        client = self.client
        with self._pending_lock:
            rect, self._pending = self._pending, None
        if client is None or rect is None:
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

    def _send(self, action: object) -> None:
        client = self.client
        if client is None:
            return
        try:
            action(client)  # type: ignore[operator]
        except RfbError:
            client.close()
