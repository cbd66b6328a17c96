"""Create (a new .vmx and vmware-vdiskmanager disks), update by diff while off, delete files.

Create writes the folder `<default VM folder>/<name>/`, the disks (`vmware-vdiskmanager -c -t
0`: one growable file, self-contained), then `<name>.vmx` atomically, and lists the machine in
the library (library.add). Update writes only the keys the edit changed (plans.update_changes)
into the file read afresh, and never while VMware holds the machine's lock. Delete asks
nothing (the app asks first) and removes only the machine's own files: its .vmx and the files
VMware keeps beside it for it, its disks only when told, and the folder when that leaves it
empty.
"""

from __future__ import annotations

import contextlib
import glob
import re
from pathlib import Path

from backends.vmware import plans, vmx
from backends.vmware.chains import chain_files, file_key
from backends.vmware.disks import growths
from backends.vmware.inventory import Inventory, Record
from backends.vmware.plans import NewDisk, safe_stem, size_argument
from desktopvm.model import MachineSpec, changed_groups
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidState,
    Progress,
    scaled_progress,
)
from desktopvm.protocol.states import Operation, require
from desktopvm.protocol.undo import Undo

#: What VMware keeps beside a .vmx for that machine (never its disks): by the .vmx's stem.
OWN_SUFFIXES = (".vmx", ".vmxf", ".vmsd", ".nvram", ".vmx~", ".vmxf~", ".vmsd~", ".scoreboard")
OWN_PATTERNS = ("*.vmsn", "*.vmss", "*.vmem", "vmware*.log", "*.vmx.lck")


def new_folder(parent: Path, name: str) -> Path:
    """`<parent>/<name>`, or `<name> (2)`, … when taken."""
    stem = safe_stem(name)
    folder = parent / stem
    number = 2
    while folder.exists():
        folder = parent / f"{stem} ({number})"
        number += 1
    return folder


def make_disks(inventory: Inventory, disks: list[NewDisk], undo: Undo, *, progress: Progress,
               cancel: CancelToken) -> None:
    """Each disk with `vmware-vdiskmanager -c` (which refuses to overwrite a file)."""
    for number, disk in enumerate(disks):
        cancel.raise_if_cancelled()
        step = scaled_progress(progress, number / max(1, len(disks)), 1 / max(1, len(disks)))
        step(0.0, f"Creating {disk.path.name}")
        undo.remove_file(disk.path)
        label = f"Creating {disk.path.name}"

        def report(fraction: float, step: Progress = step, label: str = label) -> None:
            step(min(fraction, 0.99), label)

        inventory.vmrun.vdisk(["-c", "-s", size_argument(disk.size_bytes), "-a", disk.adapter,
                               "-t", "0", str(disk.path)], cancel=cancel, progress=report)
        step(0.99, f"Created {disk.path.name}")


def create(inventory: Inventory, spec: MachineSpec, hardware_version: int, *,
           progress: Progress, cancel: CancelToken) -> str:
    """Make the machine; its id (the .vmx path)."""
    installation = inventory.library.installation
    cancel.raise_if_cancelled()
    parent = installation.default_folder
    with Undo() as undo:
        progress(0.0, "Creating the machine's folder")
        cancel.raise_if_cancelled()
        folder = new_folder(parent, spec.name)
        folder.mkdir(parents=True)
        undo.remove_tree(folder)
        disks = plans.new_disks(spec, folder)
        make_disks(inventory, disks, undo, progress=scaled_progress(progress, 0.05, 0.85),
                   cancel=cancel)
        cancel.raise_if_cancelled()
        path = folder / f"{safe_stem(spec.name)}.vmx"
        document = plans.document_for(spec, folder, hardware_version,
                                      windows=installation.windows)
        vmx.save(path, document, name=spec.name)
        cancel.raise_if_cancelled()
        inventory.library.add(path, spec.name)
        undo.add("forget the machine", lambda: inventory.library.remove(path))
    progress(1.0, "Created")
    return str(path)


def update(inventory: Inventory, record: Record, old: MachineSpec, new: MachineSpec, *,
           progress: Progress, cancel: CancelToken) -> None:
    """Apply what changed between `old` and `new` (new disks are made first)."""
    groups = changed_groups(old, new)
    if not groups:
        return
    operation = Operation.CHANGE_NAME_NOTES if groups <= {"name", "notes"} \
        else Operation.CHANGE_HARDWARE
    require(operation, record.state, record.name)
    vmx.require_unlocked(record.vmx, record.name)
    folder = record.vmx.parent
    windows = inventory.library.installation.windows
    changes = plans.update_changes(old, new, folder, windows=windows)
    grow = growths(old, new)
    with Undo() as undo:
        make_disks(inventory, plans.new_disks(new, folder, old), undo,
                   progress=scaled_progress(progress, 0.0, 0.6), cancel=cancel)
        cancel.raise_if_cancelled()
        vmx.update(record.vmx, changes, name=record.name)
    # Last, and not cancellable: growing cannot be undone, and a killed -x could damage the
    # disk; the .vmx already says everything else.
    for path, size in grow:
        progress(0.7, f"Growing {path.name}")
        inventory.vmrun.vdisk(["-x", size_argument(size), str(path)])
    if "name" in groups:
        inventory.library.add(record.vmx, new.name)
    progress(1.0, "Saved")


def own_files(record: Record, *, with_disks: bool, windows: bool,
              shared: frozenset[Path] = frozenset()) -> list[Path]:
    """The files that belong to this machine alone (`shared`: disks other machines use).

    Paths are compared by chains.file_key: a chain can name a disk `../other/x.vmdk`, through
    a symlinked folder, or (Windows) in another case, and each is still that disk."""
    folder, stem = record.vmx.parent, record.vmx.stem
    files = [folder / (stem + suffix) for suffix in OWN_SUFFIXES]
    for pattern in OWN_PATTERNS:
        files += folder.glob(pattern if pattern.startswith("vmware") else
                             glob.escape(stem) + pattern)
    nvram = record.document.get("nvram")
    if nvram and "/" not in nvram and "\\" not in nvram:
        files.append(folder / nvram)
    if with_disks:
        others = {file_key(p, windows=windows) for p in shared}
        home = file_key(folder, windows=windows)
        for _, disk in record.spec(windows).all_disks():
            path = Path(disk.path)
            if path.suffix.lower() != ".vmdk" or file_key(path, windows=windows) in others:
                continue  # never a file that is not a disk, nor another machine's disk
            files.append(path)
            # With snapshots the .vmx names the newest delta: the disks it reads through
            # (its base among them) go too, where they are in the machine's folder and no
            # other machine reads them; and each one's deltas (<disk>-000001.vmdk, …).
            for link in chain_files(path, windows=windows):
                if file_key(link.parent, windows=windows) != home or \
                        file_key(link, windows=windows) in others:
                    break
                files.append(link)
                files += folder.glob(glob.escape(link.stem) + "-0*.vmdk")
    return [f for f in dict.fromkeys(files) if f.is_file()]


def others_disks(inventory: Inventory, record: Record) -> frozenset[Path]:
    """The disk files the library's other machines name (read from their .vmx files), with
    the parents each reads through; compare them by chains.file_key (own_files does)."""
    from backends.vmware.translate import to_spec
    from backends.vmware.vmx import VmxDocument, VmxError

    windows = inventory.library.installation.windows
    this = file_key(record.vmx, windows=windows)
    used: set[Path] = set()
    for path in inventory.library.paths():
        other = Path(path)
        if file_key(other, windows=windows) == this:
            continue
        try:
            spec = to_spec(VmxDocument.read(other), other)
        except (OSError, VmxError):
            continue
        for _, disk in spec.all_disks():  # with the parents each reads through
            used.update(chain_files(Path(disk.path), windows=windows))
    return frozenset(used)


def linked_clones(vmx_path: Path) -> tuple[list[Path], int]:
    """The linked clones built on this machine's disks, as its .vmsd records them: every
    `snapshotK.cloneN` back-reference (research §A.4: vmrun clone adds `snapshotN.clone0`
    and `numClones` to the source), whether or not the clone's .vmx can be found now, and
    the number `snapshotK.numClones` adds up to (a clone counted but not named)."""
    from backends.vmware.vmx import VmxDocument, VmxError

    try:
        document = VmxDocument.read(vmx_path.with_suffix(".vmsd"))
    except (OSError, VmxError):
        return [], 0
    keys = document.all_keys()
    named = [Path(document.get(k)) for k in keys
             if re.fullmatch(r"snapshot\d+\.clone\d+", k.lower()) and document.get(k)]
    counted = 0
    for key in keys:
        if re.fullmatch(r"snapshot\d+\.numclones", key.lower()):
            with contextlib.suppress(ValueError):
                counted += max(0, int(document.get(key)))
    return named, counted


def forget_clone(inventory: Inventory, clone_key: str) -> None:
    """After deleting a machine: the `.vmsd` of a machine it was a linked clone of drops its
    back-reference (the clone is gone, not on a drive that is not connected), so that
    machine's disks can be deleted later. A source VMware holds open is left as it is (VMware
    rewrites its .vmsd), and then refuses until the entry goes [unverified: whether
    Workstation drops the back-reference itself when it deletes a clone]."""
    from backends.vmware.vmx import VmxDocument, VmxError, lock_folders, save

    windows = inventory.library.installation.windows
    for listed in inventory.library.paths():
        source = Path(listed)
        path = source.with_suffix(".vmsd")
        try:
            document = VmxDocument.read(path)
        except (OSError, VmxError):
            continue
        kept: dict[str, list[str]] = {}
        dropped = False
        for key in document.all_keys():
            found = re.fullmatch(r"(snapshot\d+)\.clone\d+", key, re.IGNORECASE)
            if found:
                value = document.get(key)
                if file_key(Path(value), windows=windows) == clone_key:
                    dropped = True
                else:
                    kept.setdefault(found.group(1), []).append(value)
                document.remove(key)
        if not dropped or lock_folders(source):
            continue
        for key in document.all_keys():
            if re.fullmatch(r"snapshot\d+\.numclones", key.lower()):
                document.set(key, str(len(kept.get(key.split(".")[0], []))))
        for snapshot, clones in kept.items():  # renumbered: cloneN counts up from 0 again
            for number, value in enumerate(clones):
                document.set(f"{snapshot}.clone{number}", value)
        with contextlib.suppress(OSError, BackendError):
            save(path, document, name=source.stem)


def require_no_clones(record: Record) -> None:
    """Refuse deleting the disks linked clones read through, found or not (a clone on a
    drive that is not connected would be broken when it comes back)."""
    named, counted = linked_clones(record.vmx)
    keep = "Delete the clones first, or delete the machine and keep its disks"
    missing = [p for p in named if not p.is_file()]
    if missing:
        raise InvalidState(
            f"Cannot delete the disks of {record.name}: VMware recorded linked clone(s) built "
            f"on them at {', '.join(str(p) for p in missing)}, not found now — on a drive that "
            f"is not connected? {keep} (a clone that is really gone leaves its record in "
            f"{record.vmx.with_suffix('.vmsd').name})")
    if named:
        raise InvalidState(
            f"Cannot delete the disks of {record.name}: the linked clone(s) "
            f"{', '.join(repr(c.stem) for c in named)} are built on them. {keep}")
    if counted:
        raise InvalidState(
            f"Cannot delete the disks of {record.name}: its snapshot database counts "
            f"{counted} linked clone(s) built on them without saying where they are. Delete "
            "the machine and keep its disks")


def delete(inventory: Inventory, record: Record, *, delete_disks: bool,
           progress: Progress, cancel: CancelToken) -> None:
    """Remove the machine's files (disks only when told) and forget it."""
    require(Operation.DELETE, record.state, record.name)
    vmx.require_unlocked(record.vmx, record.name)
    if delete_disks:
        require_no_clones(record)
    cancel.raise_if_cancelled()
    progress(None, f"Deleting {record.name}")
    windows = inventory.library.installation.windows
    shared = others_disks(inventory, record) if delete_disks else frozenset()
    files = own_files(record, with_disks=delete_disks, windows=windows, shared=shared)
    clone_key = file_key(record.vmx, windows=windows)
    inventory.library.remove(record.vmx)
    for path in files:
        path.unlink(missing_ok=True)
    forget_clone(inventory, clone_key)
    with contextlib.suppress(OSError):
        record.vmx.parent.rmdir()  # only when nothing else is left in it
    progress(1.0, "Deleted")
