"""Small dialogs that ask before acting: delete, clone, take snapshot, confirm."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import MAX_NAME_LENGTH, Capabilities, fit_name, name_problems
from desktopvm.printable import printable
from desktopvm.protocol import MachineSummary
from desktopvm.ui.name_suggest import clash_with_suggestion, suggest_name
from desktopvm.ui.theme import error_colour


class DeleteDialog(QDialog):
    """Asks before deleting; disks are kept unless the user ticks the box (which names them)."""

    def __init__(self, machines: list[MachineSummary], disk_files: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("delete-dialog")
        self.setWindowTitle(self.tr("Delete machines") if len(machines) > 1
                            else self.tr("Delete machine"))
        names = ", ".join(printable(m.name) for m in machines)
        question = QLabel(self.tr("Delete %1? The machine's settings and snapshots are removed.")
                          .replace("%1", names))
        question.setTextFormat(Qt.TextFormat.PlainText)
        question.setWordWrap(True)
        self.delete_disks = QCheckBox(self.tr("Also delete the dis&k files"))
        self.delete_disks.setObjectName("delete-disks")
        self.delete_disks.setChecked(False)
        files = QLabel("\n".join(disk_files) if disk_files else self.tr("(no disk files)"))
        files.setObjectName("disk-files")
        files.setTextInteractionFlags(files.textInteractionFlags())
        files.setEnabled(False)
        self.delete_disks.toggled.connect(files.setEnabled)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.delete_button = buttons.addButton(self.tr("&Delete"),
                                               QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        self.delete_button.clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(question)
        layout.addWidget(self.delete_disks)
        layout.addWidget(files)
        layout.addWidget(buttons)


class CloneDialog(QDialog):
    """New name and full/linked for a clone. The name is checked as typed by the one naming rule
    (and against the other machines' names); OK stays off, with the rule's message shown,
    until it passes. The proposed "NAME (copy)" is cut to fit the length limit; a name another
    machine has comes with a free one ("web-2") and a button that takes it."""

    def __init__(self, machine: MachineSummary, linked_possible: bool,
                 parent: QWidget | None = None, *, capabilities: Capabilities | None = None,
                 taken: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("clone-dialog")
        self.capabilities = capabilities
        self.taken = list(taken or [])
        self.setWindowTitle(self.tr("Clone %1").replace("%1", printable(machine.name)))
        limit = min(MAX_NAME_LENGTH, capabilities.max_name_length if capabilities
                    else MAX_NAME_LENGTH)
        self.limit = limit
        proposed = fit_name(self.tr("%1 (copy)"), printable(machine.name), limit)
        self.name = QLineEdit(proposed)
        self.name.setAccessibleName(self.tr("Name of the copy"))
        self.problem = QLabel()
        self.problem.setObjectName("clone-name-problem")
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {error_colour()};")
        self.use_suggestion = QPushButton()
        self.use_suggestion.setObjectName("use-suggested-name")
        self.use_suggestion.clicked.connect(
            lambda: self.name.setText(suggest_name(self.name.text(), self.taken, self.limit)))
        self.linked = QCheckBox(self.tr("Linked clone (shares the original's disks; fast, small)"))
        self.linked.setEnabled(linked_possible)
        if not linked_possible:
            self.linked.setToolTip(self.tr("This hypervisor cannot make linked clones"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.name.textChanged.connect(self.check_name)
        form = QFormLayout(self)
        form.addRow(self.tr("Name:"), self.name)
        form.addRow(self.problem)
        form.addRow("", self.use_suggestion)
        # the button as wide as its words, not the whole field
        self.use_suggestion.setSizePolicy(QSizePolicy.Policy.Maximum,
                                          QSizePolicy.Policy.Fixed)
        form.addRow(self.linked)
        form.addRow(buttons)
        self.check_name(self.name.text())

    def check_name(self, text: str) -> None:
        """Show the naming rule's first problem with `text` (if any); OK only when none."""
        clash = clash_with_suggestion(text, self.taken, self.limit)
        problems = name_problems(text, self.capabilities) + clash
        self.problem.setText(problems[0].message if problems else "")
        self.problem.setVisible(bool(problems))
        self.use_suggestion.setVisible(bool(clash))
        if clash:
            self.use_suggestion.setText(self.tr("Use “%1”").replace(
                "%1", printable(suggest_name(text, self.taken, self.limit))))
        self.ok.setEnabled(not problems)


class SnapshotDialog(QDialog):
    """Name, description and 'include memory' for a new snapshot."""

    def __init__(self, machine: MachineSummary, running: bool, memory_possible: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("snapshot-dialog")
        self.setWindowTitle(self.tr("Take snapshot of %1").replace("%1", printable(machine.name)))
        self.name = QLineEdit(self.tr("Snapshot"))
        self.name.setAccessibleName(self.tr("Snapshot name"))
        self.description = QPlainTextEdit()
        self.description.setAccessibleName(self.tr("Description"))
        self.description.setMaximumHeight(90)
        self.memory = QCheckBox(self.tr("Include the running machine's memory"))
        self.memory.setChecked(running and memory_possible)
        self.memory.setEnabled(running and memory_possible)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(self.tr("Name:"), self.name)
        form.addRow(self.tr("Description:"), self.description)
        form.addRow(self.memory)
        form.addRow(buttons)


def confirm(parent: QWidget, title: str, text: str, action: str,
            on_yes: Callable[[], object]) -> QMessageBox:
    """Ask window-modally without blocking; the default answer is Cancel. Give `action` an
    access key ("&Power off"), not on C (Cancel's on some desktops)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    box.setObjectName("confirm-dialog")
    box.setTextFormat(Qt.TextFormat.PlainText)  # the text carries machine names
    yes = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(no)
    box.setEscapeButton(no)
    box.buttonClicked.connect(lambda button: on_yes() if button is yes else None)
    box.open()
    return box
