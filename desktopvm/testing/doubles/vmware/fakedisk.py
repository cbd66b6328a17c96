"""The VMware stand-in's disks: real hosted sparse VMDKs (stdlib only), with VMware's delta links.

Every disk the stand-in makes is a real `monolithicSparse` file that QEMU's qemu-img and qemu-io
read and write, laid out as QEMU's own `vmdk_init_extent` lays one out (qemu/qemu
`block/vmdk.c`: header, embedded descriptor at sector 1 for 20 sectors, redundant grain
directory and its tables, then the grain directory and its tables, grains of 128 sectors, 512
entries per table). A delta ("child", "redo log": VDDK's "Disk Chaining and Redo Logs") is
such a file whose descriptor names its parent:

- `parentFileNameHint="<parent>"` — relative names are the child's folder's, as QEMU's
  `vmdk_parent_open` reads them and VMware writes them (Broadcom KB 1027887 lays a chain out
  with `grep -A2 parentFile`);
- `parentCID=<the parent's CID>` and a `CID` of its own; a base disk has `parentCID=ffffffff`
  (Broadcom KB 1018832, KB 1007969: a parent whose CID no longer matches is "modified since
  the child was created" and the chain does not open). QEMU checks the same pair before it
  copies a parent's grain into the child (`vmdk_is_cid_valid`).

The content rules VMware has and the stand-in keeps: the CID changes the first time a disk's
content changes (the VMDK 1.1 specification, §3.1.2 "CID"; QEMU's `vmdk_write_cid` on the first
write), so merging a child into its parent gives the parent the child's CID — children of the
child, which now read through the parent, keep matching.
"""

from __future__ import annotations

import os
import random
import re
import struct
from pathlib import Path

SECTOR = 512
GRAIN_SECTORS = 128  # QEMU's and VMware's default grain: 64 KiB
GRAIN = GRAIN_SECTORS * SECTOR
GTES = 512  # entries per grain table
DESCRIPTOR_SECTORS = 20
_HEADER = struct.Struct("<4sIIQQQQIQQQB4sH")
_KEY = re.compile(r'^(\w+)\s*=\s*"?([^"\n]*)"?\s*$', re.MULTILINE)


def new_cid() -> str:
    """A random content id, as VMware makes one (8 hex digits, never the "no parent" value)."""
    return f"{random.randrange(1, 0xFFFFFFFE):08x}"


def descriptor_text(path: Path, sectors: int, *, cid: str, create_type: str,
                    parent_cid: str = "ffffffff", parent_hint: str = "") -> str:
    """The embedded descriptor: CID first (QEMU finds the first "CID" in the text)."""
    hint = f'parentFileNameHint="{parent_hint}"\n' if parent_hint else ""
    return (f"# Disk DescriptorFile\nversion=1\nCID={cid}\nparentCID={parent_cid}\n{hint}"
            f'createType="{create_type}"\n\n# Extent description\n'
            f'RW {sectors} SPARSE "{path.name}"\n\n# The Disk Data Base\n#DDB\n\n'
            'ddb.adapterType = "lsilogic"\nddb.virtualHWVersion = "21"\n')


def create(path: Path, sectors: int, *, stream: bool = False, parent: Path | None = None,
           parent_hint: str = "") -> None:
    """A new, empty sparse disk of `sectors` (a child of `parent` when given)."""
    grains = -(-sectors // GRAIN_SECTORS)
    gt_sectors = GTES * 4 // SECTOR
    gt_count = max(1, -(-grains // GTES))
    gd_sectors = -(-gt_count * 4 // SECTOR)
    rgd = 1 + DESCRIPTOR_SECTORS
    gd = rgd + gd_sectors + gt_sectors * gt_count
    first_grain = -(-(gd + gd_sectors + gt_sectors * gt_count) // GRAIN_SECTORS) * GRAIN_SECTORS
    flags = 3 | ((1 << 16) | (1 << 17) if stream else 0)  # newline check, redundant GD
    header = _HEADER.pack(b"KDMV", 3 if stream else 1, flags, sectors, GRAIN_SECTORS, 1,
                          DESCRIPTOR_SECTORS, GTES, rgd, gd, first_grain, 0, b"\n \r\n",
                          1 if stream else 0)
    data = bytearray(first_grain * SECTOR)
    data[:len(header)] = header
    parent_cid = read_descriptor(parent).get("CID", "ffffffff") if parent else "ffffffff"
    text = descriptor_text(path, sectors, cid=new_cid(), parent_cid=parent_cid,
                           parent_hint=parent_hint,
                           create_type="streamOptimized" if stream else "monolithicSparse")
    data[SECTOR:SECTOR + len(text)] = text.encode()
    for directory in (rgd, gd):
        for index in range(gt_count):
            struct.pack_into("<I", data, directory * SECTOR + index * 4,
                             directory + gd_sectors + index * gt_sectors)
    path.write_bytes(bytes(data))


def _header(path: Path) -> tuple[int, ...]:
    with path.open("rb") as file:
        head = file.read(_HEADER.size)
    if head[:4] != b"KDMV":
        raise ValueError(f"{path.name} is not a hosted sparse VMDK")
    return _HEADER.unpack(head)


def capacity(path: Path) -> int:
    """The disk's size in sectors (0 for a file that is no sparse VMDK)."""
    try:
        return _header(path)[3]
    except (OSError, ValueError):
        return 0


def read_descriptor(path: Path) -> dict[str, str]:
    """The embedded descriptor's keys (CID, parentCID, parentFileNameHint, createType)."""
    _magic, _v, _f, _cap, _g, offset, size, *_rest = _header(path)
    with path.open("rb") as file:
        file.seek(offset * SECTOR)
        text = file.read(size * SECTOR).split(b"\0", 1)[0].decode("utf-8", "replace")
    return {m.group(1): m.group(2) for m in _KEY.finditer(text)}


def write_descriptor(path: Path, **changes: str) -> None:
    """Set descriptor keys in place (`parentFileNameHint=""` removes the link)."""
    keys = read_descriptor(path)
    keys.update(changes)
    text = descriptor_text(path, capacity(path), cid=keys.get("CID", new_cid()),
                           create_type=keys.get("createType", "monolithicSparse"),
                           parent_cid=keys.get("parentCID", "ffffffff"),
                           parent_hint=keys.get("parentFileNameHint", ""))
    _magic, _v, _f, _cap, _g, offset, size, *_rest = _header(path)
    with path.open("r+b") as file:
        file.seek(offset * SECTOR)
        file.write(text.encode().ljust(size * SECTOR, b"\0"))


def parent_of(path: Path) -> Path | None:
    """The file a delta's parentFileNameHint names (relative: the delta's folder), or None."""
    hint = read_descriptor(path).get("parentFileNameHint", "")
    if not hint:
        return None
    return Path(hint) if Path(hint).is_absolute() else path.parent / hint


def _tables(path: Path) -> tuple[list[int], list[int]]:
    """(grain table sectors of the primary directory, of the redundant one)."""
    _m, _v, flags, sectors, grain, _do, _ds, gtes, rgd, gd, *_rest = _header(path)
    if grain != GRAIN_SECTORS or gtes != GTES:
        raise ValueError(f"{path.name}: the stand-in reads only its own grain layout")
    grains = -(-sectors // grain)
    count = max(1, -(-grains // gtes))
    data = path.read_bytes()
    primary = list(struct.unpack_from(f"<{count}I", data, gd * SECTOR))
    backup = list(struct.unpack_from(f"<{count}I", data, rgd * SECTOR)) if flags & 2 else []
    return primary, backup


def allocated(path: Path) -> dict[int, int]:
    """grain number -> its sector in the file, for every grain the disk itself holds."""
    primary, _backup = _tables(path)
    data = path.read_bytes()
    found = {}
    for table_index, table in enumerate(primary):
        entries = struct.unpack_from(f"<{GTES}I", data, table * SECTOR)
        for entry_index, sector in enumerate(entries):
            if sector > 1:  # 0: unallocated; 1: a zeroed grain (not written by the stand-in)
                found[table_index * GTES + entry_index] = sector
    return found


def read_grain(path: Path, sector: int) -> bytes:
    with path.open("rb") as file:
        file.seek(sector * SECTOR)
        return file.read(GRAIN).ljust(GRAIN, b"\0")


def write_grains(path: Path, grains: dict[int, bytes]) -> None:
    """Write whole grains into `path`: in place where allocated, else appended (both tables)."""
    if not grains:
        return
    primary, backup = _tables(path)
    have = allocated(path)
    with path.open("r+b") as file:
        end = -(-file.seek(0, os.SEEK_END) // GRAIN) * GRAIN
        for number, data in sorted(grains.items()):
            sector = have.get(number)
            if sector is None:
                sector, end = end // SECTOR, end + GRAIN
                for directory in (primary, backup):
                    if directory:
                        file.seek(directory[number // GTES] * SECTOR + (number % GTES) * 4)
                        file.write(struct.pack("<I", sector))
            file.seek(sector * SECTOR)
            file.write(data)


def chain(path: Path) -> list[Path]:
    """`path`, its parent, its parent's parent … (the base last)."""
    found = [path]
    while (parent := parent_of(found[-1])) is not None and len(found) < 256:
        found.append(parent)
    return found


def flatten(source: Path, target: Path, sectors: int = 0) -> None:
    """`target`: one base disk holding what `source` reads through its whole chain."""
    create(target, sectors or capacity(source))
    grains: dict[int, bytes] = {}
    for layer in reversed(chain(source)):  # the base first, each child over it
        grains.update({n: read_grain(layer, s) for n, s in allocated(layer).items()})
    limit = -(-capacity(target) // GRAIN_SECTORS)
    write_grains(target, {n: d for n, d in grains.items() if n < limit})


def merge_into_parent(child: Path) -> Path:
    """Write the child's grains into its parent; the parent takes the child's CID. The parent."""
    parent = parent_of(child)
    if parent is None:
        raise ValueError(f"{child.name} has no parent to merge into")
    write_grains(parent, {n: read_grain(child, s) for n, s in allocated(child).items()})
    write_descriptor(parent, CID=read_descriptor(child)["CID"])
    return parent
