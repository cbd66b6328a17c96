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

    The pointer is absolute (guest coordinates; the guest has a tablet) until the server says
    the guest's pointer is relative (a plain mouse): then a click grabs the host pointer, hides
    it, and sends motion, keeping the host pointer at the view's centre. Ctrl+Alt releases.

    Signals: grab_changed(bool), pointer_mode_changed(relative).
    """

    grab_changed = Signal(bool)
    pointer_mode_changed = Signal(bool)

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
        self.relative = False  # the guest wants pointer motion, not positions
        self._last_position = QPointF()  # where the last absolute event was, in the view
        self._anchor: QPointF | None = None  # global position the next motion is measured from
        self._residue = (0.0, 0.0)  # motion below one guest pixel, kept for the next event
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(160, 100)
        session.connected.connect(lambda _n, w, h: self._resize_image(w, h))
        session.resized.connect(self._resize_image)
        session.changed.connect(self._apply_changes)
        session.cursor.connect(self._set_cursor)
        session.pointer_mode.connect(self._set_pointer_mode)

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
        """Take (or give back) keyboard and, for a relative guest pointer, the mouse."""
        if grab == self.grabbed:
            return
        self.grabbed = grab
        # Offscreen and minimal platforms have no real input to grab (tests run there).
        can_grab = QGuiApplication.platformName() not in ("offscreen", "minimal")
        if grab:
            if can_grab:
                self.grabKeyboard()
                if self.relative:
                    self.grabMouse(QCursor(Qt.CursorShape.BlankCursor))
            self._anchor, self._residue = None, (0.0, 0.0)
            if self.relative and can_grab:
                self._warp_to_centre()
        else:
            if can_grab:
                self.releaseKeyboard()
                self.releaseMouse()
            self.release_keys()
            self._release_buttons()
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
    def _set_pointer_mode(self, absolute: bool) -> None:
        if self.relative == (not absolute):
            return
        self.set_grab(False)  # the next click grabs the way the new mode needs
        self.relative = not absolute
        self.pointer_mode_changed.emit(self.relative)

    def _send_pointer(self, position: QPointF) -> None:
        if self.relative:
            self.session.motion(0, 0, self._buttons)
        else:
            self._last_position = position
            x, y = self.to_guest(position)
            self.session.pointer(x, y, self._buttons)

    def _release_buttons(self) -> None:
        if self._buttons:
            self._buttons = 0
            self._send_pointer(self._last_position)

    def _warp_to_centre(self) -> None:
        centre = self.mapToGlobal(self.rect().center())
        QCursor.setPos(self.screen(), centre)
        self._anchor = QPointF(centre)

    def _relative_motion(self, event: QMouseEvent) -> None:
        here = event.globalPosition()
        if self._anchor is not None:
            # Motion in guest pixels, so the guest's pointer travels as far as the hand did
            # across the (scaled) picture; fractions carry over to the next event.
            s = self.scale()
            dx = (here.x() - self._anchor.x()) / s + self._residue[0]
            dy = (here.y() - self._anchor.y()) / s + self._residue[1]
            ix, iy = int(dx), int(dy)
            self._residue = (dx - ix, dy - iy)
            if ix or iy:
                self.session.motion(ix, iy, self._buttons)
        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            self._anchor = here
        else:
            self._warp_to_centre()  # keeps the hidden host pointer from reaching an edge

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if not self.grabbed:
            self.set_grab(True)
            if self.relative:
                if self._anchor is None:  # no warp (offscreen): measure from the click
                    self._anchor = event.globalPosition()
                return  # the grabbing click is ours: the guest pointer is somewhere else
        self._buttons |= _BUTTONS.get(event.button(), 0)
        self._send_pointer(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        bit = _BUTTONS.get(event.button(), 0)
        if not self._buttons & bit:
            return  # the release of the grabbing click
        self._buttons &= ~bit
        self._send_pointer(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self.relative:
            self._send_pointer(event.position())
        elif self.grabbed:
            self._relative_motion(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.relative and not self.grabbed:
            return
        bit = 8 if event.angleDelta().y() > 0 else 16
        if self.relative:
            self.session.motion(0, 0, self._buttons | bit)
            self.session.motion(0, 0, self._buttons)
            return
        x, y = self.to_guest(event.position())
        self.session.pointer(x, y, self._buttons | bit)
        self.session.pointer(x, y, self._buttons)

    def screen_rect(self) -> QRect:
        """The guest's screen size as a rectangle."""
        return self.image.rect()
