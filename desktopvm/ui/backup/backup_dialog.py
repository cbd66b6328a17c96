"""`BackUpDialog`: where to back a machine up, full or incremental, compressed or in the
hypervisor's own disk format, and a schedule."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktopvm.connections import kind_of
from desktopvm.model import Capabilities, DiskFormat
from desktopvm.model.own_formats import own_format_words, own_formats
from desktopvm.paths import state_root
from desktopvm.printable import printable
from desktopvm.protocol import MachineSummary
from desktopvm.protocol.states import LIVE, STOPPED
from desktopvm.schedule import Schedule
from desktopvm.schedule.runs import Run
from desktopvm.ui.backup.labels import plain_label
from desktopvm.ui.backup.run_notice import when
from desktopvm.ui.theme import error_colour

FOLDER_KEY = "backup_folder"  # the folder used last time, in window.ini
EVERY_WORDS = {"hourly": "Every hour", "daily": "Every day", "weekly": "Every week (Mondays)"}


def _store() -> QSettings:
    return QSettings(str(state_root() / "window.ini"), QSettings.Format.IniFormat)


def last_folder() -> str:
    """The backup folder chosen last time ('' the first time)."""
    value = _store().value(FOLDER_KEY)
    return value if isinstance(value, str) else ""


def remember_folder(folder: str) -> None:
    """Offer `folder` first next time."""
    store = _store()
    store.setValue(FOLDER_KEY, folder)
    store.sync()



def state_problem(machine: MachineSummary, caps: Capabilities | None) -> str:
    """Why this machine cannot be backed up in its state ('' when it can)."""
    if machine.state in STOPPED:
        return ""
    if machine.state in LIVE:
        if caps is not None and caps.backup_running:
            return ""
        return "This hypervisor cannot back up a running machine: shut it down first."
    return f"The machine is {machine.state.value}: wait until it has started or stopped."


class RetentionBox(QWidget):
    """Keep the last N / daily / weekly: three spin boxes (0 = no limit of that kind)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keep_last, self.daily, self.weekly = QSpinBox(), QSpinBox(), QSpinBox()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for box, name, text in ((self.keep_last, "keep-last", self.tr("last")),
                                (self.daily, "keep-daily", self.tr("daily")),
                                (self.weekly, "keep-weekly", self.tr("weekly"))):
            box.setRange(0, 999)
            box.setObjectName(name)
            box.setSpecialValueText(self.tr("–"))
            box.setAccessibleName(self.tr("Keep %1").replace("%1", text))
            row.addWidget(box)
            row.addWidget(QLabel(text))
        row.addStretch(1)

    def values(self) -> tuple[int, int, int]:
        """(keep_last, daily, weekly)."""
        return self.keep_last.value(), self.daily.value(), self.weekly.value()


class BackUpDialog(QDialog):
    """Asks where and how to back up one machine, and whether to do it on a schedule too.

    "Back up" stays off until a folder is given (its full path) and the machine's state allows
    it (a running machine only where the hypervisor captures running machines). The schedule
    is set by the operating system's scheduler (`schedule_system` names it; '' = none here).
    """

    def __init__(self, machine: MachineSummary, caps: Capabilities | None,
                 parent: QWidget | None = None, *, schedule_system: str = "",
                 folder: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("backup-dialog")
        self.machine = machine
        self.setWindowTitle(self.tr("Back up %1").replace("%1", printable(machine.name)))
        self.setMinimumWidth(520)
        self.folder = QLineEdit(folder or last_folder())
        self.folder.setObjectName("backup-folder")
        self.folder.setPlaceholderText(self.tr("A folder on a disk, USB drive or network share"))
        self.folder.setAccessibleName(self.tr("Backup folder"))
        browse = QPushButton(self.tr("Choose…"))
        browse.setObjectName("choose-folder")
        browse.clicked.connect(self._choose)
        where = QHBoxLayout()
        where.addWidget(self.folder, 1)
        where.addWidget(browse)
        self._kind_widgets(caps)
        running = machine.state in LIVE
        self.note = plain_label(self.tr(
            "The machine keeps running; the backup is what its disks held at one moment (as "
            "after a power cut).") if running else "", "running-note")
        self.note.setVisible(running)
        self.problem = plain_label(name="backup-problem")
        self.problem.setStyleSheet(f"color: {error_colour()};")
        self._state_problem = state_problem(machine, caps)
        self.schedule = self._schedule_box(schedule_system)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton(self.tr("Back up"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setObjectName("backup-ok")
        self.ok.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.tr("Folder:"), where)
        form.addRow(self.tr("Kind:"), self.incremental)
        form.addRow("", self.full)
        form.addRow("", self.compress)
        form.addRow("", self.own_format)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.schedule)
        layout.addLayout(self._scheduled_row())
        self.last_run = plain_label(name="last-run")  # filled by a job (the run log)
        self.last_run.setVisible(False)
        layout.addWidget(self.last_run)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.folder.textChanged.connect(self.check)
        self.schedule.toggled.connect(self._schedule_toggled)
        self.check()

    def _kind_widgets(self, caps: Capabilities | None) -> None:
        incremental_possible = caps is None or caps.backup_incremental
        self.incremental = QRadioButton(self.tr("Incremental: only what changed since the last "
                                                "backup in this folder"))
        self.incremental.setObjectName("incremental")
        self.full = QRadioButton(self.tr("Full: every disk block"))
        self.full.setObjectName("full")
        (self.incremental if incremental_possible else self.full).setChecked(True)
        self.incremental.setEnabled(incremental_possible)
        if not incremental_possible:
            self.incremental.setToolTip(self.tr("This hypervisor does not track changed "
                                                "blocks: every backup is full"))
        self.compress = QCheckBox(self.tr("Compress the disks (smaller, a little slower)"))
        self.compress.setObjectName("compress")
        self.compress.setChecked(True)
        # desktopvm.model.own_formats: a file each, to attach there as it is.
        kind = kind_of(self.machine.backend)
        self._own = own_formats(kind)[0]
        self.own_format = QCheckBox(self.tr("Keep the disks in the hypervisor's own format "
                                            "(%1): each backup full, attachable as it is")
                                    .replace("%1", own_format_words(kind)))
        self.own_format.setObjectName("own-format")
        self.own_format.toggled.connect(lambda on: self._own_format_toggled(on,
                                                                            incremental_possible))

    def _own_format_toggled(self, on: bool, incremental_possible: bool) -> None:
        """An own-format set is always full, and only qcow2 compresses."""
        if on:
            self.full.setChecked(True)
        self.incremental.setEnabled(incremental_possible and not on)
        self.compress.setEnabled(not on or self._own is DiskFormat.QCOW2)

    def _schedule_box(self, system: str) -> QGroupBox:
        box = QGroupBox(self.tr("Also back up on a schedule"))
        box.setObjectName("schedule-box")
        box.setCheckable(True)
        box.setChecked(False)
        self.every = QComboBox()
        self.every.setObjectName("every")
        for key, words in EVERY_WORDS.items():
            self.every.addItem(self.tr(words), key)
        self.every.setCurrentIndex(1)
        self.at = QTimeEdit(QTime(3, 0))
        self.at.setObjectName("at")
        self.at.setDisplayFormat("HH:mm")
        self.retention = RetentionBox()
        how = plain_label(self.tr("Runs while DesktopVM is closed, through the %1; a run missed "
                                  "while the computer was off happens when it is next on.")
                          .replace("%1", system) if system else
                          self.tr("This computer has no scheduler DesktopVM can use."),
                          "schedule-how")
        form = QFormLayout(box)
        form.addRow(self.tr("When:"), self.every)
        form.addRow(self.tr("At:"), self.at)
        form.addRow(self.tr("Keep:"), self.retention)
        form.addRow(how)
        box.setEnabled(bool(system))
        return box

    def _scheduled_row(self) -> QHBoxLayout:
        """What the operating system has scheduled for this machine now (filled by a job)."""
        self.scheduled = plain_label(name="scheduled-now")
        self.unschedule = QPushButton(self.tr("Stop scheduled backups"))
        self.unschedule.setObjectName("unschedule")
        row = QHBoxLayout()
        row.addWidget(self.scheduled, 1)
        row.addWidget(self.unschedule)
        self.show_scheduled(None)
        return row

    def show_scheduled(self, entry: Schedule | None) -> None:
        """Say what is scheduled for this machine (nothing: the row hides); a schedule found
        is what the schedule section starts from."""
        self.scheduled.setVisible(entry is not None)
        self.unschedule.setVisible(entry is not None)
        if entry is None:
            return
        keep = ", ".join(f"{label} {value}" for label, value in (
            (self.tr("last"), entry.keep_last), (self.tr("daily"), entry.daily),
            (self.tr("weekly"), entry.weekly)) if value) or self.tr("all")
        self.scheduled.setText(self.tr("Scheduled now: %1 into %2 (keep %3).")
                               .replace("%1", entry.when())
                               .replace("%2", printable(entry.destination)).replace("%3", keep))
        self.every.setCurrentIndex(max(0, self.every.findData(entry.every)))
        self.at.setTime(QTime(entry.hour, entry.minute))
        self.retention.keep_last.setValue(entry.keep_last)
        self.retention.daily.setValue(entry.daily)
        self.retention.weekly.setValue(entry.weekly)
        self.adjustSize()  # the row arrives after the dialog was shown: grow, not squeeze

    def show_last_run(self, run: object) -> None:
        """The machine's last backup run (from the app, the CLI or the scheduler), if any."""
        self.last_run.setVisible(isinstance(run, Run))
        if not isinstance(run, Run):
            return
        how = self.tr("scheduled") if run.scheduled else self.tr("by hand")
        outcome = (self.tr("%1") if run.ok else self.tr("failed: %1")).replace(
            "%1", printable(run.line))
        self.last_run.setText(self.tr("Last backup: %1, %2 — %3").replace("%1", when(run))
                              .replace("%2", how).replace("%3", outcome))
        self.last_run.setStyleSheet("" if run.ok else f"color: {error_colour()};")
        self.adjustSize()  # a line more, arriving after the dialog was shown: grow, not squeeze

    def _schedule_toggled(self, on: bool) -> None:
        self.ok.setText(self.tr("Back up and schedule") if on else self.tr("Back up"))

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.tr("Back up into"),
                                                  self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def chosen_folder(self) -> Path | None:
        """The folder typed or chosen, when it is a full path. Whether it exists is checked by
        the backup's job (a stat of a network share may hang: never on the GUI thread)."""
        text = self.folder.text().strip()
        path = Path(text).expanduser() if text else None
        return path if path is not None and path.is_absolute() else None

    def check(self) -> None:
        """OK only with a full folder path and a machine whose state allows a backup."""
        text = self.folder.text().strip()
        problem = self._state_problem
        if not problem and text and self.chosen_folder() is None:
            problem = self.tr("Give the folder's full path (or choose it)")
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.ok.setEnabled(not problem and bool(text))

    def every_value(self) -> str:
        return str(self.every.currentData())

    def at_value(self) -> str:
        return self.at.time().toString("HH:mm")
