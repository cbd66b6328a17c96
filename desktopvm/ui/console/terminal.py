"""A terminal widget on pyte: ANSI colours, scroll-back, selection, copy/paste, resize."""

from __future__ import annotations

from collections.abc import Callable

import pyte
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

COLOURS = {
    "black": "#1e1e1e", "red": "#e5484d", "green": "#46a758", "brown": "#d6a23a",
    "yellow": "#f5d90a", "blue": "#3e63dd", "magenta": "#ab4aba", "cyan": "#05a2c2",
    "white": "#d4d4d4", "brightblack": "#6e6e6e", "brightred": "#ff6369",
    "brightgreen": "#65ba74", "brightbrown": "#ffe629", "brightblue": "#849dff",
    "brightmagenta": "#e07ae0", "brightcyan": "#4ccce6", "brightwhite": "#ffffff",
}
DEFAULT_FG, DEFAULT_BG = "#d4d4d4", "#101010"
_KEYS = {
    Qt.Key.Key_Return: b"\r", Qt.Key.Key_Enter: b"\r", Qt.Key.Key_Backspace: b"\x7f",
    Qt.Key.Key_Tab: b"\t", Qt.Key.Key_Escape: b"\x1b", Qt.Key.Key_Up: b"\x1b[A",
    Qt.Key.Key_Down: b"\x1b[B", Qt.Key.Key_Right: b"\x1b[C", Qt.Key.Key_Left: b"\x1b[D",
    Qt.Key.Key_Home: b"\x1b[H", Qt.Key.Key_End: b"\x1b[F", Qt.Key.Key_Delete: b"\x1b[3~",
    Qt.Key.Key_PageUp: b"\x1b[5~", Qt.Key.Key_PageDown: b"\x1b[6~",
}


def colour(name: str, default: str) -> QColor:
    """A pyte colour (a name, "default", or 6 hex digits) as a QColor."""
    if name == "default":
        return QColor(default)
    if name in COLOURS:
        return QColor(COLOURS[name])
    return QColor(f"#{name}") if len(name) == 6 else QColor(default)


class TerminalView(QWidget):
    """Renders a pyte screen and turns keys into bytes for `send`.

    Signals: resized(cols, rows); history_changed(lines above the screen, history lines).
    """

    resized = Signal(int, int)
    history_changed = Signal(int, int)

    def __init__(self, send: Callable[[bytes], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("terminal-view")
        self.send = send
        self.term = pyte.HistoryScreen(80, 25, history=5000, ratio=0.5)
        self.stream = pyte.ByteStream(self.term)
        self.font_ = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        metrics = QFontMetrics(self.font_)
        self.cell_w = max(1, metrics.horizontalAdvance("M"))
        self.cell_h = max(1, metrics.height())
        self.ascent = metrics.ascent()
        self.selection: tuple[QPoint, QPoint] | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(self.cell_w * 20, self.cell_h * 5)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self._extent = (0, 0)

    def feed(self, data: bytes) -> None:
        """Show bytes from the guest."""
        if self.term.history.bottom:  # scrolled back: new output brings the live screen back
            self.scroll_to(len(self.term.history.top) + len(self.term.history.bottom))
        self.stream.feed(data)
        self.update()
        self._report_history()

    def scroll_to(self, above: int) -> None:
        """Scroll so about `above` history lines lie above the screen (pyte pages by halves)."""
        history = self.term.history
        while len(history.top) > above:
            before = len(history.top)
            self.term.prev_page()
            if len(history.top) == before:
                break
        while len(history.top) < above and history.bottom:
            self.term.next_page()
        self.update()
        self._report_history()

    def _report_history(self) -> None:
        history = self.term.history
        extent = (len(history.top), len(history.top) + len(history.bottom))
        if extent != self._extent:
            self._extent = extent
            self.history_changed.emit(*extent)

    def text(self) -> str:
        """The visible screen as text (trailing blanks removed)."""
        return "\n".join(line.rstrip() for line in self.term.display)

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor(DEFAULT_BG))
        painter.setFont(self.font_)
        screen = self.term
        first = max(0, event.rect().top() // self.cell_h)
        last = min(screen.lines - 1, event.rect().bottom() // self.cell_h)
        for row in range(first, last + 1):
            line = screen.buffer[row]
            col = 0
            while col < screen.columns:  # draw runs of characters with the same attributes
                char = line[col]
                start, text = col, [char.data]
                col += 1
                while col < screen.columns:
                    nxt = line[col]
                    if (nxt.fg, nxt.bg, nxt.reverse, nxt.bold) != (char.fg, char.bg,
                                                                   char.reverse, char.bold):
                        break
                    text.append(nxt.data)
                    col += 1
                self._draw_run(painter, row, start, "".join(text), char)
        self._draw_cursor(painter)
        painter.end()

    def _draw_run(self, painter: QPainter, row: int, col: int, text: str,
                  char: pyte.screens.Char) -> None:
        fg, bg = colour(char.fg, DEFAULT_FG), colour(char.bg, DEFAULT_BG)
        if char.bold and char.fg in COLOURS and not char.fg.startswith("bright"):
            fg = colour("bright" + char.fg, DEFAULT_FG)
        if char.reverse != self._selected(row, col):
            fg, bg = bg, fg
        x, y = col * self.cell_w, row * self.cell_h
        if char.bg != "default" or char.reverse or self._selected(row, col):
            painter.fillRect(x, y, len(text) * self.cell_w, self.cell_h, bg)
        if text.strip():
            painter.setPen(fg)
            painter.drawText(x, y + self.ascent, text)

    def _draw_cursor(self, painter: QPainter) -> None:
        cursor = self.term.cursor
        if not cursor.hidden and self.term.history.position >= self.term.history.size:
            colour_ = QColor(DEFAULT_FG)
            colour_.setAlpha(140 if self.hasFocus() else 60)
            painter.fillRect(cursor.x * self.cell_w, cursor.y * self.cell_h, self.cell_w,
                             self.cell_h, colour_)

    def _selected(self, row: int, col: int) -> bool:
        if self.selection is None:
            return False
        a, b = sorted(self.selection, key=lambda p: (p.y(), p.x()))
        return (a.y(), a.x()) <= (row, col) < (b.y(), b.x())

    # -- size ----------------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        cols = max(20, self.width() // self.cell_w)
        rows = max(5, self.height() // self.cell_h)
        if (cols, rows) != (self.term.columns, self.term.lines):
            self.term.resize(rows, cols)
            self.resized.emit(cols, rows)
        super().resizeEvent(event)

    # -- input ---------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        mods = event.modifiers()
        ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        if mods & ctrl_shift == ctrl_shift and event.key() == Qt.Key.Key_C:
            self.copy()
        elif mods & ctrl_shift == ctrl_shift and event.key() == Qt.Key.Key_V:
            self.paste()
        elif event.key() in _KEYS:
            self.send(_KEYS[Qt.Key(event.key())])
        elif event.text():
            self.send(event.text().encode("utf-8"))

    def focusNextPrevChild(self, _next: bool) -> bool:
        return False  # Tab completes in the guest's shell

    def copy(self) -> None:
        """Copy the selection to the clipboard."""
        if self.selection is None:
            return
        a, b = sorted(self.selection, key=lambda p: (p.y(), p.x()))
        lines = self.term.display[a.y():b.y() + 1]
        if lines:
            lines[-1] = lines[-1][:b.x()]
            lines[0] = lines[0][a.x():]
        QGuiApplication.clipboard().setText("\n".join(line.rstrip() for line in lines))

    def paste(self) -> None:
        """Send the clipboard's text to the guest."""
        text = QGuiApplication.clipboard().text()
        if text:
            self.send(text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8"))

    def _cell(self, event: QMouseEvent) -> QPoint:
        pos = event.position()
        return QPoint(min(self.term.columns, max(0, round(pos.x() / self.cell_w))),
                      min(self.term.lines - 1, max(0, int(pos.y() // self.cell_h))))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() == Qt.MouseButton.LeftButton:
            cell = self._cell(event)
            self.selection = (cell, cell)
        elif event.button() == Qt.MouseButton.MiddleButton:
            self.paste()
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.selection is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.selection = (self.selection[0], self._cell(event))
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.selection is not None and self.selection[0] == self.selection[1]:
            self.selection = None
            self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.angleDelta().y() > 0:
            self.term.prev_page()
        else:
            self.term.next_page()
        self.update()
        self._report_history()
