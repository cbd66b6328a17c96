"""`InventoryView`: the machine list's tree view — columns, gestures, selection after removal."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QMenu, QTreeView, QWidget

from desktopvm.ui.inventory_model import BACKEND, COLUMNS, HOST, NAME

WIDTHS = (220, 100, 90, 90, 150, 50, 90)


class InventoryView(QTreeView):
    """The tree of groups (backend · host) and machines.

    Backend and Host start hidden (the group row names them); the header's context menu shows
    any column. When selected machines leave the list (deleted), the one that takes their place
    is selected, as file managers do.

    Signals:
        machine_activated()  -- double-click or Enter on the current machine
    """

    machine_activated = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reselect: tuple[QPersistentModelIndex, int] | None = None
        self.setObjectName("inventory")
        self.setAccessibleName(self.tr("Virtual machines"))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setUniformRowHeights(True)  # no per-row size queries with 10,000 machines
        self.setAlternatingRowColors(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setMinimumWidth(260)
        self.doubleClicked.connect(self._activated)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        if model is None:
            return
        self.setSortingEnabled(True)
        self.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        header = self.header()
        for column, width in enumerate(WIDTHS):
            header.resizeSection(column, width)
        header.setSectionHidden(BACKEND, True)
        header.setSectionHidden(HOST, True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._columns_menu)
        model.rowsRemoved.connect(self._rows_left)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter or Return on a machine activates it (not the platform's "activated", which
        some desktops send on a single click)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                self.state() is not QAbstractItemView.State.EditingState:
            self._activated(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid() and index.parent().isValid():  # a machine, not a group row
            self.machine_activated.emit()

    def _columns_menu(self, position: QPoint) -> None:
        header = self.header()
        menu = QMenu(self)
        menu.setObjectName("columns-menu")
        for column, title in enumerate(COLUMNS):
            if column == NAME:
                continue
            action = menu.addAction(self.tr(title))
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.toggled.connect(lambda shown, c=column: header.setSectionHidden(c, not shown))
        menu.popup(header.mapToGlobal(position))

    def rowsAboutToBeRemoved(self, parent: QModelIndex | QPersistentModelIndex, first: int,
                             last: int) -> None:
        """Called before the selection model forgets the rows (it is connected later)."""
        selection = self.selectionModel()
        if parent.isValid() and any(selection.isSelected(self.model().index(row, NAME, parent))
                                    for row in range(first, last + 1)):
            self._reselect = (QPersistentModelIndex(parent), first)
        super().rowsAboutToBeRemoved(parent, first, last)

    def _rows_left(self) -> None:
        if self._reselect is None:
            return
        parent_ref, row = self._reselect
        self._reselect = None
        model = self.model()
        if not parent_ref.isValid() or self.selectionModel().selectedRows():
            return
        parent = model.index(parent_ref.row(), 0)  # groups are top-level rows
        count = model.rowCount(parent)
        if count:
            self.setCurrentIndex(model.index(min(row, count - 1), 0, parent))
