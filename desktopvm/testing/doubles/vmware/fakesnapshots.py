"""What a VMware snapshot does to the stand-in's disks: delta children, merges, reverts (stdlib).

The rules, each with its source:

- **Take** (any power state): every disk that is not independent gets a new child,
  `<base>-00000N.vmdk` with the lowest free N ("numbers are re-used as available", Broadcom
  KB 1018832; the fixture `vmware_xo_esxi_4_snapshots.vmsd` and its `.vmx` show
  `test flo_0-000001.vmdk` … `-000004.vmdk` on one base), next to the disk it freezes (vSphere
  `vim.vm.FileInfo.snapshotDirectory`: redo files stay in the snapshotted disk's folder). The
  child names its parent (`parentFileNameHint`, `parentCID`: fakedisk.py); the `.vmx` is
  switched to the child; the snapshot's entry records what it froze, `snapshotK.diskJ.fileName`
  and `.node` (the fixture). The frozen disk is never written again while the snapshot exists
  ("Once you take a snapshot, the original base disk is no longer written to, but is still read
  from": VMware Fusion Blog, "VMware Fusion 201: Snapshots", 2008). Independent disks are
  "not affected by snapshots" (vSphere `VirtualDiskMode`: independent_persistent,
  independent_nonpersistent): they keep their file.
- **Delete**: the snapshot's frozen disk is merged with the one child that reads through it
  (the child's grains written into it: "When a snapshot is deleted all the changes are
  committed to the original disk", VDDK "Disk Chaining and Redo Logs" on redo logs), the
  child file goes, and whatever named the child (the `.vmx`, another snapshot's entry, a
  grandchild's `parentFileNameHint`) names the merged disk. A frozen disk with several
  children (a revert made a branch) or one a linked clone hangs from (`snapshotK.cloneN`) keeps
  its files [unverified: what Workstation does then; it never loses data].
- **Revert**: the machine goes back to the snapshot's disks through a **new** child of each
  frozen disk (a snapshot's disk stays frozen), and the child it ran on is removed when no
  snapshot froze it [inferred from the two rules above; no capture of a revert's files].
"""

from __future__ import annotations

import re
from pathlib import Path

try:
    import fakedisk  # type: ignore[import-not-found]  # run as a tool
except ImportError:  # imported by the tests as a module of their package
    from desktopvm.testing.doubles.vmware import fakedisk

DISK_KEY = re.compile(r"^((?:scsi|sata|nvme|ide)\d+:\d+)\.filename$")
_NUMBERED = re.compile(r"^(.*)-\d{6}$")


def chain_problem(disk: Path) -> str:
    """Why the disk's chain would not open, or "" (each parent there, each parentCID right)."""
    layer, seen = disk, 0
    while True:
        if not layer.is_file():
            return f"{layer.name} is missing"
        try:
            keys = fakedisk.read_descriptor(layer)
        except ValueError:
            return ""  # not one of the stand-in's sparse files (a test wrote its own)
        parent = fakedisk.parent_of(layer)
        if parent is None:
            return ""
        seen += 1
        if not parent.is_file() or seen > 64:
            return f"the parent disk {parent.name} is missing"
        if fakedisk.read_descriptor(parent).get("CID") != keys.get("parentCID"):
            # KB 1007969's words
            return "The parent virtual disk has been modified since the child was created."
        layer = parent


def disk_nodes(vmx_keys: dict[str, str], vmx: Path) -> dict[str, tuple[str, Path]]:
    """node ("scsi0:0") -> (the .vmx's value, the file) for every VMDK disk not independent."""
    found = {}
    for key, value in vmx_keys.items():
        match = DISK_KEY.match(key)
        if not match or not value.lower().endswith(".vmdk"):
            continue
        node = match.group(1)
        if vmx_keys.get(f"{node}.mode", "").lower().startswith("independent"):
            continue
        if vmx_keys.get(f"{node}.devicetype", "").lower().startswith(("cdrom", "atapi")):
            continue
        found[node] = (value, Path(value) if Path(value).is_absolute() else vmx.parent / value)
    return found


def _as_written(original: str, path: Path) -> str:
    """A file named the way the .vmx named the one it replaces (relative stays relative)."""
    return str(path) if Path(original).is_absolute() else path.name


def new_child(frozen: Path) -> Path:
    """A new delta of `frozen`: `<base>-00000N.vmdk`, the lowest free N, beside it."""
    match = _NUMBERED.match(frozen.stem)
    base = match.group(1) if match else frozen.stem
    number = 1
    while (frozen.parent / f"{base}-{number:06d}.vmdk").exists():
        number += 1
    child = frozen.parent / f"{base}-{number:06d}.vmdk"
    fakedisk.create(child, fakedisk.capacity(frozen), parent=frozen, parent_hint=frozen.name)
    return child


def take(vmx_keys: dict[str, str], vmx: Path, entry: dict[str, str]) -> dict[str, str]:
    """Freeze every disk: children made, `entry` gets diskJ.*; the .vmx changes returned."""
    changes = {}
    nodes = disk_nodes(vmx_keys, vmx)
    for index, (node, (value, path)) in enumerate(sorted(nodes.items())):
        entry[f"disk{index}.fileName"] = value
        entry[f"disk{index}.node"] = node
        if fakedisk.capacity(path):
            changes[f"{node}.fileName"] = _as_written(value, new_child(path))
    entry["numDisks"] = str(len(nodes))
    return changes


def frozen_files(vmx: Path, entries: list[dict[str, str]]) -> set[Path]:
    """Every file some snapshot froze."""
    found = set()
    for entry in entries:
        for key, value in entry.items():
            if key.startswith("disk") and key.endswith(".filename") and value:
                found.add(Path(value) if Path(value).is_absolute() else vmx.parent / value)
    return found


def revert(vmx_keys: dict[str, str], vmx: Path, entry: dict[str, str],
           entries: list[dict[str, str]], before: dict[str, tuple[str, Path]]
           ) -> dict[str, str]:
    """Run on new children of the snapshot's disks; drop the children nothing froze."""
    frozen = frozen_files(vmx, entries)
    changes = {}
    count = int(entry.get("numdisks", "0") or 0)
    for index in range(count):
        node, value = entry.get(f"disk{index}.node", ""), entry.get(f"disk{index}.filename", "")
        path = Path(value) if Path(value).is_absolute() else vmx.parent / value
        if node and value and fakedisk.capacity(path):
            changes[f"{node}.fileName"] = _as_written(value, new_child(path))
    for _value, old in before.values():
        if old not in frozen and fakedisk.parent_of(old) is not None:
            old.unlink(missing_ok=True)  # what ran since the snapshot: discarded
    return changes


def delete(vmx_keys: dict[str, str], vmx: Path, entry: dict[str, str],
           entries: list[dict[str, str]]) -> dict[str, str]:
    """Merge each of the snapshot's frozen disks with its one child; the .vmx changes."""
    if int(entry.get("numclones", "0") or 0):
        return {}  # a linked clone reads through these disks
    changes: dict[str, str] = {}
    disks = sorted(vmx.parent.glob("*.vmdk"))
    for index in range(int(entry.get("numdisks", "0") or 0)):
        value = entry.get(f"disk{index}.filename", "")
        frozen = Path(value) if Path(value).is_absolute() else vmx.parent / value
        children = [d for d in disks if d.is_file() and fakedisk.capacity(d)
                    and fakedisk.parent_of(d) == frozen]
        if not value or len(children) != 1:
            continue
        child = children[0]
        fakedisk.merge_into_parent(child)
        for grandchild in disks:
            if grandchild.is_file() and fakedisk.capacity(grandchild) \
                    and fakedisk.parent_of(grandchild) == child:
                fakedisk.write_descriptor(grandchild, parentFileNameHint=frozen.name)
        for other in entries:  # another snapshot that froze the child now freezes the merge
            for key, name in list(other.items()):
                if key.endswith(".filename") and key.startswith("disk") and name \
                        and (Path(name) if Path(name).is_absolute()
                             else vmx.parent / name) == child:
                    other[key] = _as_written(name, frozen)
        for key, current in disk_nodes(vmx_keys, vmx).items():
            if current[1] == child:
                changes[f"{key}.fileName"] = _as_written(current[0], frozen)
        child.unlink()
    return changes
