"""The inventory item model: one row per machine, updated by diffs so views keep selection."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktopvm.protocol import MachineSummary

Key = tuple[str, str, str]
COLUMNS = ("Name", "State", "Backend", "Host", "Guest OS", "CPUs", "Memory")
AnyIndex = QModelIndex | QPersistentModelIndex


class InventoryModel(QAbstractTableModel):
    """Machines of every backend. `apply` turns a fresh listing into inserts, removes and
    changed rows, never a reset, so selection and scroll position survive a refresh."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[MachineSummary] = []
        self._index: dict[Key, int] = {}

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        machine = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(machine, index.column())
        if role == Qt.ItemDataRole.UserRole:
            return machine
        return None

    @staticmethod
    def _text(machine: MachineSummary, column: int) -> str:
        values = (machine.name, machine.state.value, machine.backend, machine.host, machine.os,
                  str(machine.cpus), f"{machine.memory_mib} MiB")
        return values[column]

    def machine(self, row: int) -> MachineSummary:
        """The machine shown in `row`."""
        return self._rows[row]

    def apply(self, machines: list[MachineSummary], backends: set[str] | None = None) -> None:
        """Make the rows equal `machines`. With `backends`, only rows of those backends are
        replaced (a backend that failed to answer keeps its last known rows)."""
        fresh = {m.key: m for m in machines}
        doomed = [i for i, m in enumerate(self._rows)
                  if m.key not in fresh and (backends is None or m.backend in backends)]
        for row in reversed(doomed):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
        if doomed:
            self._index = {m.key: i for i, m in enumerate(self._rows)}
        for key, machine in fresh.items():
            known = self._index.get(key)
            if known is not None and self._rows[known] != machine:
                self._rows[known] = machine
                self.dataChanged.emit(self.index(known, 0), self.index(known, len(COLUMNS) - 1))
        added = [m for k, m in fresh.items() if k not in self._index]
        if added:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._rows.extend(added)
            for offset, machine in enumerate(added):
                self._index[machine.key] = first + offset
            self.endInsertRows()
