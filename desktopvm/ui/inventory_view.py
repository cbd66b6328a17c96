"""`InventoryView`: the machine list's tree view — columns, gestures, selection after removal,
hosts dragged into another order, places (datacenter › cluster › host) unfolded as the user
left them — and `MachineFilter`, its search and sorting proxy."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import (
    QAbstractItemModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QMenu, QTreeView, QWidget

from desktopvm.ui.inventory_model import (
    BACKEND,
    COLUMNS,
    HOST,
    NAME,
    AnyIndex,
    ConnectionRole,
    InventoryModel,
    KindRole,
    MachineRole,
    PlaceRole,
    SortRole,
)

WIDTHS = (220, 100, 90, 90, 150, 50, 90)


class MachineFilter(QSortFilterProxyModel):
    """Filters machines by the search text; a group or place stays while any of its machines
    match, and a place whose name matches shows all its machines ("esx-3" lists that host's).

    Groups keep their own order (local backends, then the hosts in the settings' order)
    whatever column sorts the machines, and a host's error line stays its first row; it is
    shown while searching too, since that host's machines could not be searched. Places stay
    ahead of the machines beside them.

    Signals:
        searched(str)  -- the search text changed (after the rows were filtered)
    """

    searched = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""  # casefolded
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortRole(SortRole)
        self.setFilterKeyColumn(NAME)

    @property
    def searching(self) -> bool:
        return bool(self._text)

    def search(self, text: str) -> None:
        """Filter by `text`. Recursive filtering (which re-checks a group whenever one of its
        machines changes) is on only while there is something to search for."""
        self._text = text.casefold()
        self.setRecursiveFilteringEnabled(bool(text))
        self.setFilterFixedString(text)
        self.searched.emit(text)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if not self._text:
            return True
        index = self.sourceModel().index(source_row, NAME, source_parent)
        kind = index.data(KindRole) if source_parent.isValid() else ""
        if kind == "note":
            return True
        if kind == "place":  # its name, not its count
            return self._text in str(index.data(PlaceRole)[-1]).casefold()
        if super().filterAcceptsRow(source_row, source_parent):
            return True
        parent = source_parent
        while kind == "machine" and parent.isValid() and parent.data(KindRole) == "place":
            if self._text in str(parent.data(PlaceRole)[-1]).casefold():
                return True
            parent = parent.parent()
        return False

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the machines; the model's sort keys keep the groups and notes in place. (Not
        a Python lessThan: that would be called some 60,000 times to sort 10,000 rows.)"""
        source = self.sourceModel()
        if isinstance(source, InventoryModel) and shiboken6.isValid(source):  # not while the
            source.set_sort_order(order is Qt.SortOrder.DescendingOrder)  # window is torn down
        super().sort(column, order)


class InventoryView(QTreeView):
    """The tree of groups (backend · host) and machines.

    Backend and Host start hidden (the group row names them); the header's context menu shows
    any column. When selected machines leave the list (deleted), the one that takes their place
    is selected, as file managers do.

    A host's node can be dragged onto another host's to take its place; the window saves the
    new order (the model is not changed by the drop itself). A host's error line spans the
    columns.

    Signals:
        machine_activated()  -- double-click or Enter on the current machine
        host_dropped(str, str)  -- a host's connection id was dropped onto another host's
    """

    machine_activated = Signal()
    host_dropped = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reselect: tuple[QPersistentModelIndex, int] | None = None
        # Selected machines that left one place for another (a vCenter moved them): selected
        # again where they arrive, the current one current again.
        self._following: set[tuple[str, str, str]] = set()
        self._following_current: tuple[str, str, str] | None = None
        # The places the user folded, by (connection, *location), kept while they come and
        # go (a refresh, a search); a new place starts unfolded.
        self.folded_places: set[tuple[str, ...]] = set()
        self._unfolding = False  # expanding by program: not the user's choice
        self._seen_places: set[tuple[str, ...]] = set()
        self._widest = 0  # the width the new places' names want in the Name column
        self.setObjectName("inventory")
        self.setAccessibleName(self.tr("Virtual machines"))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setUniformRowHeights(True)  # no per-row size queries with 10,000 machines
        self.setAlternatingRowColors(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setMinimumWidth(260)
        self.setDragEnabled(True)  # only hosts' nodes are draggable (the model's flags)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDropIndicatorShown(True)
        self.doubleClicked.connect(self._activated)
        self.collapsed.connect(lambda index: self._place_folded(index, True))
        self.expanded.connect(lambda index: self._place_folded(index, False))

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
        model.rowsInserted.connect(self._span_notes)
        model.layoutChanged.connect(self._span_all_notes)
        model.modelReset.connect(self._span_all_notes)
        model.rowsInserted.connect(self._unfold_rows)
        model.rowsInserted.connect(self._arrived)
        if isinstance(model, MachineFilter):
            model.searched.connect(self._searched)

    def _searched(self, _text: str) -> None:
        self._unfold_rows(QModelIndex(), 0, self.model().rowCount() - 1)

    # -- places: unfolded as the user left them ---------------------------------------------
    def _searching(self) -> bool:
        model = self.model()
        return isinstance(model, MachineFilter) and model.searching

    def _unfold_rows(self, parent: QModelIndex, first: int, last: int) -> None:
        """Rows came (a refresh, a search): their places, and any inside them, are unfolded
        unless the user folded them — all of them while searching, to show what matched.
        Groups are the window's to unfold (it keeps their folding between runs)."""
        self._unfolding, self._widest = True, 0
        try:
            for row in range(first, last + 1):
                self._unfold(self.model().index(row, NAME, parent))
        finally:
            self._unfolding = False
        # Places nest the machines deeper: a place seen for the first time widens the Name
        # column to show its name and count (up to half the view) — never narrows it, and a
        # width the user chose stays until another new place needs more.
        header = self.header()
        wanted = min(self._widest, self.viewport().width() // 2)
        if wanted > header.sectionSize(NAME):
            header.resizeSection(NAME, wanted)

    def _unfold(self, index: QModelIndex) -> None:
        kind = index.data(KindRole)
        if kind == "place":
            key = index.data(PlaceRole)
            folded = key in self.folded_places and not self._searching()
            self.setExpanded(index, not folded)
            if key not in self._seen_places:
                self._seen_places.add(key)
                depth = len(key)  # the connection's row and the places above it
                self._widest = max(self._widest, self.indentation() * (depth + 1) +
                                   self.sizeHintForIndex(index).width() + 8)
        elif kind not in ("local", "host"):
            return  # a machine or a note: nothing below
        model = self.model()
        for row in range(model.rowCount(index)):
            child = model.index(row, NAME, index)
            if child.data(KindRole) == "machine":
                break  # places come before the machines beside them
            self._unfold(child)

    def _place_folded(self, index: QModelIndex, folded: bool) -> None:
        if self._unfolding or self._searching() or index.data(KindRole) != "place":
            return  # what a refresh or a search unfolds is not the user's choice
        key = tuple(index.data(PlaceRole))
        if folded:
            self.folded_places.add(key)
        else:
            self.folded_places.discard(key)

    def _span_notes(self, parent: QModelIndex, first: int, last: int) -> None:
        if parent.isValid():
            for row in range(first, last + 1):
                if self.model().index(row, NAME, parent).data(KindRole) == "note":
                    self.setFirstColumnSpanned(row, parent, True)
        else:
            for row in range(first, last + 1):
                group = self.model().index(row, NAME)
                self._span_notes(group, 0, self.model().rowCount(group) - 1)

    def _span_all_notes(self) -> None:
        self._span_notes(QModelIndex(), 0, self.model().rowCount() - 1)

    # -- dragging hosts into another order ------------------------------------------------------
    def _host_at(self, event: QDragMoveEvent | QDropEvent) -> str:
        """The host under the pointer during a drag ('' when not a host's rows)."""
        index = self.indexAt(event.position().toPoint())
        while index.isValid() and index.parent().isValid():
            index = index.parent()
        if not index.isValid() or index.data(KindRole) != "host":
            return ""
        return str(index.data(ConnectionRole))

    def _dragged_host(self, event: QDragMoveEvent | QDropEvent) -> str:
        if event.source() is not self:
            return ""
        rows = self.selectionModel().selectedRows(NAME)
        hosts = [r for r in rows if r.data(KindRole) == "host"]
        return str(hosts[0].data(ConnectionRole)) if len(hosts) == 1 else ""

    def dragEnterEvent(self, event: QDragMoveEvent) -> None:
        if self._dragged_host(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._dragged_host(event) and self._host_at(event):
            super().dragMoveEvent(event)  # draws the drop indicator
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        moved, onto = self._dragged_host(event), self._host_at(event)
        # The model is not changed here: the window saves the new order, and the groups
        # follow it. IgnoreAction keeps Qt from removing the dragged rows.
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        if moved and onto and moved != onto:
            self.host_dropped.emit(moved, onto)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter or Return on a machine activates it (not the platform's "activated", which
        some desktops send on a single click)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                self.state() is not QAbstractItemView.State.EditingState:
            self._activated(self.currentIndex())
            return
        if event.key() == Qt.Key.Key_Menu or (
                event.key() == Qt.Key.Key_F10 and
                event.modifiers() == Qt.KeyboardModifier.ShiftModifier):
            # The keyboard's context menu, at the current row (Qt sends none for Shift+F10,
            # and the platform's Menu key event is not sent once this one is accepted).
            index = self.currentIndex()
            rect = self.visualRect(index) if index.isValid() else QRect()
            self.customContextMenuRequested.emit(rect.center() if rect.isValid()
                                                 else QPoint(0, 0))
            event.accept()
            return
        super().keyPressEvent(event)

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid() and index.data(KindRole) == "machine":  # not a group or place
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
        selection, model = self.selectionModel(), self.model()
        chosen = [model.index(row, NAME, parent) for row in range(first, last + 1)
                  if parent.isValid() and selection.isSelected(model.index(row, NAME, parent))]
        source = model.sourceModel() if isinstance(model, QSortFilterProxyModel) else model
        moving = source.moving if isinstance(source, InventoryModel) else set()
        moved = [index for index in chosen if index.data(MachineRole) is not None
                 and index.data(MachineRole).key in moving]
        if moved:
            if not self._following:  # forgotten once the refresh that moved them is over
                QTimer.singleShot(0, self._following.clear)
            self._following.update(index.data(MachineRole).key for index in moved)
            if self.currentIndex().siblingAtColumn(NAME) in moved:
                self._following_current = self.currentIndex().data(MachineRole).key
        if len(moved) < len(chosen):
            self._reselect = (QPersistentModelIndex(parent), first)
        super().rowsAboutToBeRemoved(parent, first, last)

    def _arrived(self, parent: QModelIndex, first: int, last: int) -> None:
        """Select again the selected machines that moved, where they arrived (perhaps in a
        place that arrived with them)."""
        model = self.model()
        pending = [model.index(row, NAME, parent) for row in range(first, last + 1)]
        while self._following and pending:
            index = pending.pop()
            machine = index.data(MachineRole)
            if machine is None:
                pending.extend(model.index(row, NAME, index)
                               for row in range(model.rowCount(index)))
            elif machine.key in self._following:
                self._following.discard(machine.key)
                rows = QItemSelectionModel.SelectionFlag.Select | \
                    QItemSelectionModel.SelectionFlag.Rows
                if machine.key == self._following_current:
                    self._following_current = None
                    self.selectionModel().setCurrentIndex(index, rows)
                else:
                    self.selectionModel().select(index, rows)

    def _rows_left(self) -> None:
        if self._reselect is None:
            return
        parent_ref, row = self._reselect
        self._reselect = None
        model = self.model()
        if not parent_ref.isValid() or self.selectionModel().selectedRows():
            return
        parent = model.index(parent_ref.row(), 0, parent_ref.parent())  # a group or place
        count = model.rowCount(parent)
        if count:
            self.setCurrentIndex(model.index(min(row, count - 1), 0, parent))
