"""Small building blocks the editors share: captions, notes, a path field, size formatting."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QColor, QIcon, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from desktopvm.model import Severity
from desktopvm.paths import resources_dir
from desktopvm.ui.icons import icon

GIB_IN_MIB = 1024
E = TypeVar("E", bound=StrEnum)


def chosen_enum(combo: QComboBox, enum: type[E]) -> E | None:
    """The combo's current item data as `enum` (Qt hands string enums back as plain str)."""
    data = combo.currentData()
    return None if data is None else enum(data)


def optional_icon(name: str) -> QIcon:
    """The named icon, or an empty one while its SVG is not drawn yet.

    Qt logs a warning for a missing SVG, and warnings fail the GUI tests; the icon set is
    still being drawn, so ask for the file only when it is there.
    """
    if (resources_dir() / "icons" / f"{name}.svg").is_file():
        return icon(name)
    return QIcon()


def is_dark(palette: QPalette) -> bool:
    """Whether the palette is a dark theme (light text on a dark window)."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def severity_color(severity: Severity, palette: QPalette) -> QColor:
    """Red for errors and amber for warnings, readable on light and dark palettes alike."""
    dark = is_dark(palette)
    if severity is Severity.ERROR:
        return QColor("#ff7b72" if dark else "#c01c28")
    return QColor("#e3b341" if dark else "#8a5a00")


class WrappingLabel(QLabel):
    """A word-wrapped label whose size hint is as tall as its text at its current width.

    QFormLayout sizes rows by size hints, and a wrapped QLabel's hint assumes a narrow
    width, which leaves one-line captions in two- or three-line boxes with gaps around.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        if self.width() > 0:
            return QSize(hint.width(), self.heightForWidth(self.width()))
        return hint

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self.sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()  # the height for the new width differs: ask again


def caption(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A secondary, word-wrapped explanation under a control, in the palette's muted colour."""
    label = WrappingLabel(text, parent)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def note(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A framed, word-wrapped note for things the user should read before going on."""
    label = WrappingLabel(text, parent)
    label.setFrameShape(QFrame.Shape.StyledPanel)
    label.setMargin(8)
    label.setAutoFillBackground(True)
    label.setBackgroundRole(QPalette.ColorRole.AlternateBase)
    return label


def format_mib(mib: int) -> str:
    """'512 MiB', '4 GiB', '1.5 GiB': the unit people think in."""
    if mib < GIB_IN_MIB:
        return f"{mib} MiB"
    gib = mib / GIB_IN_MIB
    return f"{gib:.0f} GiB" if gib == int(gib) else f"{gib:.1f} GiB"


def format_bytes(size: int) -> str:
    """A disk size for people: '64 GiB', '512 MiB'."""
    return format_mib(size // (1024 * 1024))


class PathField(QWidget):
    """A path line edit with a Browse… button opening a file dialog.

    Signals:
        path_changed(str)
    """

    path_changed = Signal(str)

    def __init__(self, dialog_title: str, name_filter: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dialog_title = dialog_title
        self._filter = name_filter
        self.start_dir = ""  # where Browse… looks while the field is empty ("": Qt's choice)
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton(self.tr("Browse…"))
        self.browse.setAccessibleName(self.tr("Browse for a file: %s") % dialog_title)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)
        self.edit.textChanged.connect(self.path_changed)
        self.browse.clicked.connect(self._browse)

    def path(self) -> str:
        """The path as typed, without surrounding spaces."""
        return self.edit.text().strip()

    def set_path(self, path: str) -> None:
        """Show `path` (emits path_changed when it differs)."""
        if path != self.edit.text():  # setText moves the cursor even when nothing changes
            self.edit.setText(path)

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, self._dialog_title,
                                                self.path() or self.start_dir, self._filter)
        if chosen:
            self.edit.setText(chosen)
