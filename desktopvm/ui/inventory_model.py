"""The inventory: a two-level tree (connection -> its machines), updated by diffs.

A group is a connection: a local backend ("QEMU · localhost") or a remote host the user
added, which also shows its connection state and, while something is wrong, an error line
as its first child row (the "note"). A refresh never resets the model: rows are inserted,
removed and changed in place, so the views keep their selection, expansion and scroll
position. A connection that fails to answer keeps its last known machines.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from desktopvm.printable import printable
from desktopvm.protocol import MachineSummary, PowerState
from desktopvm.ui.icons import icon
from desktopvm.ui.theme import error_colour, is_dark
from desktopvm.ui.words import format_mib

AnyIndex = QModelIndex | QPersistentModelIndex
GroupKey = tuple[str, str]  # (host, connection id); the connection id alone is unique
COLUMNS = ("Name", "State", "Backend", "Host", "Guest OS", "CPUs", "Memory")
NAME, STATE, BACKEND, HOST, OS, CPUS, MEMORY = range(len(COLUMNS))
MachineRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2
OrderRole = Qt.ItemDataRole.UserRole + 3  # a group's place: local backends, then hosts in order
ConnectionRole = Qt.ItemDataRole.UserRole + 4  # the connection id of any row
KindRole = Qt.ItemDataRole.UserRole + 5  # "local", "host", "note" or "machine"
STATE_ICONS = {
    PowerState.RUNNING: "state-running", PowerState.OFF: "state-off",
    PowerState.PAUSED: "state-paused", PowerState.SAVED: "state-saved",
    PowerState.ABORTED: "state-aborted", PowerState.STARTING: "state-busy",
    PowerState.STOPPING: "state-busy", PowerState.UNKNOWN: "state-unknown",
}
NOTE_COLOR = QColor("#b91c1c")  # a host's error line: a dark red, readable on white and grey
NOTE_LAST_NUMBER, NOTE_LAST_TEXT = 2**62, "\U0010ffff"  # beyond any CPUs, memory or name
STATE_TEXT = {
    PowerState.RUNNING: "Running", PowerState.OFF: "Powered off", PowerState.PAUSED: "Paused",
    PowerState.SAVED: "Saved", PowerState.ABORTED: "Aborted", PowerState.STARTING: "Starting",
    PowerState.STOPPING: "Stopping", PowerState.UNKNOWN: "Unknown",
}


@dataclass
class _Group:
    uid: int
    key: GroupKey
    label: str
    error: str = ""
    machines: list[MachineSummary] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # machine id -> index in machines
    remote: bool = False  # a host the user added
    rank: int = 0
    state: str = ""  # a host's connection state, in words
    note: str = ""  # a host's error line (its first child row while not empty)
    tip: str = ""  # the note's tooltip: the whole reason and the fix
    icon: str = ""  # a host's icon, which follows its state
    unavailable: bool = False  # its hypervisor went: the machines shown are as last seen

    def reindex(self) -> None:
        self.rows = {m.id: i for i, m in enumerate(self.machines)}

    @property
    def offset(self) -> int:
        """The rows before the first machine: the note's, when there is one."""
        return 1 if self.note else 0


@functools.cache
def _group_font() -> QFont:
    """Bold: made on first paint (a QFont wants the application to exist)."""
    font = QFont()
    font.setBold(True)
    return font


@functools.cache
def os_name(os_id: str) -> str:
    """The catalog's display name for an OS id."""
    from desktopvm.model import catalog  # not at import: the catalog is not needed to paint

    entry = catalog().get(os_id)
    return entry.name if entry else os_id


@functools.cache
def os_icon_name(os_id: str) -> str:
    """The icon of an OS family."""
    from desktopvm.model import catalog

    entry = catalog().get(os_id)
    return f"os-{entry.family.value}" if entry else "os-other"


class InventoryModel(QAbstractItemModel):
    """Machines of every backend, grouped by backend and host."""

    _uids = itertools.count(1)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._groups: list[_Group] = []
        self._by_uid: dict[int, _Group] = {}
        self._descending = False  # the view's sort order: groups and notes keep their place

    def set_sort_order(self, descending: bool) -> None:
        """The order the view sorts in (told before it sorts): the sort keys of groups and
        notes follow it, so they keep their place while the machines are sorted."""
        self._descending = descending

    # -- structure -------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        group = self._groups[parent.row()]
        return self.createIndex(row, column, group.uid)

    def parent(self, child: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid():
            return QModelIndex()
        uid = child.internalId()
        if uid == 0:
            return QModelIndex()
        group = self._by_uid[uid]
        return self.createIndex(self._groups.index(group), 0, 0)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == 0 and parent.column() == 0:
            group = self._groups[parent.row()]
            return group.offset + len(group.machines)
        return 0

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.internalId() == 0:
            if self._groups[index.row()].remote:  # a host: selected for its details, dragged
                return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
                    Qt.ItemFlag.ItemIsDragEnabled
            return Qt.ItemFlag.ItemIsEnabled
        if self._is_note(index):
            return Qt.ItemFlag.ItemIsEnabled
        if self._by_uid[index.internalId()].unavailable:
            return Qt.ItemFlag.ItemIsEnabled  # listed as last seen; nothing can act on it
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- data ------------------------------------------------------------------------------
    def machine(self, index: AnyIndex) -> MachineSummary | None:
        """The machine of a row, or None for a group or note row."""
        if not index.isValid() or index.internalId() == 0:
            return None
        group = self._by_uid[index.internalId()]
        row = index.row() - group.offset
        return group.machines[row] if 0 <= row < len(group.machines) else None

    def _is_note(self, index: AnyIndex) -> bool:
        return index.internalId() != 0 and index.row() == 0 and \
            bool(self._by_uid[index.internalId()].note)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            return self._group_data(self._groups[index.row()], index.column(), role)
        group = self._by_uid[index.internalId()]
        if role == ConnectionRole:
            return group.key[1]
        if self._is_note(index):
            return self._note_data(group, index.column(), role)
        machine = self.machine(index)
        if role == KindRole:
            return "machine"
        if machine is None:
            return None
        greyed = _greyed(group, machine)
        if greyed and role == Qt.ItemDataRole.ForegroundRole:
            return QGuiApplication.palette().color(QPalette.ColorGroup.Disabled,
                                                   QPalette.ColorRole.Text)
        if greyed and role == Qt.ItemDataRole.ToolTipRole:
            return greyed
        return self._machine_data(machine, index.column(), role)

    def _group_data(self, group: _Group, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == NAME:
                count = len(group.machines)
                return f"{group.label} ({count})"
            if column == STATE and group.remote:
                return group.state
            if column == STATE and group.error:
                words = "Not available: %1" if group.unavailable else "Not answering: %1"
                return self.tr(words).replace("%1", group.error)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == NAME:
            if group.remote:
                return icon(group.icon or "host", "host")
            return icon("error") if group.error else icon(f"backend-{group.key[1]}")
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(t for t in (group.label, group.state, group.tip) if t) \
                if group.remote else group.error or group.label
        if role == SortRole:  # the same place whichever way the machines are sorted
            return -group.rank if self._descending else group.rank
        if role == Qt.ItemDataRole.FontRole and column in (NAME, STATE):
            return _group_font()  # a connection's row heads its machines
        if role == OrderRole:
            return group.rank
        if role == ConnectionRole:
            return group.key[1]
        if role == KindRole:
            return "host" if group.remote else "local"
        return None

    def _note_data(self, group: _Group, column: int, role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return group.note if column == NAME else None
        if role == Qt.ItemDataRole.DecorationRole and column == NAME:
            return icon("error")
        if role == Qt.ItemDataRole.ToolTipRole:
            return group.tip or group.note
        if role == KindRole:
            return "note"
        if role == SortRole:  # first, whichever way and by whichever column
            numeric = column in (CPUS, MEMORY)
            if self._descending:
                return NOTE_LAST_NUMBER if numeric else NOTE_LAST_TEXT
            return -1 if numeric else ""
        if role == Qt.ItemDataRole.ForegroundRole:
            # the error red of the icons, readable on white and grey; lighter on dark
            return QColor(error_colour()) if is_dark() else NOTE_COLOR
        return None

    def _machine_data(self, machine: MachineSummary, column: int, role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            unread = bool(machine.problem)  # its hardware is not known: not "0 MiB"
            return (printable(machine.name), self.tr(STATE_TEXT[machine.state]), machine.backend,
                    machine.host, "" if unread else os_name(machine.os),
                    "" if unread else str(machine.cpus),
                    "" if unread else format_mib(machine.memory_mib))[column]
        if role == Qt.ItemDataRole.DecorationRole:
            if column == NAME:
                return icon(os_icon_name(machine.os))
            if column == STATE:
                return icon(STATE_ICONS[machine.state])
        if role == MachineRole:
            return machine
        if role == SortRole:
            if column == CPUS:
                return machine.cpus
            if column == MEMORY:
                return machine.memory_mib
            return str(self._machine_data(machine, column, Qt.ItemDataRole.DisplayRole)).lower()
        if role == Qt.ItemDataRole.ToolTipRole and column == NAME:
            return f"{printable(machine.name)}\n{machine.id}"
        return None

    # -- updates ---------------------------------------------------------------------------
    def group_index(self, key: GroupKey | str) -> QModelIndex:
        """The index of a connection's group row, by key or connection id (invalid if absent)."""
        connection = key if isinstance(key, str) else key[1]
        for row, group in enumerate(self._groups):
            if group.key[1] == connection:
                return self.createIndex(row, 0, 0)
        return QModelIndex()

    def index_of(self, summary_key: tuple[str, str, str]) -> QModelIndex:
        """The index of a machine by (host, connection, id). The connection id names the
        group: a remote backend may report its host in another spelling than its address."""
        _host, connection, machine_id = summary_key
        for group in self._groups:
            if group.key[1] == connection and machine_id in group.rows:
                return self.createIndex(group.offset + group.rows[machine_id], 0, group.uid)
        return QModelIndex()

    def _group(self, key: GroupKey, label: str) -> tuple[int, _Group]:
        for row, group in enumerate(self._groups):
            if group.key[1] == key[1]:
                return row, group
        group = _Group(next(self._uids), key, label)
        row = len(self._groups)
        self.beginInsertRows(QModelIndex(), row, row)
        self._groups.append(group)
        self._by_uid[group.uid] = group
        self.endInsertRows()
        return row, group

    def set_host(self, key: GroupKey, label: str, *, rank: int, state: str, note: str = "",
                 tip: str = "", icon_name: str = "") -> None:
        """Show a remote host's group: its label, place, state, error line and icon. The error
        line is the group's first child row while it is not empty."""
        row, group = self._group(key, label)
        parent = self.createIndex(row, 0, 0)
        group.remote = True
        if bool(group.note) != bool(note):
            if note:
                self.beginInsertRows(parent, 0, 0)
                group.note = note
                self.endInsertRows()
            else:
                self.beginRemoveRows(parent, 0, 0)
                group.note = ""
                self.endRemoveRows()
        elif note != group.note:
            group.note = note
            self.dataChanged.emit(self.createIndex(0, 0, group.uid),
                                  self.createIndex(0, len(COLUMNS) - 1, group.uid))
        values = (label, rank, state, tip, icon_name)
        if values != (group.label, group.rank, group.state, group.tip, group.icon):
            group.label, group.rank, group.state, group.tip, group.icon = values
            self.dataChanged.emit(parent, self.createIndex(row, len(COLUMNS) - 1, 0))

    def set_rank(self, key: GroupKey | str, rank: int) -> None:
        """A group's place among the others (the sorting proxy re-sorts on the change)."""
        index = self.group_index(key)
        if index.isValid() and self._groups[index.row()].rank != rank:
            self._groups[index.row()].rank = rank
            self.dataChanged.emit(index, self.createIndex(index.row(), len(COLUMNS) - 1, 0))

    def set_error(self, key: GroupKey, label: str, error: str, *,
                  unavailable: bool = False) -> None:
        """Mark a backend as not answering, or (`unavailable`) as gone from this computer: its
        last known machines stay, greyed, with the reason."""
        row, group = self._group(key, label)
        if (group.error, group.unavailable) != (error, unavailable):
            group.error, group.unavailable = error, unavailable
            if group.machines:
                self.dataChanged.emit(self.createIndex(group.offset, 0, group.uid),
                                      self.createIndex(group.offset + len(group.machines) - 1,
                                                       len(COLUMNS) - 1, group.uid))
            self.dataChanged.emit(self.createIndex(row, 0, 0),
                                  self.createIndex(row, len(COLUMNS) - 1, 0))

    def apply(self, key: GroupKey, label: str, machines: list[MachineSummary]) -> None:
        """Make one backend's rows equal `machines`: removes, in-place changes, appends."""
        group_row, group = self._group(key, label)
        parent = self.createIndex(group_row, 0, 0)
        fresh = {m.id: m for m in machines}
        doomed = [row for row, m in enumerate(group.machines) if m.id not in fresh]
        for first, last in reversed(list(_ranges(doomed))):
            self.beginRemoveRows(parent, group.offset + first, group.offset + last)
            del group.machines[first:last + 1]
            self.endRemoveRows()
        if doomed:
            group.reindex()
        for row, old in enumerate(group.machines):
            new = fresh[old.id]
            if new != old:
                group.machines[row] = new
                # Only the columns that changed: a sorted proxy re-sorts a row only when
                # its sort column is in the range, which keeps a refresh of 10,000 cheap.
                columns = _changed_columns(old, new)
                shown = group.offset + row
                self.dataChanged.emit(self.createIndex(shown, columns[0], group.uid),
                                      self.createIndex(shown, columns[-1], group.uid))
        added = [m for m in machines if m.id not in group.rows]
        if added:
            first = len(group.machines)
            self.beginInsertRows(parent, group.offset + first,
                                 group.offset + first + len(added) - 1)
            group.machines.extend(added)
            for offset, machine in enumerate(added):
                group.rows[machine.id] = first + offset
            self.endInsertRows()
        if group.error or doomed or added:
            if group.error and group.machines:  # greyed rows read normally again
                self.dataChanged.emit(self.createIndex(group.offset, 0, group.uid),
                                      self.createIndex(group.offset + len(group.machines) - 1,
                                                       len(COLUMNS) - 1, group.uid))
            group.error, group.unavailable = "", False
            self.dataChanged.emit(parent, self.createIndex(group_row, len(COLUMNS) - 1, 0))

    def remove_group(self, key: GroupKey | str) -> None:
        """Drop a backend that is no longer available, or a host that was removed."""
        connection = key if isinstance(key, str) else key[1]
        for row, group in enumerate(self._groups):
            if group.key[1] == connection:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._groups[row]
                del self._by_uid[group.uid]
                self.endRemoveRows()
                return

    def machine_count(self) -> int:
        """Machines in all groups."""
        return sum(len(g.machines) for g in self._groups)

    def machine_names(self, backend: str, host: str) -> list[str]:
        """The names of one backend's machines on one host (the clone dialog's "taken")."""
        return [m.name for g in self._groups for m in g.machines
                if (m.backend, m.host) == (backend, host)]

    def group_keys(self) -> list[GroupKey]:
        """Keys of the groups shown."""
        return [g.key for g in self._groups]

    def machines_of(self, connection: str) -> list[MachineSummary]:
        """The machines a connection's group shows."""
        return next((list(g.machines) for g in self._groups if g.key[1] == connection), [])


def _changed_columns(old: MachineSummary, new: MachineSummary) -> list[int]:
    """The columns whose text differs between two versions of a row (all if unsure)."""
    columns = [column for column, field in ((NAME, "name"), (STATE, "state"), (OS, "os"),
                                            (CPUS, "cpus"), (MEMORY, "memory_mib"))
               if getattr(old, field) != getattr(new, field)]
    return columns or list(range(len(COLUMNS)))


def _greyed(group: _Group, machine: MachineSummary) -> str:
    """Why a machine's row is greyed ("" when it is not): its hypervisor is gone or not
    answering (the row is as last seen), or its state cannot be read."""
    if group.error:
        return (f"Shown as last seen: {group.error}" if group.unavailable else
                f"Shown as last seen; the hypervisor is not answering: {group.error}")
    if machine.problem:  # the backend could not read it, and says why
        return machine.problem
    if machine.state is PowerState.UNKNOWN:
        return ("DesktopVM cannot read this machine's state: its record is damaged or the "
                "hypervisor did not answer for it")
    return ""


def _ranges(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted rows as contiguous (first, last) ranges."""
    result: list[tuple[int, int]] = []
    for row in rows:
        if result and result[-1][1] == row - 1:
            result[-1] = (result[-1][0], row)
        else:
            result.append((row, row))
    return result
