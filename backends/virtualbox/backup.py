"""Backups (beyond the module map): a machine's disks copied at one point in time, `clonemedium`.

Off, aborted or saved: each disk's current state is cloned directly (a differencing image is
cloned flattened, with its whole chain: real 7.2). Running or paused: a temporary snapshot
freezes the disks — VirtualBox moves the running machine onto new differencing images and
leaves the media it froze untouched — the frozen media are cloned, and the snapshot is deleted
again (its disks merged), also when a copy fails or is cancelled. The machine keeps running.

VirtualBox keeps no record of changed blocks, so every capture is a full copy (`since` is
ignored: never wrong, only bigger). The copies are VirtualBox's own formats (VDI, VMDK, VHD as
the disk was); the backup core converts them to qcow2 when it wants that. `clonemedium`
registers each copy in VirtualBox's media registry; it is closed at once (the file stays), and
a copy that failed or was cancelled is closed and deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from backends.virtualbox.disksize import image_capacity
from backends.virtualbox.execution import CLEANUP_TIMEOUT, LONG_TIMEOUT, remove_media
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.parse import find_uuid_after, parse_pairs
from backends.virtualbox.reader import MachineRecord
from backends.virtualbox.snapshots import list_tree
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.model import DiskFormat
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    InvalidState,
    PowerState,
    Progress,
)
from desktopvm.protocol.backup import (
    TEMPORARY_NOTE,
    Capture,
    CapturedDisk,
    refuse_leftovers,
    snapshot_names,
    temporary_name,
)
from desktopvm.protocol.states import LIVE, OFFLINE
from desktopvm.protocol.undo import Undo

log = logging.getLogger(__name__)

# The formats clonemedium writes; a disk keeps its own (qcow2 is no VirtualBox format).
FORMATS = {DiskFormat.VDI: "VDI", DiskFormat.VMDK: "VMDK", DiskFormat.VHD: "VHD"}


@dataclass(frozen=True)
class Source:
    """One attached disk: where it sits in the spec and the medium to copy."""

    controller: int  # index into spec.storage
    port: int
    device: int
    medium: str  # the medium's UUID
    format: DiskFormat
    label: str  # "SATA port 0" (for messages)


def attached_disks(record: MachineRecord) -> list[Source]:
    """The machine's hard disks with the UUID of the medium each slot has now."""
    sources = []
    for index, controller in enumerate(record.spec.storage):
        for disk in controller.disks:
            label = f"{controller.name} port {disk.port} device {disk.device}"
            medium = record.info.get(f"{controller.name}-ImageUUID-{disk.port}-{disk.device}")
            if not medium:
                raise CommandFailed(f"VirtualBox did not say which disk image is attached to "
                                    f"{label} of {record.spec.name}")
            sources.append(Source(index, disk.port, disk.device, medium.lower(),
                                  disk.format if disk.format in FORMATS else DiskFormat.VDI,
                                  label))
    return sources


def capture(inventory: Inventory, machine_id: str, folder: Path, *, progress: Progress,
            cancel: CancelToken) -> Capture:
    """Copy every disk of the machine into `folder` (full copies; see the module text)."""
    record = inventory.record(machine_id)
    if record.state in LIVE:
        disks = capture_through_snapshot(inventory, record, folder, progress=progress,
                                         cancel=cancel)
    elif record.state in OFFLINE:
        with Undo() as undo:
            disks = clone_all(inventory.vbox, attached_disks(record), folder, undo,
                              progress=progress, cancel=cancel)
    else:
        raise InvalidState(f"Wait until {record.spec.name} has started or stopped, then back "
                           "it up")
    progress(1.0, "Disks copied")
    # A saved machine's disks were running too: what it had not written is in its memory.
    return Capture(spec=record.spec, disks=disks, point="",
                   was_running=record.state in (*LIVE, PowerState.SAVED),
                   snapshots=record.snapshots)


def clone_all(vbox: VBoxManage, sources: list[Source], folder: Path, undo: Undo, *,
              progress: Progress, cancel: CancelToken, start: float = 0.0,
              end: float = 1.0) -> tuple[CapturedDisk, ...]:
    """`clonemedium` each source into `folder`, then take the copy out of the media registry."""
    disks = []
    step = (end - start) / max(1, len(sources))
    for number, source in enumerate(sources):
        cancel.raise_if_cancelled()
        low = start + number * step
        target = folder / (f"disk-{source.controller}-{source.port}-{source.device}."
                           f"{source.format.extension}")
        progress(low, f"Copying the disk on {source.label}")
        if target.exists():  # never let the clean-up below delete a file we did not write
            raise CommandFailed(f"{target} already exists; back up into an empty folder")
        # Registered first: a cancelled clone may leave a partial, registered file behind.
        undo.add(f"remove {target}", partial(remove_media, vbox, [str(target)]))

        def report(fraction: float, _run: int, low: float = low, label: str = source.label,
                   ) -> None:
            progress(low + step * fraction, f"Copying the disk on {label}")

        vbox.run(["clonemedium", "disk", source.medium, str(target),
                  f"--format={FORMATS[source.format]}"], timeout=LONG_TIMEOUT, cancel=cancel,
                 retry_locked=False, on_progress=report)
        # clonemedium registered the copy; the backup's file must not stay in VirtualBox.
        vbox.run(["closemedium", "disk", str(target)], timeout=CLEANUP_TIMEOUT)
        disks.append(CapturedDisk(controller=source.controller, port=source.port,
                                  device=source.device, path=target, format=source.format,
                                  virtual_size=image_capacity(str(target))))
    return tuple(disks)


def capture_through_snapshot(inventory: Inventory, record: MachineRecord, folder: Path, *,
                             progress: Progress,
                             cancel: CancelToken) -> tuple[CapturedDisk, ...]:
    """Temporary snapshot, clone the media it froze, delete it (on failure and cancel too).

    Works in every state VirtualBox takes snapshots in (off too: the real-tool tests run it
    on an off machine); `capture` uses it for running and paused machines.
    """
    vbox = inventory.vbox
    refuse_leftovers(record.spec.name, snapshot_names(record.snapshots))
    before = attached_disks(record)
    name = temporary_name()
    with Undo() as undo:
        undo.add(f"delete the snapshot {name!r}",
                 lambda: _delete_leftovers(inventory, record, name))
        progress(0.0, "Taking a temporary snapshot")
        argv = ["snapshot", record.uuid, "take", name, f"--description={TEMPORARY_NOTE}"]
        if record.state is PowerState.RUNNING:
            argv.append("--live")  # keeps the machine running while its memory is saved
        result = vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel,
                          on_progress=lambda f, _run: progress(0.1 * f, "Taking a temporary "
                                                               "snapshot"))
        inventory.forget(record.uuid)
        snapshot_id = find_uuid_after("UUID:", result.stdout)
        frozen = frozen_media(inventory, record, before)
        disks = clone_all(vbox, frozen, folder, undo, progress=progress, cancel=cancel,
                          start=0.1, end=0.9)
        progress(0.9, "Deleting the temporary snapshot")
        try:
            delete_snapshot(vbox, record.uuid, snapshot_id or name)
        except BackendError as error:
            raise CommandFailed(
                f"VirtualBox could not delete the temporary snapshot {name!r} of "
                f"{record.spec.name} after copying its disks: {error.summary}. The backup was "
                "not kept; if the snapshot is still listed, delete it in VirtualBox",
                details=error.details) from error
        inventory.forget(record.uuid)
    return disks


def frozen_media(inventory: Inventory, record: MachineRecord,
                 before: list[Source]) -> list[Source]:
    """The media the snapshot froze: the parents of the differencing images now attached.

    After `snapshot take` each slot holds a new differencing image whose parent is the medium
    the slot had before (real 7.2: showvminfo's `<ctl>-ImageUUID-<p>-<d>` changes to the
    child; `showmediuminfo` of the child names the old one as `Parent UUID`).
    """
    now = {(s.controller, s.port, s.device): s for s in
           attached_disks(inventory.reader.read(record.uuid))}
    frozen = []
    for source in before:
        child = now.get((source.controller, source.port, source.device))
        parent = ""
        if child is not None:
            info = parse_pairs(inventory.vbox.run(["showmediuminfo", "disk", child.medium]).stdout)
            parent = info.get("Parent UUID", "").lower()
        if parent != source.medium:
            raise CommandFailed(f"The disks of {record.spec.name} changed while the backup "
                                f"started ({source.label}); back it up again")
        frozen.append(source)
    return frozen


def delete_snapshot(vbox: VBoxManage, uuid: str, snapshot: str) -> None:
    """`snapshot delete`, never cancelled: a half-merged snapshot must be finished."""
    vbox.run(["snapshot", uuid, "delete", snapshot], timeout=LONG_TIMEOUT)


def _delete_leftovers(inventory: Inventory, record: MachineRecord, name: str) -> None:
    """Undo: delete every snapshot of this name that the machine did not have before."""
    known = {s.id for root in record.snapshots for s in root.walk()}
    roots, _ = list_tree(inventory, record.uuid)
    for snapshot in [s for root in roots for s in root.walk()]:
        if snapshot.name == name and snapshot.id not in known:
            log.info("deleting the temporary snapshot %s of %s", name, record.spec.name)
            delete_snapshot(inventory.vbox, record.uuid, snapshot.id)
    inventory.forget(record.uuid)
