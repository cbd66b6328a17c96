"""The details pane: hardware summary, editable notes, snapshot tree, live preview."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopvm.printable import printable, printable_lines
from desktopvm.protocol import MachineInfo, Snapshot
from desktopvm.ui.hardware_words import Row, hardware_rows
from desktopvm.ui.icons import icon
from desktopvm.ui.inventory_model import STATE_TEXT
from desktopvm.ui.pane_widgets import ElidedLabel, PreviewLabel, ValueLabel
from desktopvm.ui.theme import error_colour

SnapshotIdRole = Qt.ItemDataRole.UserRole + 1
NARROW_PANE = 460  # pixels: below it the preview sits above the hardware list, not beside it


class DetailsPane(QTabWidget):
    """Shows one machine. Edits are requested through signals; the window runs the jobs.

    Signals:
        notes_saved(str)            -- new notes text
        snapshot_requested()        -- take one
        restore_requested(str)      -- snapshot id
        delete_snapshot_requested(str)
        preview_wanted()            -- an active machine is shown with no screenshot yet
    """

    notes_saved = Signal(str)
    snapshot_requested = Signal()
    restore_requested = Signal(str)
    delete_snapshot_requested = Signal(str)
    preview_wanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("details")
        self.info: MachineInfo | None = None
        self._summary = QWidget()
        self.title = ElidedLabel()
        self.title.setObjectName("details-title")
        self.title.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.preview = PreviewLabel()
        self.preview.setObjectName("preview")
        self.preview.setStyleSheet("background: #111827; color: #9ca3af; border-radius: 6px;")
        self.hardware = QFormLayout()
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("notes")
        self.notes.setAccessibleName(self.tr("Notes"))
        self.notes.setPlaceholderText(self.tr("Notes about this machine"))
        self.notes.setMaximumHeight(110)
        self.save_notes = QPushButton(self.tr("Save notes"))
        self.save_notes.setObjectName("save-notes")
        self.save_notes.setEnabled(False)
        self.notes.textChanged.connect(self._notes_edited)
        self.save_notes.clicked.connect(lambda: self.notes_saved.emit(self.notes.toPlainText()))
        # The hardware list sits beside the preview, so a running machine's pane has no blank
        # block under a two-line heading; the preview shrinks before the list scrolls.
        self._body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self._body.addLayout(self.hardware, 3)
        self._body.addWidget(self.preview, 2, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self._summary)
        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addLayout(self._body)
        layout.addWidget(QLabel(self.tr("Notes")))
        layout.addWidget(self.notes)
        notes_row = QHBoxLayout()
        notes_row.addStretch(1)
        notes_row.addWidget(self.save_notes)
        layout.addLayout(notes_row)
        layout.addStretch(1)
        # Scrolls rather than holding the window taller than a 768-pixel screen.
        scroller = QScrollArea()
        scroller.setObjectName("summary-scroller")
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        # Everything in the summary wraps, elides or shrinks: sideways scrolling is a layout bug.
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setWidget(self._summary)
        self.addTab(scroller, self.tr("Summary"))
        self.addTab(self._snapshots_tab(), self.tr("Snapshots"))
        self.show_nothing()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Too narrow for a readable list beside even the smallest preview: the preview goes on
        # top of the list instead (the pane never scrolls sideways).
        narrow = event.size().width() < NARROW_PANE
        self._body.setDirection(QBoxLayout.Direction.TopToBottom if narrow
                                else QBoxLayout.Direction.LeftToRight)

    def _snapshots_tab(self) -> QWidget:
        tab = QWidget()
        self.snapshot_tree = QTreeWidget()
        self.snapshot_tree.setObjectName("snapshot-tree")
        self.snapshot_tree.setAccessibleName(self.tr("Snapshots"))
        self.snapshot_tree.setHeaderLabels([self.tr("Snapshot"), self.tr("Taken"),
                                            self.tr("Description")])
        self.snapshot_tree.setColumnWidth(0, 240)
        self.snapshot_tree.setColumnWidth(1, 130)
        self.take_button = QPushButton(icon("snapshot"), self.tr("Take…"))
        self.restore_button = QPushButton(icon("restore"), self.tr("Restore…"))
        self.delete_button = QPushButton(icon("delete"), self.tr("Delete…"))
        self.take_button.clicked.connect(self.snapshot_requested)
        self.restore_button.clicked.connect(
            lambda: self._emit_selected(self.restore_requested))
        self.delete_button.clicked.connect(
            lambda: self._emit_selected(self.delete_snapshot_requested))
        self.snapshot_tree.itemSelectionChanged.connect(self._snapshot_buttons)
        buttons = QHBoxLayout()
        for button in (self.take_button, self.restore_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(tab)
        layout.addWidget(self.snapshot_tree)
        layout.addLayout(buttons)
        return tab

    def _emit_selected(self, signal: SignalInstance) -> None:
        items = self.snapshot_tree.selectedItems()
        if items:
            signal.emit(items[0].data(0, SnapshotIdRole))

    def _snapshot_buttons(self) -> None:
        chosen = bool(self.snapshot_tree.selectedItems())
        self.restore_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def _notes_edited(self) -> None:
        self.save_notes.setEnabled(self.info is not None
                                   and self.notes.toPlainText() != self.info.spec.notes)

    def show_nothing(self, text: str = "") -> None:
        """No machine selected."""
        self.info = None
        self.title.setText(text or self.tr("No machine selected"))
        self.state.clear()
        self.state.setToolTip("")
        self._fill_hardware([])
        self.notes.blockSignals(True)
        self.notes.clear()
        self.notes.blockSignals(False)
        self.notes.setEnabled(False)
        self.save_notes.setEnabled(False)
        self.snapshot_tree.clear()
        self.take_button.setEnabled(False)
        self._snapshot_buttons()
        self.preview.clear()
        self.preview.hide()  # nothing to preview: no empty dark box

    def show_machine(self, info: MachineInfo, where: str = "",
                     missing: frozenset[str] = frozenset(), first_boot: str = "") -> None:
        """Fill the pane from a freshly read machine (keeps unsaved notes of the same one).
        `where` names its hypervisor and host: 'Hyper-V on hv01.lab.example'; `missing` the
        ISO paths the details job found gone; `first_boot` what its next start boots once
        instead of its disks (details_reader.py)."""
        same = self.info is not None and self.info.summary.key == info.summary.key
        editing = same and self.save_notes.isEnabled()
        self.info = info
        self.title.setText(printable(info.summary.name))
        place = where or f"{info.summary.backend} on {info.summary.host}"
        self.state.setText(f"{self.tr(STATE_TEXT[info.state])} · {place}")
        self.state.setToolTip(self.tr("The hypervisor's messages about this machine: %1")
                              .replace("%1", info.log) if info.log else "")
        rows = hardware_rows(info.spec, missing)
        if first_boot:  # after the firmware: it is what the machine boots
            rows.insert(2, Row("First boot", first_boot, "The next start boots this once; "
                               "the disks from then on (taken out once the machine is seen "
                               "off after it)"))
        self._fill_hardware(rows)
        if not editing:
            self.notes.blockSignals(True)
            self.notes.setPlainText(info.spec.notes)
            self.notes.blockSignals(False)
        self.notes.setEnabled(True)
        self._notes_edited()
        self._fill_snapshots(info.snapshots, info.current_snapshot)
        self.take_button.setEnabled(True)
        # Only a running (or paused) machine has a screen to show; no empty box otherwise.
        self.preview.setVisible(info.state.is_active)
        if not info.state.is_active or not same:
            self.preview.clear()  # another machine's screen is not this one's
        if info.state.is_active and not self.preview.has_shot():
            self.preview_wanted.emit()  # now, not on the next tick of the preview timer

    def show_preview(self, png: bytes, key: tuple[str, str, str] | None = None) -> None:
        """A fresh screenshot for the thumbnail; one taken of `key` is dropped when another
        machine (or none) is shown by the time it arrives."""
        if key is not None and (self.info is None or self.info.summary.key != key):
            return
        pixmap = QPixmap()
        if pixmap.loadFromData(png, "PNG"):
            self.preview.show_shot(pixmap)

    def _fill_hardware(self, rows: list[Row]) -> None:
        while self.hardware.rowCount():
            self.hardware.removeRow(0)
        for label, value, tooltip, problem in rows:
            text = ValueLabel(value)
            text.setToolTip(tooltip)
            if problem:
                text.setObjectName("hardware-problem")
                text.setStyleSheet(f"color: {error_colour()};")
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.hardware.addRow(self.tr(label) + ":", text)

    def _fill_snapshots(self, roots: tuple[Snapshot, ...], current: str) -> None:
        selected = [i.data(0, SnapshotIdRole) for i in self.snapshot_tree.selectedItems()]
        self.snapshot_tree.clear()

        def add(parent: QTreeWidget | QTreeWidgetItem, snapshot: Snapshot) -> None:
            marks = " ●" if snapshot.id == current else ""
            taken = snapshot.created.replace("T", " ")[:16]  # to the minute
            item = QTreeWidgetItem([printable(snapshot.name) + marks, taken,
                                    printable(snapshot.description)])
            item.setToolTip(2, printable_lines(snapshot.description))
            item.setData(0, SnapshotIdRole, snapshot.id)
            item.setIcon(0, icon("snapshot"))
            if snapshot.id == current:
                item.setToolTip(0, self.tr("The current state derives from this snapshot"))
            if isinstance(parent, QTreeWidget):
                parent.addTopLevelItem(item)
            else:
                parent.addChild(item)
            item.setSelected(snapshot.id in selected)
            for child in snapshot.children:
                add(item, child)

        for root in roots:
            add(self.snapshot_tree, root)
        self.snapshot_tree.expandAll()
        self._snapshot_buttons()
