"""`ImportReviewDialog`: before an import makes anything, what the appliance holds, its name,
where it goes and what that connection lacks of it (as VirtualBox's appliance settings)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktopvm.jobs import JobRunner
from desktopvm.model import MAX_NAME_LENGTH, name_problems
from desktopvm.ovf import Appliance, fitted, unfitted
from desktopvm.printable import printable
from desktopvm.ui.appliance_review import change_lines, hardware_lines, read_package
from desktopvm.ui.error_dialog import describe
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.hardware_words import BUS
from desktopvm.ui.name_suggest import clash_with_suggestion, suggest_name
from desktopvm.ui.theme import error_colour


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # texts carry names from the package
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


class ImportReviewDialog(QDialog):
    """Reads the package's descriptor in a background job, then shows it for review. Import
    is enabled once the package read well and the name passes the naming rule on the chosen
    connection (`taken(facts)` gives its machines' names)."""

    def __init__(self, path: Path, choices: list[BackendFacts], default: str,
                 parent: QWidget | None = None, *, runner: JobRunner,
                 taken: Callable[[BackendFacts], list[str]]) -> None:
        super().__init__(parent)
        self.setObjectName("import-review")
        self.setWindowTitle(self.tr("Import %1").replace("%1", printable(path.name)))
        self.setMinimumWidth(560)
        self.path, self.choices, self.taken = path, choices, taken
        self.appliance: Appliance | None = None
        self.read_error = ""
        self.status = _label(self.tr("Reading %1…").replace("%1", printable(path.name)),
                             "import-status")
        self.name = QLineEdit()
        self.name.setObjectName("import-name")
        self.name.setAccessibleName(self.tr("Name of the imported machine"))
        self.name_problem = _label(name="import-name-problem")
        self.name_problem.setStyleSheet(f"color: {error_colour()};")
        self.name_problem.hide()
        self.use_suggestion = QPushButton()
        self.use_suggestion.setObjectName("use-suggested-name")
        self.use_suggestion.hide()
        self.use_suggestion.clicked.connect(lambda: self.name.setText(self._suggestion()))
        self.connection = QComboBox()
        self.connection.setObjectName("import-connection")
        self.connection.setAccessibleName(self.tr("Where"))
        for facts in choices:
            self.connection.addItem(facts.display_name, facts.name)
        self.connection.setCurrentIndex(max(0, self.connection.findData(default)))
        self.hardware = QFormLayout()
        hardware_box = QGroupBox(self.tr("Hardware in the package"))
        hardware_box.setLayout(self.hardware)
        self.changes = _label(name="import-changes")
        changes_box = QGroupBox(self.tr("On the chosen hypervisor"))
        QVBoxLayout(changes_box).addWidget(self.changes)
        self.warnings = _label(name="import-warnings")
        self.warnings.hide()
        self._lay_out(hardware_box, changes_box)
        self.name.textChanged.connect(self._check)
        self.connection.currentIndexChanged.connect(self._check)
        # Reading an OVA lists a tar of many gigabytes: never on the GUI thread.
        job = runner.submit(self.tr("Read %1").replace("%1", printable(path.name)),
                            lambda progress, cancel: read_package(path), background=True)
        job.succeeded.connect(self.show_appliance)
        job.failed.connect(self.show_read_error)

    def _lay_out(self, hardware_box: QGroupBox, changes_box: QGroupBox) -> None:
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton(self.tr("&Import"),
                                               QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setObjectName("import-button")
        self.import_button.setEnabled(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.tr("Name:"), self.name)
        form.addRow("", self.name_problem)
        form.addRow("", self.use_suggestion)
        # the button as wide as its words, not the whole field
        self.use_suggestion.setSizePolicy(QSizePolicy.Policy.Maximum,
                                          QSizePolicy.Policy.Fixed)
        form.addRow(self.tr("Where:"), self.connection)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(form)
        layout.addWidget(hardware_box)
        layout.addWidget(changes_box)
        layout.addWidget(self.warnings)
        layout.addWidget(buttons)

    # -- what the job found --------------------------------------------------------------------
    def show_appliance(self, appliance: Appliance) -> None:
        """Fill the review from the package's descriptor."""
        self.appliance = appliance
        self.status.setText(self.tr("The package describes this machine. Nothing is made "
                                    "until you press Import."))
        # The machine as it was: disks on the buses it was exported from, when it says so.
        for label, value in hardware_lines(fitted(appliance, None)):
            self.hardware.addRow(self.tr(label) + ":", _label(value))
        if appliance.warnings:
            self.warnings.setText(self.tr("Not imported: %1")
                                  .replace("%1", " ".join(appliance.warnings)))
            self.warnings.show()
        self.name.setText(appliance.spec.name)
        self._check()

    def show_read_error(self, error: object) -> None:
        """The package cannot be read: say why; Import stays off."""
        summary = describe(error)[0] if isinstance(error, BaseException) else str(error)
        self.read_error = summary
        self.status.setText(self.tr("Cannot read %1: %2").replace("%1", printable(
            self.path.name)).replace("%2", summary))
        self.status.setStyleSheet(f"color: {error_colour()};")

    # -- checks ------------------------------------------------------------------------------
    def chosen(self) -> BackendFacts:
        """The connection chosen."""
        return self.choices[max(0, self.connection.currentIndex())]

    def chosen_name(self) -> str:
        """The name typed."""
        return self.name.text()

    def _limit(self) -> int:
        caps = self.chosen().capabilities
        return min(MAX_NAME_LENGTH, caps.max_name_length) if caps else MAX_NAME_LENGTH

    def _suggestion(self) -> str:
        return suggest_name(self.name.text(), self.taken(self.chosen()), self._limit())

    def _check(self) -> None:
        if self.appliance is None:
            return
        facts = self.chosen()
        caps = facts.capabilities
        text = self.name.text()
        clash = clash_with_suggestion(text, self.taken(facts), self._limit())
        problems = name_problems(text, caps) + clash
        self.name_problem.setText(problems[0].message if problems else "")
        self.name_problem.setVisible(bool(problems))
        self.use_suggestion.setVisible(bool(clash))
        if clash:
            self.use_suggestion.setText(self.tr("Use “%1”").replace(
                "%1", printable(self._suggestion())))
        lines = []
        if caps:
            appliance = fitted(self.appliance, caps)
            lines = [(False, self.tr("Disk %1 was on %2; %3 has no such controller, so it goes "
                                     "on the bus the package names for other hypervisors.")
                      .replace("%1", str(number)).replace("%2", BUS.get(bus, bus))
                      .replace("%3", facts.display_name))
                     for number, bus in unfitted(self.appliance, caps)]
            lines += change_lines(appliance.spec, caps)
        if not lines:
            self.changes.setText(self.tr("%1 takes the machine as the package describes it.")
                                 .replace("%1", facts.display_name))
        else:
            against = any(rule for rule, _ in lines)
            head = self.tr("%1 differs from the package:").replace("%1", facts.display_name)
            tail = [self.tr("Marked ✗: against its rules; the import adapts the machine or "
                            "stops and says why.")] if against else []
            self.changes.setText("\n".join([head, *(("✗ " if rule else "• ") + line
                                                     for rule, line in lines), *tail]))
        self.import_button.setEnabled(not problems)
