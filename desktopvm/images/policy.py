"""The rules for disks from outside: self-contained, the declared format, plain files only."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path, PurePosixPath
from typing import IO

from desktopvm.images.detect import inspect_image
from desktopvm.images.facts import ImageFacts, UnsafeImage
from desktopvm.model.devices import DiskFormat
from desktopvm.model.machine import MachineSpec

_WHY = "a disk from outside must be self-contained, or it could copy this computer's files " \
       "(or a network resource) into the machine"


def disk_format(facts: ImageFacts) -> DiskFormat:
    """The DiskFormat of an inspected image (an ISO is raw data to a hypervisor)."""
    if facts.format == "iso":
        return DiskFormat.RAW
    try:
        return DiskFormat(facts.format)
    except ValueError:
        raise UnsafeImage(f"a {facts.format.removeprefix('other:')} image, a format "
                          "DesktopVM does not take") from None


def judge(facts: ImageFacts, label: str, declared: DiskFormat | None = None) -> ImageFacts:
    """`facts` if the image may be used as it is, else UnsafeImage saying why, in one line."""
    if facts.format.startswith("other:"):
        raise UnsafeImage(f"{label} is a {facts.format.removeprefix('other:')} image, a format "
                          "DesktopVM does not take from outside; refused")
    if facts.references:
        raise UnsafeImage(f"{label} refers to {facts.references[0]}; {_WHY}; refused")
    if facts.problems:
        raise UnsafeImage(f"{label}: {facts.problems[0]}; refused")
    if declared is not None and disk_format(facts) is not declared:
        raise UnsafeImage(f"{label} is declared as {declared.value} but its contents are a "
                          f"{facts.format} image; refused (a disk's format must match what "
                          "it is)")
    return facts


def check_untrusted_file(file: IO[bytes], *, size: int, label: str,
                         declared: DiskFormat | None = None) -> ImageFacts:
    """Inspect and judge an image read from an open file (e.g. a member inside an OVA)."""
    return judge(inspect_image(file, size=size, name=label), label, declared)


def check_untrusted(path: Path, declared: DiskFormat | None = None, *, label: str = "",
                    local_extents: bool = False) -> ImageFacts:
    """Inspect and judge the image at `path`, a regular file (symlinks are resolved first).

    With `local_extents`, a VMDK text descriptor (VMware's split disks) is accepted when every
    extent is a plain file in the descriptor's own folder and is itself self-contained; the
    facts then describe the whole disk. Without it, a descriptor is refused like any other
    image that names other files.
    """
    label = label or str(path)
    resolved = path.expanduser().resolve()
    _require_regular(resolved, label)
    facts = _inspect_path(resolved, label)
    if local_extents and facts.format == "vmdk" and facts.references:
        facts = _check_extents(resolved, facts, label)
    return judge(facts, label, declared)


def check_package_disk(folder: Path, href: str, declared: DiskFormat | None, *,
                       single_link: bool = True) -> ImageFacts:
    """Inspect and judge the disk `href` of an unpacked package (an OVF and its files).

    The file and every folder on its way must be real (no symbolic links), lie inside
    `folder`, and the file must have no other hard link: a package can name only its own
    files. Messages name the disk by `href`; the caller names the package. Backup sets pass
    `single_link=False`: tools that rotate backup drives (rsync --link-dest, Time Machine)
    hard-link unchanged files between copies, and a set's files are its own either way.
    """
    label = href
    root = folder.resolve()
    path = root
    for part in PurePosixPath(href).parts:
        path = path / part
        try:
            info = path.lstat()
        except OSError as error:
            raise UnsafeImage(f"{label} is missing from the package ({error.strerror})") \
                from error
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeImage(f"{label} is a symbolic link; a package may contain only its "
                              "own files; refused")
    if not path.resolve().is_relative_to(root):
        raise UnsafeImage(f"{label} leads outside the package; refused")
    info = _require_regular(path, label)
    if single_link and info.st_nlink > 1:
        raise UnsafeImage(f"{label} is a hard link to another file; a package may contain "
                          "only its own files; refused")
    return judge(_inspect_path(path, label), label, declared)


def _require_regular(path: Path, label: str) -> os.stat_result:
    try:
        info = path.stat()
    except OSError as error:
        raise UnsafeImage(f"{label} cannot be read: {error.strerror}") from error
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeImage(f"{label} is not a regular file (a device, folder or pipe); refused")
    return info


def _inspect_path(path: Path, label: str) -> ImageFacts:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise UnsafeImage(f"{label} cannot be read: {error.strerror}") from error
    with os.fdopen(descriptor, "rb") as file:
        return inspect_image(file, size=os.fstat(file.fileno()).st_size, name=label)


def _check_extents(descriptor: Path, facts: ImageFacts, label: str) -> ImageFacts:
    """A split VMDK whose extents are all plain, self-contained files beside the descriptor."""
    for name in facts.extents:
        if not name:
            continue  # a ZERO extent (a nameless non-ZERO one is a reference: refused below)
        if name != PurePosixPath(name).name or "\\" in name or ":" in name or name in (".", ".."):
            raise UnsafeImage(f"{label} names the extent {name!r} outside its own folder; "
                              f"{_WHY}; refused")
        extent = descriptor.parent / name
        try:
            info = extent.lstat()
        except OSError as error:
            raise UnsafeImage(f"{label}: its extent {name!r} cannot be read "
                              f"({error.strerror})") from error
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeImage(f"{label}: its extent {name!r} is not a plain file (a link, "
                              f"device or folder); {_WHY}; refused")
        part = _inspect_path(extent, f"{label}: extent {name!r}")
        if part.format == "vmdk" and part.references:
            raise UnsafeImage(f"{label}: its extent {name!r} refers to {part.references[0]}; "
                              f"{_WHY}; refused")
        if part.format not in ("vmdk", "raw", "iso"):
            raise UnsafeImage(f"{label}: its extent {name!r} is a {part.format} image, not VMDK "
                              "data; refused")
    remaining = tuple(r for r in facts.references if not r.startswith("extent "))
    return dataclasses.replace(facts, references=remaining)


def new_outside_disks(new: MachineSpec, old: MachineSpec | None = None) -> list[str]:
    """Refusals (one line each) for the existing disks `new` attaches that `old` did not have.

    For backends whose tool opens the attached file itself (VBoxManage storageattach): each
    disk brought from outside must pass `check_untrusted` (VMware split disks allowed).
    """
    own = {Path(d.path).expanduser().resolve() for _, d in old.all_disks()} if old else set()
    refusals = []
    for _, disk in new.all_disks():
        if not disk.existing or not disk.path:
            continue
        path = Path(disk.path).expanduser()
        if path.resolve() in own:
            continue
        try:
            check_untrusted(path, local_extents=True, label=path.name)
        except UnsafeImage as error:
            refusals.append(str(error))
    return refusals
