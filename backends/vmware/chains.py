"""VMDK snapshot chains: what each link's descriptor says and the parents it reads through."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from desktopvm.images.vmdk import looks_like_descriptor, parse_descriptor
from desktopvm.protocol import CommandFailed, UnsupportedOperation

SECTOR = 512
MAX_DESCRIPTOR = 64 * 1024
MAX_LINKS = 256
#: The descriptor types QEMU's vmdk_open_desc_file opens (block/vmdk.c); hosted sparse files
#: (the "KDMV" header: monolithicSparse, streamOptimized) open through vmdk_open_sparse.
QEMU_DESCRIPTOR_TYPES = {"monolithicflat", "vmfs", "vmfssparse", "sesparse",
                         "twogbmaxextentsparse", "twogbmaxextentflat"}


@dataclass(frozen=True)
class Layer:
    """One VMDK of a chain, as its descriptor says."""

    path: Path
    create_type: str
    cid: str
    parent_cid: str
    parent_hint: str
    sectors: int


def read_layer(path: Path) -> Layer:
    """The descriptor of one VMDK (embedded in a hosted sparse file, or a text file)."""
    try:
        with path.open("rb") as file:
            head = file.read(MAX_DESCRIPTOR)
            if head[:4] == b"KDMV":
                sectors = int.from_bytes(head[12:20], "little")
                offset = int.from_bytes(head[28:36], "little")
                size = int.from_bytes(head[36:44], "little")
                file.seek(offset * SECTOR)
                text = file.read(min(size * SECTOR, MAX_DESCRIPTOR)).split(b"\0", 1)[0]
                fallback = "monolithicSparse"
            elif looks_like_descriptor(head) and len(head) < MAX_DESCRIPTOR:
                text, sectors, fallback = head, 0, ""
            else:
                raise CommandFailed(f"{path.name} is not a VMware disk QEMU's VMDK driver "
                                    "reads (no sparse header, no descriptor)")
    except FileNotFoundError:
        raise CommandFailed(f"The disk {path} is missing") from None
    except OSError as error:
        raise CommandFailed(f"Cannot read the disk {path}: {error.strerror or error}") from error
    keys: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            keys.setdefault(name.strip().lower(), value.strip().strip('"'))
    if any(key.startswith("encryption.") for key in keys):
        raise UnsupportedOperation(f"{path.name} is encrypted by VMware; qemu-img cannot "
                                   "read it")
    descriptor = parse_descriptor(text)
    return Layer(path, keys.get("createtype", fallback), keys.get("cid", "").lower(),
                 keys.get("parentcid", "ffffffff").lower(), keys.get("parentfilenamehint", ""),
                 sectors or descriptor.sectors)


def parent_path(layer: Layer, windows: bool) -> Path:
    """Where a delta's parent is: an absolute hint as written, a relative one beside it.

    Normalised (`..` folded), so that `first/../second/x.vmdk` is the same Path as
    `second/x.vmdk`: machines.own_files compares these to decide what it may delete."""
    hint = layer.parent_hint
    if Path(hint).is_absolute() or (windows and PureWindowsPath(hint).is_absolute()):
        return Path(os.path.normpath(hint))
    return Path(os.path.normpath(layer.path.parent / hint))


def chain_of(path: Path, *, windows: bool = False) -> list[Layer]:
    """`path` and every parent it reads through (the base last), checked as VMware opens it."""
    layers = [read_layer(path)]
    while layers[-1].parent_hint:
        child = layers[-1]
        if len(layers) >= MAX_LINKS:
            raise CommandFailed(f"The snapshot chain of {path.name} is longer than "
                                f"{MAX_LINKS} disks (or loops)")
        parent = read_layer(parent_path(child, windows))
        if parent.cid != child.parent_cid:
            raise CommandFailed(
                f"The disk chain of {path.name} is broken: {parent.path.name} was modified "
                f"after {child.path.name} was made from it (CID {parent.cid} is not the "
                f"parentCID {child.parent_cid}); VMware cannot open it either (Broadcom KB "
                "1007969)")
        if parent.sectors != child.sectors:
            raise CommandFailed(f"The disk chain of {path.name} is broken: "
                                f"{child.path.name} and its parent {parent.path.name} differ "
                                "in size")
        layers.append(parent)
    for layer in layers:
        if layer.create_type.lower() not in QEMU_DESCRIPTOR_TYPES | {"monolithicsparse",
                                                                      "streamoptimized"}:
            raise UnsupportedOperation(
                f"{layer.path.name} is a VMware disk of type {layer.create_type or 'unknown'}"
                ", which qemu-img cannot read (QEMU's VMDK driver opens monolithicSparse, "
                "streamOptimized, twoGbMaxExtentSparse/Flat, monolithicFlat, vmfs, vmfsSparse "
                "and seSparse disks); convert it in VMware first")
    return layers


def chain_files(path: Path, *, windows: bool = False) -> list[Path]:
    """`path` and the parents it names, as far as they can be read (never raises: for
    deciding which files go with a disk, where a broken link only ends the walk)."""
    files = [path]
    try:
        layer = read_layer(path)
        while layer.parent_hint and len(files) < MAX_LINKS:
            parent = parent_path(layer, windows)
            if parent in files:
                break
            files.append(parent)
            layer = read_layer(parent)
    except (CommandFailed, UnsupportedOperation):
        pass
    return files


def file_key(path: Path, *, windows: bool = False) -> str:
    """One spelling per file, for telling whether two paths name the same disk: symlinks
    resolved and `..` folded (a folder reached through a link is the same folder), and on
    Windows compared as the host does (inventory.same_path: any case, either slash)."""
    try:
        spelled = os.path.realpath(path)
    except (OSError, ValueError):
        spelled = os.path.normpath(path)
    return spelled.replace("\\", "/").lower() if windows else spelled
