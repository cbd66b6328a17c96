"""Disk images: showmediuminfo, createmedium, modifymedium --resizebyte, clonemedium."""

from __future__ import annotations

from pathlib import Path

from backends.virtualbox.disksize import image_capacity
from backends.virtualbox.execution import LONG_TIMEOUT, remove_media
from backends.virtualbox.parse import megabytes_to_bytes, parse_blocks, parse_pairs
from backends.virtualbox.plans import FORMAT_NAMES, create_disk_step
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.model import DiskFormat
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    DiskInfo,
    Progress,
    UnsupportedOperation,
)


def _absolute(path: Path) -> str:
    """Absolute, so a file name can never be read as an option."""
    return str(path.expanduser().resolve())


def info(vbox: VBoxManage, path: Path) -> DiskInfo:
    """`showmediuminfo disk <file>`: format, capacity, size on disk, parent."""
    result = vbox.run(["showmediuminfo", "disk", _absolute(path)])
    pairs = parse_pairs(result.stdout)
    parent = pairs.get("Parent UUID", "")
    location = pairs.get("Location", _absolute(path))
    return DiskInfo(
        path=location,
        format=pairs.get("Storage format", "").lower(),
        # Exact from the image header; showmediuminfo rounds down to whole MBytes.
        virtual_size=image_capacity(location) or megabytes_to_bytes(pairs.get("Capacity", "")),
        actual_size=megabytes_to_bytes(pairs.get("Size on disk", "")),
        backing_file="" if parent in ("", "base") else parent,
        details=dict(pairs),
    )


def create(vbox: VBoxManage, path: Path, disk_format: DiskFormat, size_bytes: int, *,
           progress: Progress, cancel: CancelToken) -> DiskInfo:
    """A new, dynamically allocated disk image; refuses to overwrite a file."""
    target = _absolute(path)
    if Path(target).exists():
        raise CommandFailed(f"{target} already exists; a new disk will not overwrite it")
    step = create_disk_step(target, disk_format, size_bytes)
    try:
        vbox.run(step.argv, timeout=LONG_TIMEOUT, cancel=cancel,
                 on_progress=lambda f, _run: progress(f, step.stage))
    except BaseException:
        remove_media(vbox, [target])
        raise
    return info(vbox, Path(target))


def resize(vbox: VBoxManage, path: Path, size_bytes: int, *, progress: Progress,
           cancel: CancelToken) -> DiskInfo:
    """Grow a disk (`modifymedium --resizebyte`); VirtualBox cannot shrink one."""
    current = info(vbox, path)
    if size_bytes < current.virtual_size:
        raise UnsupportedOperation("VirtualBox can only make disks bigger")
    vbox.run(["modifymedium", "disk", _absolute(path), f"--resizebyte={size_bytes}"],
             timeout=LONG_TIMEOUT, cancel=cancel,
             on_progress=lambda f, _run: progress(f, "Resizing the disk"))
    return info(vbox, path)


def convert(vbox: VBoxManage, source: Path, target: Path, disk_format: DiskFormat, *,
            progress: Progress, cancel: CancelToken) -> DiskInfo:
    """`clonemedium disk <source> <target> --format=...`; a failed copy is removed."""
    if disk_format not in FORMAT_NAMES:
        raise UnsupportedOperation(f"VirtualBox cannot write {disk_format.value.upper()} disks")
    destination = _absolute(target)
    if Path(destination).exists():
        raise CommandFailed(f"{destination} already exists; choose another file name")
    try:
        vbox.run(["clonemedium", "disk", _absolute(source), destination,
                  f"--format={FORMAT_NAMES[disk_format]}"], timeout=LONG_TIMEOUT, cancel=cancel,
                 on_progress=lambda f, _run: progress(f, "Converting the disk"))
    except BaseException:
        remove_media(vbox, [destination])
        raise
    return info(vbox, Path(destination))


def _inside(path: str, folder: str) -> bool:
    """Is `path` in `folder` (either path syntax)?"""
    base = folder.rstrip("/\\")
    return bool(base) and path.startswith(base) and path[len(base):len(base) + 1] in ("/", "\\")


def borrowed_by_others(vbox: VBoxManage, folder: str, attached: list[str]) -> list[str]:
    """Disk images of other machines that hang from this machine's disks (linked clones).

    One `list hdds`. What `unregistervm --delete` deletes is the images in the machine's folder
    (its disks and snapshot differencing images) and the ones it has attached from elsewhere;
    a medium outside that set whose parent is in it belongs to a linked clone. (A linked
    clone's own parents are the source's: deleting the clone does not touch them.) Real 7.2 refuses
    `unregistervm --delete` then only after it has unregistered the machine and deleted part of
    its files ("Cannot close medium ... because it has 1 child media").
    """
    media = {b["UUID"]: b for b in parse_blocks(vbox.run(["list", "hdds"]).stdout)
             if b.get("UUID")}
    own = {uuid for uuid, b in media.items()
           if _inside(b.get("Location", ""), folder) or b.get("Location", "") in attached}
    return sorted(b.get("Location", uuid) for uuid, b in media.items()
                  if uuid not in own and b.get("Parent UUID") in own)
