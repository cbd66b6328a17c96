"""The jobs panel: every operation with its progress, stage and outcome, and Cancel.

Only a running job shows a progress bar; a finished one says what it did (its last stage); a
failed one shows its reason in red. A job that succeeded or was cancelled leaves the list by
itself after FINISHED_LINGER_MS; a failed one stays until Clear finished, as does one that
left files for the user (a Delete that kept disks): its line starts with a "Show files" link.
The window hides the panel while it is empty, so it folds away when nothing is left to see.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktopvm.jobs import Job, JobRunner, JobState
from desktopvm.ui.error_dialog import describe, show_error
from desktopvm.ui.icons import icon
from desktopvm.ui.theme import error_colour, is_dark

if TYPE_CHECKING:
    from PySide6.QtGui import QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

AnyIndex = QModelIndex | QPersistentModelIndex
COLUMNS = ("Operation", "Status", "Progress", "Details")
OPERATION, STATUS, PROGRESS, DETAILS = range(4)
STATUS_TEXT = {JobState.QUEUED: "Waiting", JobState.RUNNING: "Running",
               JobState.SUCCEEDED: "Done", JobState.FAILED: "Failed",
               JobState.CANCELLED: "Cancelled"}
MAX_FINISHED = 200  # keep the panel bounded in a long session
# Long enough to read what a job did; short enough that the panel folds when all went well.
FINISHED_LINGER_MS = 8000
StateRole = Qt.ItemDataRole.UserRole + 1
FAILED_COLOUR = QColor("#b00020")


class JobsModel(QAbstractTableModel):
    """One row per job, newest last."""

    def __init__(self, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._leaving: set[Job] = set()  # ended well: removed when their time is up
        self.folders: dict[Job, str] = {}  # job -> a local folder its success leaves files in
        self.linger_ms = FINISHED_LINGER_MS
        runner.job_added.connect(self._add)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def job(self, row: int) -> Job:
        """The job in `row`."""
        return self._jobs[row]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self._jobs[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == OPERATION:
                return job.title
            if column == STATUS:
                return self.tr(STATUS_TEXT[job.state])
            if column == PROGRESS:
                return None if job.fraction is None else int(job.fraction * 100)
            if job.error is not None:
                return describe(job.error)[0]
            if job.state is JobState.SUCCEEDED and not job.stage:
                return self.tr("Done")
            if self.has_link(job):
                return ""  # the panel's link label shows the line (no text painted under it)
            return job.stage
        if role == StateRole:
            return job.state
        if role == Qt.ItemDataRole.ForegroundRole and job.state is JobState.FAILED and \
                column in (STATUS, DETAILS):
            return QBrush(QColor(error_colour()) if is_dark() else FAILED_COLOUR)
        if role == Qt.ItemDataRole.DecorationRole and column == STATUS:
            return {JobState.FAILED: icon("error"), JobState.CANCELLED: icon("cancel"),
                    JobState.RUNNING: icon("state-busy")}.get(job.state)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(job, column)
        return None

    def _tooltip(self, job: Job, column: int) -> str | None:
        if job.error is not None:
            summary, details = describe(job.error)
            return f"{summary}\n\n{details}" if details else summary
        return job.stage if column == DETAILS and self.has_link(job) else None

    def row_of(self, job: Job) -> int:
        """The row showing `job` (-1 once it has left the list)."""
        return self._jobs.index(job) if job in self._jobs else -1

    def has_link(self, job: Job) -> bool:
        """Whether `job` succeeded leaving files in a folder the panel offers to show."""
        return job.state is JobState.SUCCEEDED and job in self.folders

    def _forget(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        self.folders.pop(self._jobs.pop(row), None)
        self.endRemoveRows()

    def _add(self, job: Job) -> None:
        if job.background:
            return
        if len(self._jobs) >= MAX_FINISHED:
            done = next((i for i, j in enumerate(self._jobs) if j.state.is_done), None)
            if done is not None:
                self._forget(done)
        row = len(self._jobs)
        self.beginInsertRows(QModelIndex(), row, row)
        self._jobs.append(job)
        self.endInsertRows()
        job.changed.connect(lambda: self._changed(job))

    def clear_finished(self) -> None:
        """Remove the jobs that have ended."""
        for row in reversed(range(len(self._jobs))):
            if self._jobs[row].state.is_done:
                self._forget(row)

    def _changed(self, job: Job) -> None:
        if job in self._jobs:
            row = self._jobs.index(job)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            if job.state in (JobState.SUCCEEDED, JobState.CANCELLED) and \
                    job not in self._leaving and not self.has_link(job):
                self._leaving.add(job)
                # `self` as context: no call after the model is gone.
                QTimer.singleShot(self.linger_ms, self, lambda: self._expire(job))

    def _expire(self, job: Job) -> None:
        """A job that ended well has been seen long enough: it leaves the list."""
        self._leaving.discard(job)
        if job in self._jobs:
            self._forget(self._jobs.index(job))


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a progress bar (no per-row widgets)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        # Imported at the first job, not at start-up: QStyle and its options bring some
        # twenty Python enums that PySide builds when the names are imported.
        from PySide6.QtWidgets import QStyle, QStyleOptionProgressBar

        if JobState(index.data(StateRole)) is not JobState.RUNNING:  # Qt hands back the str
            return  # waiting or ended: no bar (the status and details say how it went)
        value = index.data(Qt.ItemDataRole.DisplayRole)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 100 if value is not None else 0
        bar.progress = value or 0
        bar.textVisible = value is not None
        bar.text = f"{value}%" if value is not None else ""
        style = QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class JobsPanel(QWidget):
    """The jobs list with Cancel and Details buttons."""

    def sizeHint(self) -> QSize:
        """A few rows high: the machine list keeps most of the window."""
        return QSize(600, 150)

    emptied = Signal()
    populated = Signal()

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.model = JobsModel(runner, self)
        self.view = QTableView()
        self.view.setObjectName("jobs-view")
        self.view.setAccessibleName(self.tr("Operations"))
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self.view))
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(OPERATION, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(OPERATION, 260)
        header.resizeSection(STATUS, 110)
        header.resizeSection(PROGRESS, 160)
        header.setStretchLastSection(True)
        self.cancel_button = QPushButton(icon("cancel"), self.tr("Cancel"))
        self.cancel_button.setObjectName("cancel-job")
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.details_button = QPushButton(self.tr("Error details…"))
        self.details_button.clicked.connect(self._show_selected_error)
        self.clear_button = QPushButton(self.tr("Clear finished"))
        self.clear_button.setObjectName("clear-jobs")
        self.clear_button.clicked.connect(self.model.clear_finished)
        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.details_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.dataChanged.connect(self._update_buttons)
        self.model.rowsInserted.connect(self._job_listed)
        self.model.rowsRemoved.connect(self._job_unlisted)
        self._update_buttons()

    def offer_folder(self, job: Job, folder: str) -> None:
        """Once `job` succeeds, its line starts with a "Show files" link opening `folder` (on
        this computer) and stays until Clear finished: the files it left are found again."""
        self.model.folders[job] = folder
        job.succeeded.connect(lambda _result: self._link(job))

    def _link(self, job: Job) -> None:
        row = self.model.row_of(job)
        if row < 0:
            return  # cleared meanwhile
        index = self.model.index(row, DETAILS)
        label = QLabel(f'<a href="show-files">{html.escape(self.tr("Show files"))}</a> · '
                       f"{html.escape(job.stage)}")
        label.setObjectName("show-files-link")
        label.setTextFormat(Qt.TextFormat.RichText)  # the stage is escaped above
        label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                      | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        label.setToolTip(job.stage)
        label.setContentsMargins(4, 0, 4, 0)
        label.linkActivated.connect(lambda _link: self.show_folder(self.model.folders[job]))
        self.view.setIndexWidget(index, label)

    def show_folder(self, folder: str) -> Job:
        """Open `folder` in the file manager once a worker has seen it is there (a folder on a
        share can take seconds to answer); say so if it is gone."""
        job = self.runner.submit(self.tr("Look at %1").replace("%1", folder),
                                 lambda _p, _c: Path(folder).is_dir(), background=True)
        job.succeeded.connect(lambda there: self._open_folder(folder, bool(there)))
        return job

    def _open_folder(self, folder: str, there: bool) -> None:
        if not there:
            show_error(self, self.tr("Show files"), self.tr(
                "The folder %1 is no longer there: its files were moved or deleted.")
                .replace("%1", folder))
            return
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def _job_listed(self, parent: QModelIndex, first: int, last: int) -> None:
        """A new job: scroll it into view (newest last)."""
        self.view.scrollTo(self.model.index(last, OPERATION))
        self._update_buttons()
        self.populated.emit()

    def _job_unlisted(self) -> None:
        self._update_buttons()
        if self.model.rowCount() == 0:
            self.emptied.emit()

    def _selected(self) -> Job | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.job(rows[0].row()) if rows else None

    def _update_buttons(self) -> None:
        job = self._selected()
        self.cancel_button.setEnabled(job is not None and not job.state.is_done)
        self.details_button.setEnabled(job is not None and job.state is JobState.FAILED)
        self.clear_button.setEnabled(any(self.model.job(row).state.is_done
                                         for row in range(self.model.rowCount())))

    def _cancel_selected(self) -> None:
        job = self._selected()
        if job is not None:
            job.cancel()

    def _show_selected_error(self) -> None:
        job = self._selected()
        if job is not None and job.error is not None:
            show_error(self, job.title, job.error)
