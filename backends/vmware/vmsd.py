"""The snapshot database (`<vm>.vmsd`): the tree, the current snapshot, creation times.

Format (research/vmware.md §A.7; fixture vmware_xo_esxi_4_snapshots.vmsd; xen-orchestra's
`parsers/vmsd.test.mjs`): `snapshot.current` (uid of the current snapshot), per entry K
`snapshotK.uid`, `.parent` (uid), `.displayName`, `.description`, `.filename` (`*.vmsn`),
`.createTimeHigh`/`.createTimeLow` — microseconds since 1970 as `(high << 32) | (low &
0xffffffff)` (the low word may be written negative). K is not the uid and can exceed 9.
vmrun prints no current snapshot: only this file knows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backends.vmware.vmx import VmxDocument, VmxError
from desktopvm.protocol import Snapshot


@dataclass(frozen=True)
class Entry:
    """One snapshot as the .vmsd lists it."""

    uid: str
    parent: str
    name: str
    description: str
    created: str  # ISO 8601, UTC; "" when the file has no time
    filename: str


def created_at(high: int, low: int) -> str:
    """The ISO time of a createTimeHigh/Low pair."""
    micros = (high << 32) | (low & 0xFFFFFFFF)
    if micros <= 0:
        return ""
    return datetime.fromtimestamp(micros / 1_000_000, UTC).isoformat(timespec="seconds")


def read_entries(document: VmxDocument) -> tuple[list[Entry], str]:
    """(every snapshot entry, the current uid) of a .vmsd document."""
    indices = sorted({key.split(".")[0][len("snapshot"):] for key in document.all_keys()
                      if key.startswith("snapshot") and key.split(".")[0][8:].isdigit()},
                     key=int)
    entries = []
    for index in indices:
        prefix = f"snapshot{index}."
        uid = document.get(prefix + "uid")
        if not uid:
            continue
        high = document.number(prefix + "createTimeHigh")
        low = document.number(prefix + "createTimeLow")
        entries.append(Entry(uid, document.get(prefix + "parent"),
                             document.get(prefix + "displayName"),
                             document.get(prefix + "description"),
                             created_at(high, low) if high or low else "",
                             document.get(prefix + "filename")))
    return entries, document.get("snapshot.current")


def vmsd_path(vmx: Path) -> Path:
    """The .vmsd next to a .vmx (same stem)."""
    return vmx.with_suffix(".vmsd")


def read(vmx: Path) -> tuple[list[Entry], str]:
    """The entries and current uid of the VM's .vmsd; nothing when it has none."""
    try:
        return read_entries(VmxDocument.read(vmsd_path(vmx)))
    except (OSError, VmxError):
        return [], ""


def tree(entries: list[Entry], folder: Path | None = None) -> tuple[Snapshot, ...]:
    """The snapshot tree (roots first, children in file order); ids are the uids."""
    known = {e.uid for e in entries}

    def node(entry: Entry) -> Snapshot:
        children = tuple(node(e) for e in entries if e.parent == entry.uid)
        memory = bool(folder and entry.filename and
                      (folder / Path(entry.filename).with_suffix(".vmem").name).exists())
        return Snapshot(entry.uid, entry.name, entry.description, entry.created,
                        has_memory=memory, children=children)

    return tuple(node(e) for e in entries if e.parent not in known)
