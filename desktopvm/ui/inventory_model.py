"""The inventory: a tree of connections, the places inside them, and machines; updated by diffs.

A group is a connection: a local backend ("QEMU · localhost") or a remote host the user
added, which also shows its connection state and, while something is wrong, an error line
as its first child row (the "note"). Inside a connection, a machine with a location
(`MachineSummary.location`, e.g. a vCenter's datacenter, cluster and host) sits under one
"place" row per step, places first and in name order, each showing how many machines it
holds; machines without one sit directly under their connection. A refresh never resets the
model: rows are inserted, removed and changed in place (a machine that moved is removed from
its old place and added to the new), places come and go with their machines, so the views
keep their selection, expansion and scroll position. A connection that fails to answer keeps
its last known machines.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from desktopvm.printable import printable
from desktopvm.protocol import MachineSummary, PowerState
from desktopvm.ui.icons import icon
from desktopvm.ui.inventory_nodes import Group, Node, greyed, place_icon, ranges
from desktopvm.ui.inventory_nodes import GroupKey as _GroupKey
from desktopvm.ui.theme import error_colour, is_dark
from desktopvm.ui.words import format_mib

AnyIndex = QModelIndex | QPersistentModelIndex
GroupKey = _GroupKey  # (host, connection id); the connection id alone is unique
COLUMNS = ("Name", "State", "Backend", "Host", "Guest OS", "CPUs", "Memory")
NAME, STATE, BACKEND, HOST, OS, CPUS, MEMORY = range(len(COLUMNS))
MachineRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2
OrderRole = Qt.ItemDataRole.UserRole + 3  # a group's place: local backends, then hosts in order
ConnectionRole = Qt.ItemDataRole.UserRole + 4  # the connection id of any row
KindRole = Qt.ItemDataRole.UserRole + 5  # "local", "host", "note", "place" or "machine"
PlaceRole = Qt.ItemDataRole.UserRole + 6  # a place row's (connection id, *its location)
STATE_ICONS = {
    PowerState.RUNNING: "state-running", PowerState.OFF: "state-off",
    PowerState.PAUSED: "state-paused", PowerState.SAVED: "state-saved",
    PowerState.ABORTED: "state-aborted", PowerState.STARTING: "state-busy",
    PowerState.STOPPING: "state-busy", PowerState.UNKNOWN: "state-unknown",
}
NOTE_COLOR = QColor("#b91c1c")  # a host's error line: a dark red, readable on white and grey
# Sort keys that keep a note, then the places, ahead of the machines whichever way they are
# sorted: beyond any CPUs or memory, and before/after any name (machines' empty texts sort as
# "\x02"). Places among themselves follow the sort's direction by name, as folders do.
NOTE_LAST_NUMBER, NOTE_LAST_TEXT = 2**62, "\U0010ffff"
PLACE_NUMBER, PLACE_FIRST_TEXT, PLACE_LAST_TEXT = 2**61, "\x01", "\U0010fffe"
STATE_TEXT = {
    PowerState.RUNNING: "Running", PowerState.OFF: "Powered off", PowerState.PAUSED: "Paused",
    PowerState.SAVED: "Saved", PowerState.ABORTED: "Aborted", PowerState.STARTING: "Starting",
    PowerState.STOPPING: "Stopping", PowerState.UNKNOWN: "Unknown",
}


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
    """Machines of every backend, grouped by connection and, inside it, by place.

    An index's internal id is the uid of the node whose child it is (0: a group's row)."""

    _uids = itertools.count(1)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._groups: list[Group] = []
        self._by_uid: dict[int, Node] = {}
        self._descending = False  # the view's sort order: groups and notes keep their place
        # While `apply` runs: the machines removed from one place to be added to another (a
        # vCenter moved them), so a view keeps them selected rather than picking a neighbour.
        self.moving: set[tuple[str, str, str]] = set()

    def set_sort_order(self, descending: bool) -> None:
        """The order the view sorts in (told before it sorts): the sort keys of groups and
        notes follow it, so they keep their place while the machines are sorted."""
        self._descending = descending

    # -- structure -------------------------------------------------------------------------
    def _node(self, index: AnyIndex) -> Node | None:
        """The node a row *is* (a group or a place); None for a note or machine row."""
        if index.internalId() == 0:
            return self._groups[index.row()]
        container = self._by_uid[index.internalId()]
        row = index.row() - container.first_place
        return container.places[row] if 0 <= row < len(container.places) else None

    def _index(self, node: Node, column: int = 0) -> QModelIndex:
        """The index of a group's or a place's row."""
        parent = node.parent
        if parent is None:
            return self.createIndex(self._groups.index(node), column, 0)  # type: ignore[arg-type]
        return self.createIndex(parent.first_place + parent.places.index(node), column,
                                parent.uid)

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        node = self._node(parent)
        assert node is not None  # hasIndex: only groups and places have rows
        return self.createIndex(row, column, node.uid)

    def parent(self, child: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid() or child.internalId() == 0:
            return QModelIndex()
        return self._index(self._by_uid[child.internalId()])

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups)
        if parent.column() != 0:
            return 0
        node = self._node(parent)
        return 0 if node is None else node.offset + len(node.machines)

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
        if self._is_note(index) or self._node(index) is not None:
            return Qt.ItemFlag.ItemIsEnabled  # a place is no machine: no action applies
        if self._by_uid[index.internalId()].group.unavailable:
            return Qt.ItemFlag.ItemIsEnabled  # listed as last seen; nothing can act on it
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- data ------------------------------------------------------------------------------
    def machine(self, index: AnyIndex) -> MachineSummary | None:
        """The machine of a row, or None for a group, place or note row."""
        if not index.isValid() or index.internalId() == 0:
            return None
        node = self._by_uid[index.internalId()]
        row = index.row() - node.offset
        return node.machines[row] if 0 <= row < len(node.machines) else None

    def _is_note(self, index: AnyIndex) -> bool:
        if index.internalId() == 0 or index.row() != 0:
            return False
        node = self._by_uid[index.internalId()]
        return isinstance(node, Group) and bool(node.note)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            return self._group_data(self._groups[index.row()], index.column(), role)
        group = self._by_uid[index.internalId()].group
        if role == ConnectionRole:
            return group.key[1]
        if self._is_note(index):
            return self._note_data(group, index.column(), role)
        place = self._node(index)
        if place is not None:
            return self._place_data(place, index.column(), role)
        machine = self.machine(index)
        if role == KindRole:
            return "machine"
        if machine is None:
            return None
        why = greyed(group, machine)
        if why and role == Qt.ItemDataRole.ForegroundRole:
            return QGuiApplication.palette().color(QPalette.ColorGroup.Disabled,
                                                   QPalette.ColorRole.Text)
        if why and role == Qt.ItemDataRole.ToolTipRole:
            return why
        return self._machine_data(machine, index.column(), role)

    def _group_data(self, group: Group, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == NAME:
                return f"{group.label} ({group.count})"
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

    def _place_data(self, place: Node, column: int, role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column != NAME:
                return None
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return f"{printable(place.name)}, {self._count_words(place.count)}"
            return f"{printable(place.name)} ({place.count})"
        if role == Qt.ItemDataRole.DecorationRole and column == NAME:
            return icon(place_icon(place), "host")
        if role == Qt.ItemDataRole.ToolTipRole:
            return " › ".join(printable(n) for n in place.path) + "\n" + \
                self._count_words(place.count)
        if role == KindRole:
            return "place"
        if role == PlaceRole:
            return (place.group.key[1], *place.path)
        if role == SortRole:
            if column in (CPUS, MEMORY):  # ties keep the model's order: by name
                return PLACE_NUMBER if self._descending else -PLACE_NUMBER
            name = place.name.lower()
            return (PLACE_LAST_TEXT if self._descending else PLACE_FIRST_TEXT) + name
        return None

    def _count_words(self, count: int) -> str:
        # English has its own singular; a translation file gives other languages theirs (%n)
        return self.tr("1 machine") if count == 1 else self.tr("%n machines", "", count)

    def _note_data(self, group: Group, column: int, role: int) -> Any:
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
            return -NOTE_LAST_NUMBER if numeric else ""
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
            text = str(self._machine_data(machine, column, Qt.ItemDataRole.DisplayRole))
            return text.lower() or "\x02"  # after the places' keys when sorted up
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

    def place_index(self, connection: str, location: tuple[str, ...]) -> QModelIndex:
        """The index of a place's row by its connection and location (invalid if absent)."""
        node: Node | None = next((g for g in self._groups if g.key[1] == connection), None)
        for name in location:
            node = node.by_name.get(name) if node is not None else None
        return self._index(node) if node is not None and location else QModelIndex()

    def index_of(self, summary_key: tuple[str, str, str]) -> QModelIndex:
        """The index of a machine by (host, connection, id). The connection id names the
        group: a remote backend may report its host in another spelling than its address."""
        _host, connection, machine_id = summary_key
        for group in self._groups:
            node = group.where.get(machine_id) if group.key[1] == connection else None
            if node is not None:
                return self.createIndex(node.offset + node.rows[machine_id], 0, node.uid)
        return QModelIndex()

    def _group(self, key: GroupKey, label: str) -> tuple[int, Group]:
        for row, group in enumerate(self._groups):
            if group.key[1] == key[1]:
                return row, group
        group = Group(next(self._uids), label, key=key, label=label)
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
            self._machines_changed(group)
            self.dataChanged.emit(self.createIndex(row, 0, 0),
                                  self.createIndex(row, len(COLUMNS) - 1, 0))

    def _machines_changed(self, group: Group) -> None:
        """Every machine row of a group reads differently (greyed, or not any more)."""
        for node in group.walk():
            if node.machines:
                self.dataChanged.emit(self.createIndex(node.offset, 0, node.uid),
                                      self.createIndex(node.offset + len(node.machines) - 1,
                                                       len(COLUMNS) - 1, node.uid))

    def apply(self, key: GroupKey, label: str, machines: list[MachineSummary]) -> None:
        """Make one connection's rows equal `machines`: removes (and moves away), in-place
        changes, appends to each machine's place (made when new); then empty places go."""
        group_row, group = self._group(key, label)
        fresh = {m.id: m for m in machines}
        counts = {node.uid: node.count for node in group.walk()}
        self.moving = {m.key for node in group.walk() for m in node.machines
                       if m.id in fresh and fresh[m.id].location != m.location}
        removed = False
        for node in group.walk():
            doomed = [row for row, m in enumerate(node.machines)
                      if m.id not in fresh or fresh[m.id].location != m.location]
            for first, last in reversed(list(ranges(doomed))):
                self.beginRemoveRows(self._index(node), node.offset + first,
                                     node.offset + last)
                for gone in node.machines[first:last + 1]:
                    del group.where[gone.id]
                del node.machines[first:last + 1]
                self.endRemoveRows()
            if doomed:
                node.reindex()
                removed = True
            for row, old in enumerate(node.machines):
                new = fresh[old.id]
                if new != old:
                    node.machines[row] = new
                    # Only the columns that changed: a sorted proxy re-sorts a row only when
                    # its sort column is in the range, which keeps a refresh of 10,000 cheap.
                    columns = changed_columns(old, new)
                    shown = node.offset + row
                    self.dataChanged.emit(self.createIndex(shown, columns[0], node.uid),
                                          self.createIndex(shown, columns[-1], node.uid))
        arriving: dict[int, list[MachineSummary]] = {}
        for machine in machines:
            if machine.id not in group.where:
                arriving.setdefault(self._place(group, machine.location).uid, []).append(machine)
        for uid, added in arriving.items():
            node = self._by_uid[uid]
            first = len(node.machines)
            self.beginInsertRows(self._index(node), node.offset + first,
                                 node.offset + first + len(added) - 1)
            node.machines.extend(added)
            for offset, machine in enumerate(added):
                node.rows[machine.id] = first + offset
                group.where[machine.id] = node
            self.endInsertRows()
        self.moving = set()
        self._prune(group)
        self._count(group, counts)
        if group.error or removed or arriving:
            if group.error:  # greyed rows read normally again
                self._machines_changed(group)
            group.error, group.unavailable = "", False
            self.dataChanged.emit(self.createIndex(group_row, 0, 0),
                                  self.createIndex(group_row, len(COLUMNS) - 1, 0))

    def _place(self, group: Group, location: tuple[str, ...]) -> Node:
        """The node for `location` in `group`, its missing places made in name order."""
        node: Node = group
        for name in location:
            child = node.by_name.get(name)
            if child is None:
                child = Node(next(self._uids), name, parent=node)
                row = bisect.bisect_left([p.name.casefold() for p in node.places],
                                         name.casefold())
                self.beginInsertRows(self._index(node), node.first_place + row,
                                     node.first_place + row)
                node.places.insert(row, child)
                node.by_name[name] = child
                self._by_uid[child.uid] = child
                self.endInsertRows()
            node = child
        return node

    def _prune(self, node: Node) -> None:
        """Remove the places below `node` that hold no machine any more."""
        for place in list(node.places):
            self._prune(place)
            if not place.places and not place.machines:
                row = node.first_place + node.places.index(place)
                self.beginRemoveRows(self._index(node), row, row)
                node.places.remove(place)
                del node.by_name[place.name]
                del self._by_uid[place.uid]
                self.endRemoveRows()

    def _count(self, group: Group, before: dict[int, int]) -> None:
        """Each place's count again; a place whose count changed repaints its name."""
        for node in reversed(group.walk()):  # children before their parents
            node.count = len(node.machines) + sum(p.count for p in node.places)
            if node.parent is not None and before.get(node.uid) != node.count:
                index = self._index(node)
                self.dataChanged.emit(index, index)

    def remove_group(self, key: GroupKey | str) -> None:
        """Drop a backend that is no longer available, or a host that was removed."""
        connection = key if isinstance(key, str) else key[1]
        for row, group in enumerate(self._groups):
            if group.key[1] == connection:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._groups[row]
                for node in group.walk():
                    del self._by_uid[node.uid]
                self.endRemoveRows()
                return

    def machine_count(self) -> int:
        """Machines in all groups."""
        return sum(g.count for g in self._groups)

    def machine_names(self, backend: str, host: str) -> list[str]:
        """The names of one backend's machines on one host (the clone dialog's "taken")."""
        return [m.name for g in self._groups for node in g.walk() for m in node.machines
                if (m.backend, m.host) == (backend, host)]

    def group_keys(self) -> list[GroupKey]:
        """Keys of the groups shown."""
        return [g.key for g in self._groups]

    def machines_of(self, connection: str) -> list[MachineSummary]:
        """The machines a connection's group shows (in its places too)."""
        group = next((g for g in self._groups if g.key[1] == connection), None)
        return [m for node in group.walk() for m in node.machines] if group else []


def changed_columns(old: MachineSummary, new: MachineSummary) -> list[int]:
    """The columns whose text differs between two versions of a row (all if unsure)."""
    columns = [column for column, field in ((NAME, "name"), (STATE, "state"), (OS, "os"),
                                            (CPUS, "cpus"), (MEMORY, "memory_mib"))
               if getattr(old, field) != getattr(new, field)]
    return columns or list(range(len(COLUMNS)))
