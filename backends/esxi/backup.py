"""Backups (beyond the module map): a machine's disks at one point in time, through export leases.

Off: ExportVm's lease serves the disks, downloaded as export downloads them
(appliances.download_disks: progress, lease keep-alive, Complete; Abort and nothing left on
failure or Cancel). Running or suspended: a temporary snapshot freezes the disks — ESXi moves
the machine onto new delta disks and leaves the ones it froze untouched —, the snapshot's own
export lease (VirtualMachineSnapshot.ExportSnapshot: vSphere API 5.5, privilege VApp.Export)
serves them, downloaded the same way, and the snapshot is removed again (RemoveSnapshot_Task,
consolidate: its delta disks merged back into the machine's), also when the copy fails or is
cancelled. The machine keeps running.

The snapshot holds no memory and is not quiesced, so the disks are crash-consistent (vSphere's
snapshot guide: without the memory state "the disks are crash consistent unless you quiesce
them"), as every other backend's running backup is. Quiescing has VMware Tools flush the
guest's file systems (VSS writers on Windows) first. It is not asked for, as it is not safe
to ask blindly: under heavy I/O the guest can stop responding while its writes are held
(VMware KB 5962168), and when the guest cannot quiesce, the snapshot fails — and with it a
backup that would have worked crash-consistently. Without Tools the flag is ignored anyway
(CreateSnapshot_Task's `quiesce`, vSphere API reference).

ESXi can track changed blocks (Changed Block Tracking: `changeTrackingEnabled` in the
machine's configuration, `QueryChangedDiskAreas` against a snapshot's change ids), but
DesktopVM does not use it yet: every capture is a full copy (`since` is ignored: never wrong,
only bigger). The lease serves each disk as a stream-optimized VMDK, which the backup core
checks and converts to qcow2 (qemu-img reads stream-optimized VMDKs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backends.esxi import appliances, inventory, snapshots, tasks
from backends.esxi.session import Session, vim
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    InvalidState,
    PowerState,
    Progress,
    Snapshot,
    UnsupportedOperation,
    scaled_progress,
)
from desktopvm.protocol.backup import (
    TEMPORARY_NOTE,
    Capture,
    CapturedDisk,
    refuse_leftovers,
    snapshot_names,
    temporary_name,
)
from desktopvm.protocol.undo import Undo

log = logging.getLogger(__name__)

LIVE = (PowerState.RUNNING, PowerState.SAVED)  # ESXi's suspended machine is SAVED
FROZEN = "Copying the disks as they were at the snapshot"  # said once the snapshot is taken
SNAPSHOT_SHARE = 0.05  # of the progress bar: taking the snapshot; removing it is as much


def capture(session: Session, machine_id: str, folder: Path, *, backend: str,
            writable: Callable[[], None], progress: Progress, cancel: CancelToken) -> Capture:
    """Copy every disk of the machine into `folder` (full copies; see the module text).

    `writable` raises when the host takes no changes (the free licence): a running machine's
    backup takes a snapshot, which such a host refuses."""
    info, devices = inventory.machine(session, machine_id, backend)
    spec, state = info.spec, info.summary.state
    # The lease serves the disks in the machine's device order [as export assumes: unproven
    # on a machine with disks on several controllers, docs/esxi.md]; devices.disks is in that
    # order, and says where each disk sits in the spec.
    slots = list(devices.disks)
    cancel.raise_if_cancelled()
    with Undo() as undo:
        if state in LIVE:
            require_frozen_by_snapshots(spec.name, devices.by_key,
                                        [devices.disks[s] for s in slots])
            refuse_leftovers(spec.name, snapshot_names(info.snapshots))
            writable()
            files = _through_snapshot(
                session, machine_id, folder, undo, name=spec.name, before=info.snapshots,
                disks=[(devices.disks[s], _path(spec, s)) for s in slots], progress=progress,
                cancel=cancel)
        elif state is PowerState.OFF:
            files = appliances.download_disks(
                session, lambda si: inventory.vm(si, machine_id).ExportVm(), folder / "disk",
                doing=f"Backing up {spec.name}", progress=progress, cancel=cancel)
            for file in files:
                undo.remove_file(file)
            _same_count(files, slots, spec.name)
        else:
            raise InvalidState(f"{spec.name} is {state.value}: wait until it has started or "
                               "stopped, then back it up")
    disks = []
    for file, (controller, port) in zip(files, slots, strict=True):
        disk = next(d for d in spec.storage[controller].disks if d.port == port)
        disks.append(CapturedDisk(controller=controller, port=port, device=disk.device,
                                  path=file, format=DiskFormat.VMDK,
                                  virtual_size=disk.size_bytes))
    progress(1.0, "Disks copied")
    # A suspended machine's disks were running too: what it had not written is in its memory.
    return Capture(spec=spec, disks=tuple(disks), point="", was_running=state in LIVE,
                   snapshots=info.snapshots)


def _path(spec: MachineSpec, slot: tuple[int, int]) -> str:
    """The datastore path of the disk at (controller, port)."""
    return next(d.path for d in spec.storage[slot[0]].disks if d.port == slot[1])


def require_frozen_by_snapshots(name: str, devices: dict[int, Any],
                                keys: Sequence[int]) -> None:
    """Refuse disks a snapshot does not freeze: independent ones (VirtualDiskMode:
    "independent_persistent"/"independent_nonpersistent" are "not affected by snapshots")
    and physical-mode raw device mappings (VirtualDiskRawDiskMappingVer1BackingInfo,
    compatibilityMode "physicalMode": "snapshots are not supported"), as VMware's backup
    refuses independent disks."""
    unfrozen = []
    for key in keys:
        backing = getattr(devices.get(key), "backing", None)
        mode = str(getattr(backing, "diskMode", "") or "")
        physical = str(getattr(backing, "compatibilityMode", "") or "") == "physicalMode"
        if mode.startswith("independent") or physical:
            unfrozen.append(str(getattr(backing, "fileName", "") or key))
    if unfrozen:
        raise UnsupportedOperation(
            f"{name} has disks that snapshots do not freeze (independent disks or physical "
            f"raw device mappings: {', '.join(unfrozen)}): shut it down to back it up")


def _through_snapshot(session: Session, machine_id: str, folder: Path, undo: Undo, *,
                      name: str, before: tuple[Snapshot, ...], disks: list[tuple[int, str]],
                      progress: Progress, cancel: CancelToken) -> list[Path]:
    """Temporary snapshot, download its disks through ExportSnapshot, remove it (on failure
    and cancel too: `undo`). `disks`: (device key, datastore path) of each disk, in device
    order, as read before the snapshot."""
    label = temporary_name()
    known = {s.id for root in before for s in root.walk()}
    undo.add(f"delete the snapshot {label!r}",
             lambda: _delete_leftovers(session, machine_id, label, known))
    progress(0.0, "Taking a temporary snapshot")
    # No memory: the disks are what is backed up (and a memory file would make the snapshot
    # slow and large). Not quiesced: see the module text.
    taken = snapshots.take(session, machine_id, label, description=TEMPORARY_NOTE,
                           include_memory=False, quiesce=False,
                           progress=scaled_progress(progress, 0.0, SNAPSHOT_SHARE),
                           cancel=cancel)
    if _frozen_disks(session, taken.id) != disks:
        raise CommandFailed(f"The disks of {name} changed while the backup started; back it "
                            "up again")
    progress(SNAPSHOT_SHARE, FROZEN)
    files = appliances.download_disks(
        session, lambda si: Session.bind(si, vim.vm.Snapshot, taken.id).ExportSnapshot(),
        folder / "disk", doing=f"Backing up {name}",
        progress=scaled_progress(progress, SNAPSHOT_SHARE, 1 - 2 * SNAPSHOT_SHARE),
        cancel=cancel)
    for file in files:
        undo.remove_file(file)
    _same_count(files, disks, name)
    progress(1 - SNAPSHOT_SHARE, "Deleting the temporary snapshot")
    try:
        _remove(session, taken.id)
    except BackendError as error:
        raise CommandFailed(
            f"ESXi could not delete the temporary snapshot {label!r} of {name} after copying "
            f"its disks: {error.summary}. The backup was not kept; if the snapshot is still "
            "listed, delete it (in DesktopVM or the vSphere Client)",
            details=error.details) from error
    return files


def _frozen_disks(session: Session, snapshot_id: str) -> list[tuple[int, str]]:
    """(device key, datastore path) of each disk the snapshot froze, in device order: its
    `config` is the machine's "when this snapshot was taken", its disk paths "the head of the
    disk chain that represents the disk at this given snapshot" (vim.vm.Snapshot)."""
    snapshot = session.run(lambda si: Session.bind(si, vim.vm.Snapshot, snapshot_id),
                           "Reading the snapshot")
    config = session.properties(snapshot, ["config"]).get("config")
    devices = config.hardware.device if config is not None else None
    return [(int(d.key), str(getattr(d.backing, "fileName", "") or ""))
            for d in devices or () if isinstance(d, vim.vm.device.VirtualDisk)]


def _same_count(files: Sequence[Path], disks: Sequence[object], name: str) -> None:
    """The lease served one file per disk (they are matched in device order)."""
    if len(files) != len(disks):
        raise CommandFailed(
            f"The host's export lease served {len(files)} disk file(s) of {name}, but it has "
            f"{len(disks)} disk(s), so the files cannot be matched to its disks. Trying again "
            "will not help while its disks stay as they are")


def _remove(session: Session, snapshot_id: str) -> None:
    """RemoveSnapshot_Task, consolidating, never cancelled: a half-merged snapshot must end."""
    tasks.run_task(session, lambda si: Session.bind(si, vim.vm.Snapshot, snapshot_id)
                   .RemoveSnapshot_Task(removeChildren=False, consolidate=True),
                   progress=lambda *_: None, cancel=CancelToken(),
                   stage="Deleting the temporary snapshot")


def _delete_leftovers(session: Session, machine_id: str, label: str, known: set[str]) -> None:
    """Undo: remove every snapshot of this name that the machine did not have before."""
    roots, _ = snapshots.tree(session, machine_id)
    for snapshot in [s for root in roots for s in root.walk()]:
        if snapshot.name == label and snapshot.id not in known:
            log.info("deleting the temporary snapshot %s of %s", label, machine_id)
            _remove(session, snapshot.id)
