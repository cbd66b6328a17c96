"""Console tabs without a frame stream: the serial terminal and the screenshot preview."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollBar, QVBoxLayout, QWidget

from desktopvm.protocol import SerialEndpoint
from desktopvm.ui.console.banner import DisconnectBanner
from desktopvm.ui.console.display_page import ConsolePage
from desktopvm.ui.console.serial_log import SerialLog
from desktopvm.ui.console.terminal import TerminalView

FAST_MS, SLOW_MS = 200, 3000


class SerialPage(ConsolePage):
    """The guest's serial console in a terminal with a scroll-back bar and a reconnect banner.

    It shows a `SerialLog`: the machine's shared one (so it opens with what the guest printed
    before), or, without one, a log of its own that ends with the page.
    """

    kind = "serial"

    def __init__(self, endpoint: SerialEndpoint, parent: QWidget | None = None,
                 log: SerialLog | None = None, release: Callable[[SerialLog], None] | None = None,
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("serial-page")
        self.endpoint = endpoint
        self.position = 0  # how far into the log's stream the terminal was fed
        self.terminal = TerminalView(self._send)
        self.scrollbar = QScrollBar(Qt.Orientation.Vertical)
        self.scrollbar.setRange(0, 0)
        self.scrollbar.valueChanged.connect(self.terminal.scroll_to)
        self.terminal.history_changed.connect(self._show_history)
        self.banner = DisconnectBanner()
        self.banner.reconnect.connect(self.reconnect)
        row = QHBoxLayout()
        row.setSpacing(0)
        row.addWidget(self.terminal, 1)
        row.addWidget(self.scrollbar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addLayout(row, 1)
        self._own_log = log is None
        self.log = SerialLog(endpoint, self) if log is None else log
        self._release = release
        self._state = self.tr("Connecting to the serial console…")
        self.log.connected.connect(self._on_connected)
        self.log.closed.connect(self._on_closed)
        if self.log.is_connected:
            self._on_connected()
        self.log.attach(self)

    def feed_log(self, data: bytes) -> None:
        """The log's next bytes (GUI thread, a slice per call)."""
        self.terminal.feed(data)

    def _send(self, data: bytes) -> None:
        self.log.send(data)

    def _on_connected(self) -> None:
        self.banner.hide()
        self._state = self.tr("Serial console connected")
        self.status_changed.emit(self.status())

    def _on_closed(self, message: str) -> None:
        self._state = self.tr("Serial console closed")
        self.banner.show_reason(self.tr("Disconnected"), message)
        self.status_changed.emit(self.status())

    def reconnect(self) -> None:
        """Connect to the serial endpoint again (after the machine restarted, say)."""
        self.banner.hide()
        self._state = self.tr("Connecting to the serial console…")
        self.log.reconnect()
        self.status_changed.emit(self.status())

    def _show_history(self, above: int, total: int) -> None:
        self.scrollbar.blockSignals(True)  # a position we report is not a request to scroll
        self.scrollbar.setRange(0, total)
        self.scrollbar.setPageStep(max(1, self.terminal.term.lines))
        self.scrollbar.setValue(above)
        self.scrollbar.blockSignals(False)

    def status(self) -> str:
        screen = self.terminal.term
        return f"{self._state} · {screen.columns}×{screen.lines}"

    def picture(self) -> QImage:
        return self.terminal.grab().toImage()

    def close_page(self) -> None:
        if self.property("closed"):
            return
        self.setProperty("closed", True)
        self.log.connected.disconnect(self._on_connected)
        self.log.closed.disconnect(self._on_closed)
        self.log.detach(self)
        if self._own_log:
            self.log.close()
        elif self._release is not None:
            self._release(self.log)  # the shared log stays while its machine runs


class PreviewPage(ConsolePage):
    """Polls screenshots: fast while the picture changes, slow when idle, paused when hidden."""

    kind = "preview"

    def __init__(self, take: Callable[[Callable[[bytes], None]], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview-page")
        self.take = take  # starts a screenshot job and calls back with PNG bytes
        self.label = QLabel(self.tr("Preview: the screen is refreshed by screenshots"))
        self.label.setObjectName("preview-label")
        self.label.setStyleSheet("background: #fde68a; color: #1f2937; padding: 4px;")
        self.picture_label = QLabel(self.tr("Waiting for the first screenshot…"))
        self.picture_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture_label.setStyleSheet("background: #202020; color: #9ca3af;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.picture_label, 1)
        self.image = QImage()
        self._last = b""
        self._busy = False
        self.timer = QTimer(self)
        self.timer.setInterval(FAST_MS)
        self.timer.timeout.connect(self._poll)

    def showEvent(self, event: QShowEvent) -> None:
        self.timer.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()  # paused while the tab is hidden
        super().hideEvent(event)

    def _poll(self) -> None:
        if not self._busy:
            self._busy = True
            self.take(self.show_png)

    def show_png(self, png: bytes) -> None:
        """A new screenshot arrived (empty bytes: the attempt failed)."""
        self._busy = False
        changed = bool(png) and png != self._last
        self.timer.setInterval(FAST_MS if changed else min(SLOW_MS, self.timer.interval() * 2))
        if changed and self.image.loadFromData(png, "PNG"):
            self._last = png
            self.picture_label.setPixmap(QPixmap.fromImage(self.image).scaled(
                self.picture_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
            self.status_changed.emit(self.status())

    def status(self) -> str:
        return self.tr("Preview (screenshots every %1 ms) · %2×%3").replace(
            "%1", str(self.timer.interval())).replace("%2", str(self.image.width())).replace(
            "%3", str(self.image.height()))

    def picture(self) -> QImage:
        return self.image

    def close_page(self) -> None:
        self.timer.stop()

