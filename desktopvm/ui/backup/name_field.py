"""`NameField`: a new machine's name, checked as typed against the naming rule and the names a
connection already has, with a free name offered on a clash (as the clone dialog does)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from desktopvm.model import MAX_NAME_LENGTH, Capabilities, name_problems
from desktopvm.printable import printable
from desktopvm.ui.name_suggest import clash_with_suggestion, suggest_name
from desktopvm.ui.theme import error_colour


class NameField(QWidget):
    """The line edit, the first problem in words (red) and "Use “web-2”" on a clash.

    `checked(bool)` says after every change whether the name passes.
    """

    checked = Signal(bool)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.capabilities: Capabilities | None = None
        self.taken: list[str] = []
        self.valid = False  # whether the name passed its last check
        self.edit = QLineEdit(name)
        self.edit.setObjectName("new-name")
        self.edit.setAccessibleName(self.tr("Name of the new machine"))
        self.problem = QLabel()
        self.problem.setObjectName("new-name-problem")
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {error_colour()};")
        self.use_suggestion = QPushButton()
        self.use_suggestion.setObjectName("use-suggested-name")
        self.use_suggestion.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.use_suggestion.clicked.connect(lambda: self.edit.setText(self._suggestion()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(self.problem)
        layout.addWidget(self.use_suggestion)
        self.edit.textChanged.connect(lambda _: self.check())
        self.check()

    def text(self) -> str:
        return self.edit.text()

    def against(self, capabilities: Capabilities | None, taken: list[str]) -> None:
        """Check against another connection's rules and names."""
        self.capabilities, self.taken = capabilities, list(taken)
        self.check()

    def _limit(self) -> int:
        caps = self.capabilities
        return min(MAX_NAME_LENGTH, caps.max_name_length) if caps else MAX_NAME_LENGTH

    def _suggestion(self) -> str:
        return suggest_name(self.edit.text(), self.taken, self._limit())

    def check(self) -> bool:
        """Show the first problem with the name; whether there is none."""
        text = self.edit.text()
        clash = clash_with_suggestion(text, self.taken, self._limit())
        problems = name_problems(text, self.capabilities) + clash
        self.problem.setText(problems[0].message if problems else "")
        self.problem.setVisible(bool(problems))
        self.use_suggestion.setVisible(bool(clash))
        if clash:
            self.use_suggestion.setText(self.tr("Use “%1”").replace(
                "%1", printable(self._suggestion())))
        self.valid = not problems
        self.checked.emit(self.valid)
        return self.valid
