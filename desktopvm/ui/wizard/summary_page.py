"""The wizard's last page: the machine in words, every problem, and progress while creating."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWizardPage,
)

from desktopvm.model import Severity
from desktopvm.ui.editors import ProblemsView
from desktopvm.ui.wizard.summary_text import summary_rows

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class SummaryPage(QWizardPage):
    """Finish (labelled Create) starts the creation job; the page shows its progress."""

    def __init__(self, wizard: NewVmWizard) -> None:
        super().__init__()
        self.vm_wizard = wizard
        self.setTitle(self.tr("Ready to create"))
        self.setSubTitle(self.tr("Check the new machine's settings; Back goes to any page to "
                                 "change them. Create builds the machine without starting it."))
        self.creating = False
        panel = QFrame()
        panel.setObjectName("summary")
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        self.form = QFormLayout(panel)
        self.form.setContentsMargins(12, 12, 12, 12)
        self.form.setVerticalSpacing(6)
        self.form.setHorizontalSpacing(16)
        self.problems = ProblemsView()
        self.stage = QLabel()
        self.stage.setObjectName("create-stage")
        self.stage.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("create-progress")
        self.progress.setAccessibleName(self.tr("Creating the machine"))
        self.progress.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(panel)
        layout.addWidget(self.problems)
        layout.addStretch(1)
        layout.addWidget(self.stage)
        layout.addWidget(self.progress)
        self.stage.hide()
        self.progress.hide()

    def initializePage(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for label, value in summary_rows(self.vm_wizard.spec, self.vm_wizard.backend):
            text = QLabel(value)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setAccessibleName(label)
            heading = QLabel(label + ":")
            font = QFont(heading.font())
            font.setBold(True)
            heading.setFont(font)
            self.form.addRow(heading, text)
        self.show_problems()

    def show_problems(self) -> None:
        """Show what is wrong now (again when an answer about a file arrives)."""
        self.problems.show_problems(self.vm_wizard.all_problems())
        self.completeChanged.emit()

    def cleanupPage(self) -> None:
        """Going back keeps everything."""

    def isComplete(self) -> bool:
        errors = any(p.severity is Severity.ERROR for p in self.problems.problems)
        return not self.creating and not errors

    def validatePage(self) -> bool:
        # QWizard calls this when Create is pressed, and again when the job has succeeded
        # and the wizard accepts itself: only then may the page be left.
        if self.vm_wizard.created_id:
            return True
        if not self.creating:
            self.vm_wizard.start_creating()
        return False

    def set_creating(self, creating: bool) -> None:
        """Show or hide the progress of creation."""
        self.creating = creating
        self.stage.setVisible(creating)
        self.progress.setVisible(creating)
        if creating:
            self.show_progress(None, self.tr("Starting…"))
        self.completeChanged.emit()

    def show_progress(self, fraction: float | None, stage: str) -> None:
        """A job's progress report: a busy bar while the fraction is unknown."""
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(fraction * 1000))
        if stage:
            self.stage.setText(stage)
