"""The red "disconnected" banner with a Reconnect button that console tabs show."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class DisconnectBanner(QFrame):
    """Says why a console lost its connection and offers to reconnect. Signal: reconnect()."""

    reconnect = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("disconnect-banner")
        self.setStyleSheet("#disconnect-banner { background: #7f1d1d; }"
                           " QLabel { color: white; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.button = QPushButton(self.tr("Reconnect"))
        self.button.setObjectName("reconnect")
        self.button.clicked.connect(self.reconnect)
        row = QHBoxLayout(self)
        row.addWidget(self.text, 1)
        row.addWidget(self.button)
        self.hide()

    def show_reason(self, title: str, message: str) -> None:
        """Show the banner: a bold title and the reason."""
        self.text.setText(f"<b>{title}</b>: {message}")
        self.show()
