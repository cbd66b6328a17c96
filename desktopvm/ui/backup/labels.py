"""`plain_label`: the wrapped, plain-text label the backup dialogs show their words in."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def plain_label(text: str = "", name: str = "") -> QLabel:
    """A word-wrapped label that shows `text` as it is (machine and host names are never
    read as rich text); `name` is its object name, for tests and screenshots."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label
