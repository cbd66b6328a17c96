"""Backups (beyond the module map): a machine's disks copied at one point in time, by qemu-img.

Off or suspended: each disk's current state — its whole snapshot chain read as one disk — is
written by `qemu-img convert` into the backup's folder as one qcow2 with no backing file.
QEMU's VMDK driver follows VMware's own links: `vmdk_parent_open` (qemu/qemu `block/vmdk.c`)
reads `parentFileNameHint` from the descriptor (embedded in a hosted sparse file, or the text
descriptor of a split one) and opens that file as the backing disk, format vmdk — proved here
with the real qemu-img on the stand-in's deltas (tests/backends/vmware/test_backup.py). Before
qemu-img opens anything, the chain is walked here as VMware would open it, and refused in words
where the copy could be wrong: a missing parent, a `parentCID` that is not the parent's `CID`
("The parent virtual disk has been modified since the child was created": Broadcom KB
1007969; QEMU itself checks it only when it writes), links of different sizes (same KB), a
disk type QEMU's driver does not open (its list: hosted sparse files, and descriptors of type
monolithicFlat, vmfs, vmfsSparse, seSparse, twoGbMaxExtentSparse, twoGbMaxExtentFlat),
or a machine VMware encrypted (QEMU cannot decrypt it).

Running or paused: a temporary snapshot freezes the disks — `vmrun snapshot` moves the running
machine onto new delta disks, `<disk>-00000N.vmdk`, whose parents are the disks it ran on
(KB 1018832; the fixture .vmsd) — the frozen parents are copied, and the snapshot is deleted
again (`vmrun deleteSnapshot` merges the deltas back), also when a copy fails or is
cancelled. Reading the parents while the machine runs is safe: once a snapshot is taken
"the original base disk is no longer written to, but is still read from" (VMware Fusion
Blog, "VMware Fusion 201: Snapshots"); qemu-img only reads them. Each copied chain's top `CID`
is read before and after the copy: VMware changes a disk's CID the first time its content
changes (VMDK 1.1 specification, "CID"), so a copy that something wrote meanwhile fails
instead of being kept. vmrun names snapshots by name only, so a taken name is refused, and
`.vmx` and `.vmsd` are only read (inventory, vmsd): Workstation rewrites a running machine's.
A temporary snapshot already there (a crashed backup's, or one running now) refuses the
backup and is left alone. `vmrun snapshot` is not cancelled while it runs: killing vmrun
does not stop Workstation, which could finish the snapshot after the clean-up looked.

No changed-block tracking: VMware's (`QueryChangedDiskAreas`, `ctkEnabled`) is a vSphere API
call on ESXi and vCenter, not a vmrun command (the 17.0 help: listSnapshots, snapshot,
deleteSnapshot, revertToSnapshot only), so every capture is full and `since` is ignored.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from backends.vmware import disks, qemu_img, snapshots, vmsd
from backends.vmware.chains import SECTOR, chain_of, parent_path, read_layer
from backends.vmware.inventory import Inventory, Record
from backends.vmware.plans import device_key
from backends.vmware.vmrun import DISK_TIMEOUT, START_TIMEOUT
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    InvalidState,
    PowerState,
    Progress,
    UnsupportedOperation,
)
from desktopvm.protocol.backup import Capture, CapturedDisk, refuse_leftovers, temporary_name
from desktopvm.protocol.states import LIVE, OFFLINE
from desktopvm.protocol.undo import Undo

log = logging.getLogger(__name__)

#: vmrun cannot give a snapshot a description, and snapshots._describe leaves the .vmsd of a
#: machine VMware holds open alone, so the note the other backends write there is in the name.
NAME_NOTE = "(temporary; delete it if the backup was interrupted)"
#: qemu-img on Windows opens a disk file sharing only reads (block/file-win32.c raw_open:
#: CreateFile(..., FILE_SHARE_READ, ...)), which fails while vmware-vmx has it open to write:
#: "Could not open '<file>': " and Windows' text for ERROR_SHARING_VIOLATION (English here).
SHARING_VIOLATION = re.compile(r"Could not open '([^']+)'.*(being used by another process|"
                               r"sharing violation)", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One disk of the machine: its place in the spec, its .vmx node and its file now."""

    controller: int  # index into spec.storage
    port: int
    device: int
    node: str  # "scsi0:0", "ide1:0"
    path: Path
    label: str  # "scsi0 port 0" (for messages)


# -- reading the disks ----------------------------------------------------------------------

def sources(spec: MachineSpec) -> list[Source]:
    """The machine's disks, each with the .vmx node it sits on (translate.storage's naming)."""
    found = []
    for index, controller in enumerate(spec.storage):
        for disk in controller.disks:
            node = device_key(controller.name, disk.port, disk.device)
            found.append(Source(index, disk.port, disk.device, node, Path(disk.path),
                                f"{controller.name} port {disk.port}"))
    return found


def copy_disk(source: Source, folder: Path, undo: Undo, *, compress: bool, windows: bool,
              progress: Progress, cancel: CancelToken, low: float, share: float
              ) -> CapturedDisk:
    """`source`'s state, its chain flattened, as one qcow2 in `folder`; the CID checked after."""
    cancel.raise_if_cancelled()
    layers = chain_of(source.path, windows=windows)
    target = folder / f"disk-{source.controller}-{source.port}-{source.device}.qcow2"
    if target.exists():  # never let the clean-up below delete a file we did not write
        raise CommandFailed(f"{target} already exists; back up into an empty folder")
    undo.remove_file(target)
    progress(low, f"Copying the disk on {source.label}")
    try:
        qemu_img.convert(source.path, DiskFormat.VMDK, target, DiskFormat.QCOW2,
                         compress=compress, cancel=cancel,
                         progress=lambda f: progress(low + share * f,
                                                     f"Copying the disk on {source.label}"))
    except CommandFailed as error:
        held = SHARING_VIOLATION.search(f"{error.summary}\n{error.stderr or ''}") \
            if windows else None
        if held:
            raise CommandFailed(f"VMware keeps {held.group(1)} open while the machine runs on "
                                "Windows; shut it down to back it up",
                                details=error.summary) from error
        raise
    if read_layer(source.path).cid != layers[0].cid:
        raise CommandFailed(f"{source.path.name} changed while it was copied (was the machine "
                            "started?); back it up again")
    size = disks.info(target).virtual_size
    if size != layers[0].sectors * SECTOR:
        raise CommandFailed(f"The copy of {source.path.name} holds {size} bytes, not the "
                            f"{layers[0].sectors * SECTOR} the disk has")
    return CapturedDisk(controller=source.controller, port=source.port, device=source.device,
                        path=target, format=DiskFormat.QCOW2, virtual_size=size)


def copy_all(found: list[Source], folder: Path, undo: Undo, *, compress: bool, windows: bool,
             progress: Progress, cancel: CancelToken, start: float = 0.0, end: float = 1.0
             ) -> tuple[CapturedDisk, ...]:
    share = (end - start) / max(1, len(found))
    return tuple(copy_disk(source, folder, undo, compress=compress, windows=windows,
                           progress=progress, cancel=cancel, low=start + n * share, share=share)
                 for n, source in enumerate(found))


# -- the capture ------------------------------------------------------------------------------

def capture(inventory: Inventory, machine_id: str, folder: Path, *, compress: bool = True,
            progress: Progress, cancel: CancelToken) -> Capture:
    """Copy every disk of the machine into `folder` (full copies; see the module text)."""
    if not qemu_img.find():
        raise BackendUnavailable(
            "Backing up VMware machines needs qemu-img (QEMU's disk tool): it reads VMware's "
            "disks and their snapshot chains into the backup",
            install_hint="Install QEMU's tools (Linux: the qemu-utils or qemu-img package; "
                         "Windows and macOS: QEMU from qemu.org)")
    record = inventory.record(machine_id)
    windows = inventory.library.installation.windows
    spec = disks.with_sizes(record.spec(windows))
    require_readable(record)
    tree, _current = snapshots.list_tree(inventory, record)
    found = sources(spec)
    if record.state in LIVE:
        copied = capture_through_snapshot(inventory, record, found, folder, compress=compress,
                                          progress=progress, cancel=cancel)
    elif record.state in OFFLINE:
        with Undo() as undo:
            copied = copy_all(found, folder, undo, compress=compress, windows=windows,
                              progress=progress, cancel=cancel)
    else:
        raise InvalidState(f"Wait until {record.name} has started or stopped, then back it up")
    progress(1.0, "Disks copied")
    # A suspended machine's disks were running too: what it had not written is in its memory.
    return Capture(spec=spec, disks=copied, point="",
                   was_running=record.state in (*LIVE, PowerState.SAVED), snapshots=tree)


def require_readable(record: Record) -> None:
    """Refuse a machine whose disks VMware encrypted (`encryption.keySafe` in the .vmx, unless
    only the vTPM is: `vmx.encryptionType = "partial"`, research §A.1)."""
    document = record.document
    if "encryption.keySafe" in document and \
            document.get("vmx.encryptionType").strip().lower() != "partial":
        raise UnsupportedOperation(f"{record.name} is encrypted by VMware; its disks cannot be "
                                   "read outside VMware. Remove the encryption in VMware's "
                                   "settings to back it up here")


def capture_through_snapshot(inventory: Inventory, record: Record, found: list[Source],
                             folder: Path, *, compress: bool, progress: Progress,
                             cancel: CancelToken) -> tuple[CapturedDisk, ...]:
    """Temporary snapshot, copy the disks it froze, delete it (on failure and cancel too)."""
    snapshots.require_snapshots(inventory)
    independent = [s.label for s in found
                   if record.document.get(f"{s.node}.mode").lower().startswith("independent")]
    if independent:  # vSphere's VirtualDiskMode: independent disks are "not affected by
        # snapshots", so a snapshot would not freeze them
        raise UnsupportedOperation(
            f"{record.name} has independent disks ({', '.join(independent)}), which snapshots "
            "do not freeze: shut it down to back it up")
    entries, _ = vmsd.read(record.vmx)
    refuse_leftovers(record.name, [e.name for e in entries])
    name = f"{temporary_name()} {NAME_NOTE}"
    snapshots.check_name(record, name)  # vmrun finds snapshots by name only
    known = {e.uid for e in entries}
    windows = inventory.library.installation.windows
    with Undo() as undo:
        undo.add(f"delete the snapshot {name!r}",
                 lambda: _delete_leftovers(inventory, record, name, known))
        progress(0.0, "Taking a temporary snapshot")
        # Not cancelled while it runs: killing vmrun does not stop Workstation, which may
        # finish the snapshot after the undo looked for it (leaving the machine on a delta,
        # with a memory file as large as its RAM). It is short; a cancel is seen right after,
        # when the undo finds the snapshot and deletes it.
        cancel.raise_if_cancelled()
        inventory.vmrun.run("snapshot", str(record.vmx), name, timeout=START_TIMEOUT,
                            what=record.name)
        cancel.raise_if_cancelled()
        frozen = frozen_disks(inventory, record, found)
        copied = copy_all(frozen, folder, undo, compress=compress, windows=windows,
                          progress=progress, cancel=cancel, start=0.1, end=0.9)
        progress(0.9, "Deleting the temporary snapshot")
        try:
            delete_snapshot(inventory, record, name)
        except BackendError as error:
            raise CommandFailed(
                f"VMware could not delete the temporary snapshot {name!r} of {record.name} "
                f"after copying its disks: {error.summary}. The backup was not kept; if the "
                "snapshot is still listed, delete it in VMware", details=error.details) from error
    return copied


def frozen_disks(inventory: Inventory, record: Record, before: list[Source]) -> list[Source]:
    """The disks the snapshot froze: the parents of the deltas the .vmx names now.

    After `vmrun snapshot` each disk node names a new delta whose `parentFileNameHint` is the
    file the node named before (the fixture .vmsd: snapshotK.diskJ.fileName is the frozen
    disk while the .vmx names `…-00000N.vmdk`). Read through the inventory, never written.
    """
    windows = inventory.library.installation.windows
    now = {(s.controller, s.port, s.device): s
           for s in sources(inventory.record(str(record.vmx)).spec(windows))}
    for source in before:
        child = now.get((source.controller, source.port, source.device))
        parent = None
        if child is not None and child.path != source.path:
            layer = read_layer(child.path)
            if layer.parent_hint:
                parent = parent_path(layer, windows)
        if parent is None or not _same_file(parent, source.path):
            raise CommandFailed(f"The disks of {record.name} changed while the backup started "
                                f"({source.label}); back it up again")
    return before


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def delete_snapshot(inventory: Inventory, record: Record, name: str) -> None:
    """`vmrun deleteSnapshot`, never cancelled: merging the deltas back must finish."""
    inventory.vmrun.run("deleteSnapshot", str(record.vmx), name, timeout=DISK_TIMEOUT,
                        what=record.name)


def _delete_leftovers(inventory: Inventory, record: Record, name: str, known: set[str]) -> None:
    """Undo: delete the snapshot of this name if it is there and was not there before."""
    entries, _ = vmsd.read(record.vmx)
    if any(e.name == name and e.uid not in known for e in entries):
        log.info("deleting the temporary snapshot %s of %s", name, record.name)
        delete_snapshot(inventory, record, name)
