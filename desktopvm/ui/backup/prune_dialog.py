"""`PruneDialog`: keep the last N / daily / weekly sets of a machine; shows what would go first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from desktopvm.backup import BackupSet, Retention, prune
from desktopvm.jobs import Job, JobRunner
from desktopvm.printable import printable
from desktopvm.ui.backup.backup_dialog import RetentionBox
from desktopvm.ui.error_dialog import describe
from desktopvm.units import format_size


class PruneDialog(QDialog):
    """Each change of the numbers asks `prune(dry_run=True)` in a job and lists the sets that
    would be deleted; "Delete N sets" is enabled only for a preview of the numbers shown, and
    deletes with the same numbers (prune itself never removes a set a kept one needs)."""

    previewed = Signal()  # a preview was shown (tests wait for it)

    def __init__(self, runner: JobRunner, folder: Path, machine_key: str, machine_name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prune-dialog")
        self.setWindowTitle(self.tr("Prune backups of %1").replace("%1", printable(machine_name)))
        self.setMinimumWidth(460)
        self.runner, self.folder, self.key = runner, folder, machine_key
        self.retention = RetentionBox()
        self.retention.keep_last.setValue(7)
        self.doomed = QListWidget()
        self.doomed.setObjectName("prune-doomed")
        self.summary = QLabel()
        self.summary.setObjectName("prune-summary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton(self.tr("Delete"), QDialogButtonBox.ButtonRole.DestructiveRole)
        self.ok.setObjectName("prune-ok")
        self.ok.setEnabled(False)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        self.ok.clicked.connect(self._prune)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.tr("Keep:"), self.retention)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel(self.tr("These sets would be deleted:")))
        layout.addWidget(self.doomed)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self._shown: tuple[int, int, int] | None = None
        self._job: Job | None = None
        self._again = False
        for box in (self.retention.keep_last, self.retention.daily, self.retention.weekly):
            box.valueChanged.connect(self.preview)
        self.preview()

    def policy(self) -> Retention:
        keep_last, daily, weekly = self.retention.values()
        return Retention(keep_last=keep_last, daily=daily, weekly=weekly)

    def preview(self) -> None:
        """Ask which sets the numbers would delete (a job; a question asked meanwhile is
        asked again when it ends)."""
        self.ok.setEnabled(False)
        self._shown = None
        if self._job is not None:
            self._again = True
            return
        self._again = False
        policy, numbers = self.policy(), self.retention.values()
        folder, key = self.folder, self.key
        job = self.runner.submit(self.tr("Preview prune"), lambda p, c: prune(
            folder, key, policy, dry_run=True), background=True)
        self._job = job
        job.succeeded.connect(lambda doomed: self._show(numbers, doomed))
        job.failed.connect(lambda error: self.summary.setText(describe(error)[0]))
        job.finished.connect(lambda: self._ended(job))

    def _ended(self, job: Job) -> None:
        if self._job is job:
            self._job = None
        if self._again:
            self.preview()

    def _show(self, numbers: tuple[int, int, int], doomed: list[BackupSet]) -> None:
        if numbers != self.retention.values():
            return  # changed meanwhile: asked again when this job ends
        self.doomed.clear()
        for backup in doomed:
            self.doomed.addItem(f"{backup.created.astimezone():%Y-%m-%d %H:%M}  {backup.kind}  "
                                f"{format_size(backup.size_bytes)}")
        self._shown = numbers
        if self.policy().keeps_everything:
            self.summary.setText(self.tr("Set a number to keep: with none, every set stays."))
        else:
            count = len(doomed)
            self.summary.setText((self.tr("%n set would be deleted.", "", count) if count == 1
                                  else self.tr("%n sets would be deleted.", "", count))
                                 + " " + self.tr("A set a kept incremental set depends on "
                                                 "always stays."))
        self.ok.setText(self.tr("Delete %n set", "", len(doomed)) if len(doomed) == 1
                        else self.tr("Delete %n sets", "", len(doomed)))
        self.ok.setEnabled(bool(doomed))
        self.previewed.emit()

    def _prune(self) -> None:
        if self._shown != self.retention.values():
            return
        policy, folder, key = self.policy(), self.folder, self.key
        self.runner.submit(self.tr("Prune backups"), lambda p, c: prune(folder, key, policy))
        self.accept()
