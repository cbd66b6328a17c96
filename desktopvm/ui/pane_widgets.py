"""Labels that give way to a narrow pane: an eliding title, shrinking values, a scaled preview."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

PREVIEW_SIZE = QSize(320, 200)  # the most a thumbnail needs; 16:10 like most guest screens
PREVIEW_MINIMUM = QSize(160, 100)  # still recognisable: a boot screen's text block shows


class ElidedLabel(QLabel):
    """One line that ends in "…" when the pane is narrower than the text; the whole text is
    then the tooltip. text() answers the whole text, as a QLabel's would."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)  # a name is text, never markup
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 4, hint.height())

    def minimumSizeHint(self) -> QSize:
        # A few letters: the window, not the name, decides how wide the pane is.
        return QSize(self.fontMetrics().horizontalAdvance("MMMM…"), super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                              max(self.width(), 1))
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")


class ValueLabel(QLabel):
    """A wrapping value whose minimum width is a few words, not its longest word: a long file
    name is cut at the pane's edge (its whole path is the tooltip) rather than making the whole
    pane scroll sideways."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # names and paths are text
        self.setWordWrap(True)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().horizontalAdvance("M" * 8)),
                     hint.height())


class PreviewLabel(QLabel):
    """The live thumbnail: at most PREVIEW_SIZE, at least PREVIEW_MINIMUM, 16:10, the last
    screenshot scaled to whatever size the layout gives it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shot = QPixmap()
        self.setMinimumSize(PREVIEW_MINIMUM)
        self.setMaximumSize(PREVIEW_SIZE)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def sizeHint(self) -> QSize:
        # The smallest: the hardware list beside it gets its room first, the preview grows
        # into what is left (up to PREVIEW_SIZE).
        return PREVIEW_MINIMUM

    def minimumSizeHint(self) -> QSize:
        return PREVIEW_MINIMUM

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return max(PREVIEW_MINIMUM.height(), width * PREVIEW_SIZE.height() // PREVIEW_SIZE.width())

    def has_shot(self) -> bool:
        """Whether a screenshot is shown (not the empty box)."""
        return not self._shot.isNull()

    def show_shot(self, shot: QPixmap) -> None:
        """Show a screenshot, scaled into the current size."""
        self._shot = shot
        self._scale()

    def clear(self) -> None:
        self._shot = QPixmap()
        super().clear()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._scale()

    def _scale(self) -> None:
        if self._shot.isNull():
            return
        self.setPixmap(self._shot.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))
