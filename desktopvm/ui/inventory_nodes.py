"""The inventory model's nodes: a connection's group and the places inside it, each holding
its machines in the model's row order, and the small rules the model applies to them."""

from __future__ import annotations

from dataclasses import dataclass, field

from desktopvm.protocol import MachineSummary, PowerState

GroupKey = tuple[str, str]  # (host, connection id); the connection id alone is unique


@dataclass(eq=False)
class Node:
    """Rows with children: a connection's group, or a place inside it."""

    uid: int
    name: str  # a place's name (a group's is its label)
    parent: Node | None = None  # None for a group
    places: list[Node] = field(default_factory=list)  # in name order
    by_name: dict[str, Node] = field(default_factory=dict)
    machines: list[MachineSummary] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # machine id -> index in machines
    count: int = 0  # machines here and below

    def reindex(self) -> None:
        self.rows = {m.id: i for i, m in enumerate(self.machines)}

    @property
    def first_place(self) -> int:
        """The row of the first place: after the note, when there is one."""
        return 0

    @property
    def offset(self) -> int:
        """The rows before the first machine: the note's and the places'."""
        return self.first_place + len(self.places)

    @property
    def group(self) -> Group:
        node = self
        while node.parent is not None:
            node = node.parent
        assert isinstance(node, Group)
        return node

    @property
    def path(self) -> tuple[str, ...]:
        """A place's location (() for a group)."""
        if self.parent is None:
            return ()
        return (*self.parent.path, self.name)

    def walk(self) -> list[Node]:
        """This node and every place below it, parents first."""
        nodes = [self]
        for place in self.places:
            nodes.extend(place.walk())
        return nodes


@dataclass(eq=False)
class Group(Node):
    key: GroupKey = ("", "")
    label: str = ""
    error: str = ""
    where: dict[str, Node] = field(default_factory=dict)  # machine id -> node it is in
    remote: bool = False  # a host the user added
    rank: int = 0
    state: str = ""  # a host's connection state, in words
    note: str = ""  # a host's error line (its first child row while not empty)
    tip: str = ""  # the note's tooltip: the whole reason and the fix
    icon: str = ""  # a host's icon, which follows its state
    unavailable: bool = False  # its hypervisor went: the machines shown are as last seen

    @property
    def first_place(self) -> int:
        return 1 if self.note else 0


def place_icon(place: Node) -> str:
    """A place holding machines is where they run (a host); the outermost is a datacenter;
    any between groups hosts (a cluster)."""
    if place.machines:
        return "host"
    return "place-datacenter" if place.parent is place.group else "place-cluster"


def greyed(group: Group, machine: MachineSummary) -> str:
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


def ranges(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted rows as contiguous (first, last) ranges."""
    result: list[tuple[int, int]] = []
    for row in rows:
        if result and result[-1][1] == row - 1:
            result[-1] = (result[-1][0], row)
        else:
            result.append((row, row))
    return result
