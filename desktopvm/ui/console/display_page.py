"""A console tab holding a VNC view: scroll area, reconnect banner and status text."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from desktopvm.protocol import VncEndpoint
from desktopvm.ui.console.banner import DisconnectBanner
from desktopvm.ui.console.vnc_session import VncSession
from desktopvm.ui.console.vnc_view import Scaling, VncView


class ConsolePage(QWidget):
    """What every console tab offers the window. Signals: status_changed(str)."""

    status_changed = Signal(str)
    kind = "console"

    def status(self) -> str:
        """The status line text."""
        return ""

    def send_combo(self, combo: str) -> bool:
        """Send a key combination itself; False lets the window use the backend."""
        return False

    def picture(self) -> QImage | None:
        """What the page shows, for "Screenshot"."""
        return None

    def scaling(self) -> Scaling | None:
        """How the page's picture fits (None: the page has no scalable picture)."""
        return None

    def set_scaling(self, scaling: Scaling) -> None:
        """Change the scaling (pages without a picture ignore it)."""

    def close_page(self) -> None:
        """Stop connections and timers."""


class DisplayPage(ConsolePage):
    """The guest's graphical console over VNC, with a reconnect banner."""

    kind = "display"

    def __init__(self, endpoint: VncEndpoint, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("display-page")
        self.session = VncSession(endpoint, self)
        self.view = VncView(self.session)
        self.scroller = QScrollArea()
        self.scroller.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroller.setStyleSheet("QScrollArea { background: #202020; border: none; }")
        self.scroller.setWidget(self.view)
        self.scroller.setWidgetResizable(True)
        self.banner = DisconnectBanner()
        self.banner_text, self.reconnect_button = self.banner.text, self.banner.button
        self.banner.reconnect.connect(self.reconnect)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.scroller, 1)
        self._state = self.tr("Connecting…")
        self.session.connected.connect(self._on_connected)
        self.session.resized.connect(lambda _w, _h: self._relayout())
        self.session.disconnected.connect(self._on_disconnected)
        self.view.grab_changed.connect(lambda _g: self.status_changed.emit(self.status()))
        self.view.pointer_mode_changed.connect(
            lambda _r: self.status_changed.emit(self.status()))
        self.session.open()

    def status(self) -> str:
        image = self.view.image
        if self.view.relative:
            grab = (self.tr("mouse and keyboard grabbed — press Ctrl+Alt to release")
                    if self.view.grabbed else
                    self.tr("relative mouse — click the screen to grab mouse and keyboard"))
        else:
            grab = (self.tr("keyboard grabbed — press Ctrl+Alt to release") if self.view.grabbed
                    else self.tr("click the screen to grab the keyboard"))
        if not self.session.is_connected:
            return self._state
        return f"{self._state} · {image.width()}×{image.height()} · {grab}"

    def _on_connected(self, name: str, _w: int, _h: int) -> None:
        self.banner.hide()
        self._state = self.tr("Connected to %1").replace("%1", name)
        self._relayout()
        self.view.setFocus()

    def _on_disconnected(self, message: str, auth_failed: bool) -> None:
        self.view.set_grab(False)
        self._state = self.tr("Disconnected")
        title = self.tr("Authentication failed") if auth_failed else self.tr("Disconnected")
        self.banner.show_reason(title, message)
        self.status_changed.emit(self.status())

    def _relayout(self) -> None:
        fit = self.view.scaling is Scaling.FIT
        self.scroller.setWidgetResizable(fit)
        if not fit:
            self.view.resize(self.view.preferred_size().expandedTo(self.view.minimumSize()))
        self.view.update()
        self.status_changed.emit(self.status())

    def scaling(self) -> Scaling:
        return self.view.scaling

    def set_scaling(self, scaling: Scaling) -> None:
        self.view.set_scaling(scaling)
        if scaling is Scaling.FIT_WIDTH:
            width = self.scroller.viewport().width()
            self.view.resize(width, round(self.view.image.height() * width
                                          / max(1, self.view.image.width())))
        self._relayout()

    def reconnect(self) -> None:
        """Try the endpoint again."""
        self.banner.hide()
        self._state = self.tr("Connecting…")
        self.status_changed.emit(self.status())
        self.session.open()

    def send_combo(self, combo: str) -> bool:
        if not self.session.is_connected:
            return False
        self.session.send_combo(combo)
        return True

    def picture(self) -> QImage:
        return self.view.image.copy()

    def close_page(self) -> None:
        if self.property("closed"):
            return
        self.setProperty("closed", True)
        self.session.disconnected.disconnect(self._on_disconnected)
        self.session.close()
