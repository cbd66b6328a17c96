"""The VNC view: paints the guest's screen, scales it, and forwards keyboard and pointer."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFocusEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from desktopvm.ui.console.qt_keys import keysym_of, scancode_of
from desktopvm.ui.console.vnc_session import VncSession

CTRL_L, ALT_L = 0xFFE3, 0xFFE9
_BUTTONS = {Qt.MouseButton.LeftButton: 1, Qt.MouseButton.MiddleButton: 2,
            Qt.MouseButton.RightButton: 4}


class Scaling(StrEnum):
    """How the guest's screen fits the view."""

    FIT = "fit"
    ONE_TO_ONE = "1:1"
    FIT_WIDTH = "width"


class VncView(QWidget):
    """Shows a VncSession's framebuffer; repaints only what changed.

    Signals: grab_changed(bool).
    """

    grab_changed = Signal(bool)

    def __init__(self, session: VncSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("vnc-view")
        self.session = session
        self.image = QImage(640, 400, QImage.Format.Format_RGB32)
        self.image.fill(QColor("black"))
        self.scaling = Scaling.FIT
        self.grabbed = False
        self._pressed: dict[int, int] = {}  # keysym -> scancode of keys held down in the guest
        self._buttons = 0
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(160, 100)
        session.connected.connect(lambda _n, w, h: self._resize_image(w, h))
        session.resized.connect(self._resize_image)
        session.changed.connect(self._apply_changes)
        session.cursor.connect(self._set_cursor)

    # -- geometry --------------------------------------------------------------------------
    def scale(self) -> float:
        """View pixels per guest pixel."""
        w, h = self.image.width(), self.image.height()
        if not w or not h:
            return 1.0
        if self.scaling is Scaling.ONE_TO_ONE:
            return 1.0 / self.devicePixelRatioF()
        if self.scaling is Scaling.FIT_WIDTH:
            return self.width() / w
        return min(self.width() / w, self.height() / h)

    def target(self) -> QRectF:
        """Where the guest's screen is drawn in the view."""
        s = self.scale()
        w, h = self.image.width() * s, self.image.height() * s
        x = max(0.0, (self.width() - w) / 2)
        y = max(0.0, (self.height() - h) / 2) if self.scaling is Scaling.FIT else 0.0
        return QRectF(x, y, w, h)

    def preferred_size(self) -> QSize:
        """The size the view wants in a scroll area for the current scaling."""
        s = self.scale() if self.scaling is not Scaling.FIT else 1.0
        return QSize(round(self.image.width() * s), round(self.image.height() * s))

    def set_scaling(self, scaling: Scaling) -> None:
        """Change how the screen fits and repaint."""
        self.scaling = scaling
        self.update()

    def to_guest(self, point: QPointF) -> tuple[int, int]:
        """Guest framebuffer coordinates of a point in the view."""
        target, s = self.target(), self.scale()
        return int((point.x() - target.x()) / s), int((point.y() - target.y()) / s)

    # -- frames ------------------------------------------------------------------------------
    def _resize_image(self, width: int, height: int) -> None:
        self.image = QImage(width, height, QImage.Format.Format_RGB32)
        self.image.fill(QColor("black"))
        self.updateGeometry()
        self.update()

    def _apply_changes(self) -> None:
        change = self.session.take_changes()
        if change is None:
            return
        rect, region = change
        if rect.right() >= self.image.width() or rect.bottom() >= self.image.height():
            return  # from before a resize
        painter = QPainter(self.image)
        painter.drawImage(rect.topLeft(), region)
        painter.end()
        target, s = self.target(), self.scale()
        dirty = QRectF(target.x() + rect.x() * s, target.y() + rect.y() * s,
                       rect.width() * s, rect.height() * s)
        self.update(dirty.toAlignedRect().adjusted(-1, -1, 1, 1))

    def _set_cursor(self, image: QImage, hot_x: int, hot_y: int) -> None:
        self.setCursor(QCursor(QPixmap.fromImage(image), hot_x, hot_y))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        exposed = QRectF(event.rect())
        painter.fillRect(event.rect(), QColor("#202020"))
        target, s = self.target(), self.scale()
        area = exposed.intersected(target)
        if not area.isEmpty():
            source = QRectF((area.x() - target.x()) / s, (area.y() - target.y()) / s,
                            area.width() / s, area.height() / s)
            if abs(s * self.devicePixelRatioF() - 1.0) > 1e-6:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(area, self.image, source)
        painter.end()

    # -- keyboard ------------------------------------------------------------------------------
    def set_grab(self, grab: bool) -> None:
        """Take (or give back) the keyboard: while grabbed every key goes to the guest."""
        if grab == self.grabbed:
            return
        self.grabbed = grab
        can_grab = QGuiApplication.platformName() not in ("offscreen", "minimal")
        if grab and can_grab:
            self.grabKeyboard()
        elif not grab:
            if can_grab:
                self.releaseKeyboard()
            self.release_keys()
        self.grab_changed.emit(grab)

    def release_keys(self) -> None:
        """Release every key the guest believes is held (so no modifier stays stuck)."""
        for keysym, code in list(self._pressed.items()):
            self.session.key(keysym, False, code)
        self._pressed.clear()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        keysym = keysym_of(event)
        if not keysym:
            return
        held = set(self._pressed) | {keysym}
        if self.grabbed and CTRL_L in held and ALT_L in held:  # the release combination
            self.set_grab(False)
            return
        code = scancode_of(event)
        self._pressed[keysym] = code
        self.session.key(keysym, True, code)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            return
        keysym = keysym_of(event)
        if keysym in self._pressed:
            self.session.key(keysym, False, self._pressed.pop(keysym))

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.release_keys()
        self.set_grab(False)
        super().focusOutEvent(event)

    def focusNextPrevChild(self, _next: bool) -> bool:
        return False  # Tab belongs to the guest

    # -- pointer -------------------------------------------------------------------------------
    def _pointer(self, event: QMouseEvent) -> None:
        x, y = self.to_guest(event.position())
        self.session.pointer(x, y, self._buttons)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if not self.grabbed:
            self.set_grab(True)
        self._buttons |= _BUTTONS.get(event.button(), 0)
        self._pointer(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._buttons &= ~_BUTTONS.get(event.button(), 0)
        self._pointer(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._pointer(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        x, y = self.to_guest(event.position())
        bit = 8 if event.angleDelta().y() > 0 else 16
        self.session.pointer(x, y, self._buttons | bit)
        self.session.pointer(x, y, self._buttons)

    def screen_rect(self) -> QRect:
        """The guest's screen size as a rectangle."""
        return self.image.rect()
