"""`TransferDialog`: Copy to… / Move to… another hypervisor or host, the mapping report first.

The report (what changes on the target and why, and what blocks the move) is worked out in a
job for the connection chosen; nothing is copied until the user has read it and pressed OK,
and a report with blockers keeps OK off.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopvm.connections import kind_of
from desktopvm.jobs import Job, JobRunner
from desktopvm.model.porting import Fitting
from desktopvm.printable import printable
from desktopvm.protocol import MachineSummary
from desktopvm.protocol.host_files import files_are_here
from desktopvm.ui.backup.labels import plain_label
from desktopvm.ui.backup.name_field import NameField
from desktopvm.ui.dialogs import confirm
from desktopvm.ui.error_dialog import describe
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.theme import error_colour

Plan = Callable[[str], Fitting]  # target connection id -> the report (runs in a job)



class TransferDialog(QDialog):
    """Copy (`move=False`) or move one machine to another connection, report first."""

    planned = Signal()  # a report was shown (tests and screenshots wait for it)

    def __init__(self, machine: MachineSummary, source: str, choices: list[BackendFacts],
                 parent: QWidget | None = None, *, plan: Plan, runner: JobRunner,
                 taken: Callable[[BackendFacts], list[str]], move: bool = False) -> None:
        super().__init__(parent)
        self.moving = move
        self.setObjectName("move-dialog" if move else "copy-dialog")
        self.machine, self.source, self.choices = machine, source, choices
        self.plan, self.runner, self.taken = plan, runner, taken
        name = printable(machine.name)
        self.setWindowTitle((self.tr("Move %1 to…") if move else self.tr("Copy %1 to…"))
                            .replace("%1", name))
        self.setMinimumSize(680, 440)
        self.fitting: Fitting | None = None
        self._job: Job | None = None
        self._asked = ""  # the connection whose report is being worked out
        self.target = QComboBox()
        self.target.setObjectName("transfer-target")
        self.target.setAccessibleName(self.tr("To"))
        for facts in choices:
            self.target.addItem(facts.display_name, facts.name)
        self.name = NameField(machine.name)
        self.status = plain_label(name="transfer-status")
        self.report = QTreeWidget()
        self.report.setObjectName("transfer-report")
        self.report.setRootIsDecorated(False)
        self.report.setWordWrap(True)
        self.report.setHeaderLabels([self.tr("What"), self.tr("Now"), self.tr("There"),
                                     self.tr("Why")])
        self.report.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.report.header().setStretchLastSection(True)
        self.blockers = plain_label(name="transfer-blockers")
        self.blockers.setStyleSheet(f"color: {error_colour()};")
        self.blockers.hide()
        self.warning = plain_label(name="transfer-warning")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton(self.tr("Move") if move else self.tr("Copy"),
                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setObjectName("transfer-ok")
        self.ok.setEnabled(False)
        self.ok.clicked.connect(self._go)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.tr("To:"), self.target)
        form.addRow(self.tr("Name there:"), self.name)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.blockers)
        layout.addWidget(self.warning)
        layout.addWidget(buttons)
        self.target.currentIndexChanged.connect(self._target_changed)
        self.name.checked.connect(lambda _: self._update_ok())
        self._target_changed()

    def chosen(self) -> BackendFacts | None:
        index = self.target.currentIndex()
        return self.choices[index] if 0 <= index < len(self.choices) else None

    def chosen_name(self) -> str:
        return self.name.text()

    def _warn(self, facts: BackendFacts | None) -> None:
        """What happens to the original, and how far the copy can be checked first: on this
        computer the copy's disks are compared with the original's; on another host only
        its hardware and disk sizes (desktopvm.transfer.verifying)."""
        if not self.moving:
            self.warning.setText(self.tr("The original stays as it is."))
            return
        name = printable(self.machine.name)
        text = self.tr("%1 is deleted from %2 only after the copy has been made and checked, "
                       "and only if it did not change meanwhile; until then it stays as it is."
                       ).replace("%1", name).replace("%2", self.source)
        if facts is not None and not files_are_here(facts.host):
            # desktopvm.transfer.verifying: Hyper-V copies each disk file there itself
            # (HostFileCopying) and checks it by SHA-256; other hosts only by their sizes.
            text += " " + (self.tr("On %1 the copy's hardware and disk sizes are checked, "
                                   "and each disk file by SHA-256 as it is copied there.")
                           if kind_of(facts.name) == "hyperv" else
                           self.tr("On %1 only the copy's hardware and disk sizes can be "
                                   "checked, not the bytes on its disks.")).replace(
                "%1", printable(facts.host))
        self.warning.setText(text)

    def _target_changed(self) -> None:
        facts = self.chosen()
        self._warn(facts)
        self.fitting = None
        self.report.clear()
        self.blockers.hide()
        self._update_ok()
        if facts is None:
            self.status.setText(self.tr("No other hypervisor or host can take it."))
            return
        self.name.against(facts.capabilities, self.taken(facts))
        self.status.setText(self.tr("Working out what changes on %1…").replace(
            "%1", facts.display_name))
        self._asked = facts.name
        self.status.setProperty("failed", False)
        if self._job is None:
            self._start(facts.name)

    def _start(self, connection: str) -> None:
        plan = self.plan
        job = self.runner.submit(self.tr("Plan the copy"), lambda p, c: plan(connection),
                                 background=True)
        self._job = job
        job.succeeded.connect(lambda fitting: self._show(connection, fitting))
        job.failed.connect(lambda error: self._failed(connection, error))
        job.finished.connect(self._ended)

    def _ended(self) -> None:
        self._job = None
        facts = self.chosen()
        if facts is not None and self.fitting is None and facts.name == self._asked \
                and not self.status.property("failed"):
            self._start(facts.name)  # the target changed while the last report was made

    def _failed(self, connection: str, error: object) -> None:
        facts = self.chosen()
        if facts is None or facts.name != connection:
            return
        summary = describe(error)[0] if isinstance(error, BaseException) else str(error)
        self.status.setText(self.tr("Cannot work out the copy: %1").replace("%1", summary))
        self.status.setProperty("failed", True)

    def _show(self, connection: str, fitting: Fitting) -> None:
        facts = self.chosen()
        if facts is None or facts.name != connection:
            return  # another target was chosen meanwhile
        self.status.setProperty("failed", False)
        self.fitting = fitting
        for change in fitting.changes:
            item = QTreeWidgetItem([change.what, change.before, change.after, change.reason])
            item.setToolTip(3, change.reason)
            self.report.addTopLevelItem(item)
        if fitting.changes:
            self.status.setText(self.tr("On %1 the machine changes like this:").replace(
                "%1", facts.display_name))
        else:
            self.status.setText(self.tr("%1 takes the machine as it is: nothing changes.")
                                .replace("%1", facts.display_name))
        if fitting.blockers:
            self.blockers.setText(self.tr("It cannot go there: %1").replace(
                "%1", " ".join(fitting.blockers)))
            self.blockers.show()
        self._update_ok()
        self.planned.emit()

    def _update_ok(self) -> None:
        ready = self.fitting is not None and not self.fitting.blockers
        self.ok.setEnabled(ready and self.name.valid)

    def _go(self) -> None:
        if not self.moving:
            self.accept()
            return
        facts = self.chosen()
        assert facts is not None
        confirm(self, self.tr("Move %1").replace("%1", printable(self.machine.name)),
                self.tr("Move %1 to %2? Once the copy there has been checked, %1 is deleted "
                        "from %3 with its disks and snapshots.")
                .replace("%1", printable(self.machine.name)).replace("%2", facts.display_name)
                .replace("%3", self.source), self.tr("Move"), self.accept)
