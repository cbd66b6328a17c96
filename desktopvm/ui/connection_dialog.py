"""`ConnectionDialog`: which connection (this computer's hypervisor or a host) an import goes to."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

from desktopvm.ui.facts import BackendFacts


class ConnectionDialog(QDialog):
    """A combo of the connections that can take the machine; `default` is chosen first."""

    def __init__(self, title: str, what: str, choices: list[BackendFacts], default: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connection-dialog")
        self.setWindowTitle(title)
        self.combo = QComboBox()
        self.combo.setObjectName("connection")
        self.combo.setAccessibleName(self.tr("Where"))
        for facts in choices:
            self.combo.addItem(facts.display_name, facts.name)
        self.combo.setCurrentIndex(max(0, self.combo.findData(default)))
        text = QLabel(what)
        text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(text)
        form.addRow(self.tr("Where:"), self.combo)
        form.addRow(buttons)

    def chosen(self) -> str:
        """The chosen connection id."""
        return str(self.combo.currentData())
