"""`BackupsWindow`: the backup sets in a folder — list, verify, restore, delete, prune.

Every read of the folder and every check runs as a job: a folder on a network share may be
slow or gone, and the window must not freeze meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopvm.backup import BackupSet, list_backups, verify
from desktopvm.jobs import Job, JobRunner
from desktopvm.printable import printable
from desktopvm.ui.backup.backup_dialog import last_folder
from desktopvm.ui.dialogs import confirm
from desktopvm.ui.error_dialog import describe
from desktopvm.ui.theme import error_colour
from desktopvm.units import format_size

COLUMNS = ("Machine", "Time", "Kind", "Size", "Source", "Was", "Problem")
SetRole = Qt.ItemDataRole.UserRole + 1


def dependants(sets: list[BackupSet], backup: BackupSet) -> list[BackupSet]:
    """The sets that need `backup` (incrementals built on it)."""
    return [s for s in sets if s.parent == backup.id and s.machine_key == backup.machine_key
            and s.path.parent == backup.path.parent]


class BackupsWindow(QDialog):
    """Lists the sets of a folder (of one machine when `machine_key` is given).

    `restore_requested(BackupSet)` asks the app to open the restore dialog for a set.
    """

    restore_requested = Signal(object)
    listed = Signal()  # a listing was shown (tests and the screenshots wait for it)

    def __init__(self, runner: JobRunner, parent: QWidget | None = None, *, folder: str = "",
                 machine_key: str = "", remove_set: Callable[[Path], None] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backups-window")
        self.setWindowTitle(self.tr("Backups"))
        self.resize(880, 460)
        self.runner = runner
        self.machine_key = machine_key
        self.sets: list[BackupSet] = []
        self._remove_set = remove_set or _remove_set
        self._list_job: Job | None = None
        top = self._top(folder)
        self.table = QTreeWidget()
        self.table.setObjectName("backups-table")
        self.table.setRootIsDecorated(False)
        self.table.setHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.status = QLabel()
        self.status.setObjectName("backups-status")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.verify_button = self._button(self.tr("Verify"), "verify-set", self.verify_selected)
        self.restore_button = self._button(self.tr("Restore…"), "restore-set",
                                           self._restore_selected)
        self.delete_button = self._button(self.tr("Delete…"), "delete-set", self.delete_selected)
        self.prune_button = self._button(self.tr("Prune…"), "prune-sets", self.prune)
        buttons = QHBoxLayout()
        for button in (self.verify_button, self.restore_button, self.delete_button,
                       self.prune_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QPushButton(self.tr("Close"))
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._update_buttons()
        if self.folder.text():
            self.reload()

    def _top(self, folder: str) -> QHBoxLayout:
        self.folder = QLineEdit(folder or last_folder())
        self.folder.setObjectName("backups-folder")
        self.folder.setAccessibleName(self.tr("Backup folder"))
        self.folder.returnPressed.connect(self.reload)
        choose = QPushButton(self.tr("Choose…"))
        choose.clicked.connect(self._choose)
        self.machines = QComboBox()
        self.machines.setObjectName("backups-machine")
        self.machines.setAccessibleName(self.tr("Machine"))
        self.machines.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.machines.currentIndexChanged.connect(self._fill)
        reload = QPushButton(self.tr("Refresh"))
        reload.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Folder:")))
        top.addWidget(self.folder, 1)
        top.addWidget(choose)
        top.addWidget(self.machines)
        top.addWidget(reload)
        return top

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.tr("Backup folder"),
                                                  self.folder.text())
        if chosen:
            self.folder.setText(chosen)
            self.reload()

    # -- listing --------------------------------------------------------------------------
    def reload(self) -> Job | None:
        """List the folder's sets in a job (one at a time)."""
        text = self.folder.text().strip()
        if not text or self._list_job is not None:
            return None
        folder = Path(text).expanduser()
        self.status.setText(self.tr("Reading %1…").replace("%1", printable(str(folder))))
        job = self.runner.submit(self.tr("List backups"), lambda p, c: _listing(folder),
                                 background=True)
        self._list_job = job
        job.succeeded.connect(self._show)
        job.failed.connect(lambda error: self.status.setText(describe(error)[0]))
        job.finished.connect(lambda: setattr(self, "_list_job", None))
        return job

    def _show(self, sets: object) -> None:
        assert isinstance(sets, list)
        self.sets = [s for s in sets if not self.machine_key or s.machine_key == self.machine_key]
        current = self.machines.currentData()
        self.machines.blockSignals(True)
        self.machines.clear()
        self.machines.addItem(self.tr("All machines"), "")
        seen: dict[str, str] = {}
        for backup in self.sets:
            seen.setdefault(backup.machine_key, backup.machine_name)
        for key, name in sorted(seen.items(), key=lambda item: item[1].lower()):
            self.machines.addItem(printable(name), key)
        index = self.machines.findData(current)
        self.machines.setCurrentIndex(max(0, index))
        self.machines.blockSignals(False)
        self._fill()
        damaged = sum(1 for s in self.sets if s.problem)
        count = len(self.sets)
        self.status.setText((self.tr("%n set", "", count) if count == 1
                             else self.tr("%n sets", "", count))
                            + (self.tr("; %1 damaged").replace("%1", str(damaged))
                               if damaged else ""))
        self.listed.emit()

    def _fill(self) -> None:
        key = self.machines.currentData()
        self.table.clear()
        red = QBrush(QColor(error_colour()))
        for backup in self.sets:
            if key and backup.machine_key != key:
                continue
            item = QTreeWidgetItem([
                printable(backup.machine_name),
                backup.created.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                self.tr("incremental") if backup.kind == "incremental" else self.tr(backup.kind),
                format_size(backup.size_bytes) if not backup.problem else "–",
                printable(backup.source) or "–",
                self.tr("running") if backup.was_running else self.tr("off"),
                printable(backup.problem)])
            item.setData(0, SetRole, backup)
            item.setToolTip(0, printable(str(backup.path)))
            if backup.problem:
                item.setForeground(6, red)
                item.setToolTip(6, printable(backup.problem))
            self.table.addTopLevelItem(item)
        self._update_buttons()

    def selected(self) -> BackupSet | None:
        """The set of the selected row."""
        items = self.table.selectedItems()
        return items[0].data(0, SetRole) if items else None

    def select(self, set_id: str) -> None:
        """Select the row of a set (tests, and after a restore)."""
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            if item is not None and item.data(0, SetRole).id == set_id:
                self.table.setCurrentItem(item)

    def _update_buttons(self) -> None:
        backup = self.selected()
        sound = backup is not None and not backup.problem
        self.verify_button.setEnabled(backup is not None)
        self.restore_button.setEnabled(sound)
        needed = dependants(self.sets, backup) if backup is not None else []
        self.delete_button.setEnabled(backup is not None and not needed)
        self.delete_button.setToolTip(
            self.tr("%1 depends on it: delete that first, or let Prune decide").replace(
                "%1", needed[0].id) if needed else "")
        self.prune_button.setEnabled(bool(self.sets))

    # -- actions ------------------------------------------------------------------------------
    def verify_selected(self) -> Job | None:
        """Verify the selected set (and those it depends on) in a job."""
        backup = self.selected()
        if backup is None:
            return None
        self.status.setText(self.tr("Verifying %1…").replace("%1", backup.id))
        job = self.runner.submit(self.tr("Verify backup %1").replace("%1", backup.id),
                                 lambda p, c: verify(backup.path, progress=p, cancel=c))
        job.succeeded.connect(lambda _: self.status.setText(
            self.tr("%1: verified — digests, descriptor and disks are sound").replace(
                "%1", backup.id)))
        job.failed.connect(lambda error: self.status.setText(describe(error)[0]))
        return job

    def _restore_selected(self) -> None:
        backup = self.selected()
        if backup is not None and not backup.problem:
            self.restore_requested.emit(backup)

    def delete_selected(self) -> None:
        """Ask, then delete the selected set — only one no other set depends on."""
        backup = self.selected()
        if backup is None or dependants(self.sets, backup):
            return
        confirm(self, self.tr("Delete backup"),
                self.tr("Delete the %1 backup of %2 made %3? Its files are removed; this cannot "
                        "be undone.").replace("%1", backup.kind).replace(
                            "%2", printable(backup.machine_name)).replace(
                            "%3", backup.created.astimezone().strftime("%Y-%m-%d %H:%M")),
                self.tr("Delete"), lambda: self._delete(backup))

    def _delete(self, backup: BackupSet) -> Job:
        remove = self._remove_set
        job = self.runner.submit(self.tr("Delete backup %1").replace("%1", backup.id),
                                 lambda p, c: remove(backup.path))
        job.failed.connect(lambda error: self.status.setText(describe(error)[0]))
        job.finished.connect(self.reload)
        return job

    def prune(self) -> None:
        """Open the prune dialog for the machine shown (or the selected set's)."""
        from desktopvm.ui.backup.prune_dialog import PruneDialog

        selected = self.selected()
        key = self.machines.currentData() or (selected.machine_key if selected else "")
        keys = {s.machine_key for s in self.sets}
        if not key and len(keys) == 1:
            key = next(iter(keys))
        if not key:
            self.status.setText(self.tr("Choose a machine to prune its sets"))
            return
        name = next(s.machine_name for s in self.sets if s.machine_key == key)
        dialog = PruneDialog(self.runner, Path(self.folder.text()).expanduser(), key, name, self)
        dialog.finished.connect(lambda _: self.reload())
        dialog.open()


def _listing(folder: Path) -> list[BackupSet]:
    """In a job: the folder's sets (an error in words when it is not there)."""
    from desktopvm.protocol import BackendError

    if not folder.is_dir():
        raise BackendError(f"{folder} is not a folder that exists (is the drive connected?)")
    return list_backups(folder)


def _remove_set(path: Path) -> None:
    """In a job: delete one set's folder (the backup package's own remover)."""
    from desktopvm.backup.publish import remove_set

    remove_set(path)
