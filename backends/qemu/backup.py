"""Backups of QEMU machines: point-in-time copies of the disks, full or only what changed.

One way for every state: a QMP `transaction` that, in the same instant, adds a persistent
dirty bitmap (the new point) to each qcow2 disk and starts a `blockdev-backup` of it into a
new qcow2 target — `sync: full`, or `sync: bitmap` with the previous point's bitmap. A
running (or paused) machine's own QEMU does it while the guest goes on; for a machine that is
off, qemu-storage-daemon opens the disks and answers the same commands, so incremental
backups work off too, and the bitmaps live in the qcow2 files across starts and stops.

The targets name no backing file: an incremental target's unallocated clusters mean
"unchanged since the previous backup" (whoever restores puts the chain together).

A UEFI machine's variable store and its TPM state go along whole (firmware_state.py): a
running machine's store is one more job of the same transaction.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from backends.qemu import backup_points, firmware_state, qmp, snapshots, storage_daemon
from backends.qemu.img_args import qemu_format
from backends.qemu.inventory import MachineStore
from backends.qemu.layout import MachineFiles
from backends.qemu.qemu_img import QemuImg
from desktopvm.model import Disk, DiskFormat, MachineSpec
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    InvalidState,
    OperationCancelled,
    PowerState,
    Progress,
    TimedOut,
    scaled_progress,
    states,
)
from desktopvm.protocol.backup import Capture, CapturedDisk, FirmwareState

log = logging.getLogger(__name__)

JOB = "dvm-backup-"  # job ids and target node names: a killed capture's are found by them
TARGET = "dvm-backup-target-"
POLL = 0.1
Connect = Callable[[], AbstractContextManager[qmp.Qmp]]  # a new short QMP session
CANCEL_TIMEOUT = 30.0


@dataclass
class _Disk:
    """One disk of the machine and where its copy goes."""

    index: int
    controller: int
    disk: Disk
    target: Path
    node: str = ""  # the format node holding the disk's bitmaps (set once connected)
    size: int = 0
    position: int = 0  # the disk's index on its controller
    incremental: bool = False
    firmware: bool = False  # the UEFI variable store: copied whole, as raw, no point

    @property
    def drive(self) -> str:
        """The drive id plans.py gives it (the daemon uses it as the node name)."""
        if self.firmware:
            return firmware_state.NVRAM_DRIVE
        return f"disk{self.controller}-{self.position}"

    @property
    def job(self) -> str:
        return f"{JOB}{self.index}"

    @property
    def target_node(self) -> str:
        return f"{TARGET}{self.index}"

    @property
    def qcow2(self) -> bool:
        """A disk that carries our points (the variable store never does)."""
        return self.disk.format is DiskFormat.QCOW2 and not self.firmware


def _disks(spec: MachineSpec, folder: Path) -> list[_Disk]:
    found: list[_Disk] = []
    for ci, controller in enumerate(spec.storage):
        for di, disk in enumerate(controller.disks):
            index = len(found)
            found.append(_Disk(index, ci, disk, folder.absolute() / f"disk{index}.qcow2",
                               position=di))
    return found


def capture(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, folder: Path, *,
            since: str, compress: bool, progress: Progress, cancel: CancelToken) -> Capture:
    """The machine's disks copied into `folder` (exists, empty) as they are right now."""
    if not folder.is_dir() or any(folder.iterdir()):
        raise CommandFailed(f"Backups are written into an empty folder; {folder} is not one")
    spec = store.spec(files)
    state = store.state(files)
    book = snapshots.load(files, qemu_img)
    disks = _disks(spec, folder)
    if state in states.OFFLINE:  # a running machine's start did it already
        firmware_state.recover(files)  # not a set without the state a killed restore left
    nvram = firmware_state.nvram_target(spec, files)
    tpm: list[Path] = []
    cancel.raise_if_cancelled()
    try:
        point = _capture_in_state(store, qemu_img, files, folder, spec=spec, state=state,
                                  disks=disks, nvram=nvram, tpm=tpm, since=since,
                                  compress=compress, pending_loadvm=bool(book.pending_loadvm),
                                  progress=progress, cancel=cancel)
    except BaseException:
        _remove_firmware_copies(folder)
        raise
    progress(1.0, "Backed up")
    captured = tuple(CapturedDisk(controller=d.controller, port=d.disk.port,
                                  device=d.disk.device, path=d.target, format=DiskFormat.QCOW2,
                                  virtual_size=d.size, incremental=d.incremental)
                     for d in disks)
    stored = folder / firmware_state.NVRAM_COPY
    firmware = FirmwareState(nvram=stored if nvram is not None else None, tpm=tuple(tpm))
    # Off: the disks are clean, unless QEMU died (aborted) or the memory they belong to is
    # saved apart (saved state): then, as for a running machine, only crash-consistent.
    return Capture(spec=spec, disks=captured, point=point,
                   was_running=state is not PowerState.OFF, snapshots=book.tree(),
                   firmware=firmware)


def _capture_in_state(store: MachineStore, qemu_img: QemuImg, files: MachineFiles,
                      folder: Path, *, spec: MachineSpec, state: PowerState,
                      disks: list[_Disk], nvram: Path | None, tpm: list[Path], since: str,
                      compress: bool,
                      pending_loadvm: bool, progress: Progress, cancel: CancelToken) -> str:
    """The copy for the machine's state: its QEMU (running, paused), the storage daemon or
    qemu-img (off); the point set, and the firmware state's copies made (`tpm` filled)."""
    if state in states.LIVE:
        run = store.require_running(files, "back up")
        store_copy = [] if nvram is None else [_Disk(
            len(disks), -1, Disk(path=str(nvram), format=DiskFormat.QCOW2),
            folder.absolute() / firmware_state.NVRAM_COPY, firmware=True)]

        def at_point() -> None:
            # Right after the transaction that fixed the disks' point in time: swtpm's
            # state as it last wrote it (see firmware_state.py on why not more exact).
            tpm.extend(firmware_state.copy_tpm(spec, files, folder))

        return _copy(partial(qmp.connect, run.qmp), qemu_img, disks + store_copy,
                     since=since, new_point=True, compress=compress, progress=progress,
                     cancel=cancel, at_point=at_point)
    if state not in states.OFFLINE:
        raise InvalidState(f"Cannot back up {spec.name} while it is {state.value}; wait "
                           "until it has started or stopped")
    # Off: nothing writes the store or the TPM's files while we hold the machine's lock.
    if nvram is not None:
        firmware_state.copy_nvram(qemu_img, files, folder, cancel)
    tpm.extend(firmware_state.copy_tpm(spec, files, folder))
    return _capture_off(qemu_img, disks, since=since, compress=compress,
                        pending_loadvm=pending_loadvm, progress=progress, cancel=cancel)


def _remove_firmware_copies(folder: Path) -> None:
    """What a failed capture copied of the firmware state (the disks' jobs remove theirs)."""
    (folder / firmware_state.NVRAM_COPY).unlink(missing_ok=True)
    shutil.rmtree(folder / firmware_state.TPM_COPY, ignore_errors=True)


def _capture_off(qemu_img: QemuImg, disks: list[_Disk], *, since: str, compress: bool,
                 pending_loadvm: bool, progress: Progress, cancel: CancelToken) -> str:
    """The disks of a machine that is off: through the storage daemon, or qemu-img."""
    # A memory snapshot restored while off is loaded at the next start (-loadvm), which
    # QEMU refuses while the disks carry bitmaps: no new point until it has started.
    if storage_daemon.find_daemon() is None:
        return _convert(qemu_img, disks, compress, progress, cancel)
    images = [storage_daemon.ServedImage(d.drive, Path(d.disk.path),
                                         qemu_format(d.disk.format)) for d in disks]
    with storage_daemon.serving(images) as sock:
        return _copy(partial(qmp.connect, sock), qemu_img, disks, since=since,
                     new_point=not pending_loadvm, compress=compress, progress=progress,
                     cancel=cancel)


def forget(store: MachineStore, qemu_img: QemuImg, files: MachineFiles) -> None:
    """Remove our points from the machine's disks: the next backup is a full one."""
    spec = store.spec(files)
    state = store.state(files)
    drives = [d.drive for d in _disks(spec, files.folder)]
    if state in states.LIVE:
        run = store.require_running(files, "forget the backup points of")
        with qmp.connect(run.qmp) as session:
            backup_points.forget_running(session, drives)
    elif state in states.OFFLINE:
        backup_points.forget_off(qemu_img, [Path(d.path) for _, d in spec.all_disks()
                                            if d.format is DiskFormat.QCOW2])
    else:
        raise InvalidState(f"Cannot forget the backup points of {spec.name} while it is "
                           f"{state.value}")


# -- the copy over QMP (machine's QEMU or storage daemon) ---------------------------------------
def _copy(connect: Connect, qemu_img: QemuImg, disks: list[_Disk], *, since: str,
          new_point: bool, compress: bool, progress: Progress, cancel: CancelToken,
          at_point: Callable[[], None] = lambda: None) -> str:
    """Run the backup through QMP; the new point's name ("" if none was set).

    `at_point` runs right after the transaction has fixed the point in time.

    Each step opens its own short connection (`connect`): a QMP socket serves one client at
    a time, and a backup of a large disk must not lock the app's status and console calls
    out of a running machine for its whole length.
    """
    with connect() as session:
        _sweep(session)  # what a killed capture left in this QEMU
        nodes = backup_points.node_names(session, [d.drive for d in disks])
        found = backup_points.bitmaps(session, nodes.values())
        sizes = _sizes(session, nodes.values())
    point = backup_points.new_point() if new_point and any(d.qcow2 for d in disks) else ""
    for d in disks:
        d.node = nodes[d.drive]
        d.size = sizes[d.node]
        # Incremental only from a point that recorded every write since (a disk that was
        # replaced, or whose QEMU was killed, has no such bitmap): else full, never wrong.
        d.incremental = bool(since) and not d.firmware and \
            since.startswith(backup_points.PREFIX) and any(
                b.name == since and b.usable for b in found[d.node])
    added: list[_Disk] = []
    started = False
    try:
        for d in disks:
            qemu_img.create(d.target, _target_format(d), d.size, cancel=cancel)
        with connect() as session:
            for d in disks:
                session.execute("blockdev-add", {
                    "driver": qemu_format(_target_format(d)), "node-name": d.target_node,
                    "file": {"driver": "file", "filename": str(d.target)}})
                added.append(d)
            cancel.raise_if_cancelled()
            session.execute("transaction", {"actions": _actions(disks, since, point,
                                                                compress)})
            started = True
        at_point()
        _wait(connect, disks, progress, cancel)
        with connect() as session:
            for d in disks:
                session.execute("job-dismiss", {"id": d.job})
            for d in disks:
                session.execute("blockdev-del", {"node-name": d.target_node})
            # Only the newest point is kept: older ones only slow the guest's writes down.
            backup_points.remove_ours(session, [d.node for d in disks], keep=point)
    except BaseException:
        _undo(connect, added, point if started else "", [d.node for d in disks])
        for d in disks:
            d.target.unlink(missing_ok=True)
        raise
    return point


def _actions(disks: list[_Disk], since: str, point: str,
             compress: bool) -> list[dict[str, Any]]:
    """One transaction: every new bitmap and every backup job start at the same instant."""
    actions: list[dict[str, Any]] = []
    for d in disks:
        if point and d.qcow2:
            actions.append({"type": "block-dirty-bitmap-add", "data": {
                "node": d.node, "name": point, "persistent": True}})
        backup: dict[str, Any] = {"job-id": d.job, "device": d.node, "target": d.target_node,
                                  "sync": "full", "compress": compress and not d.firmware,
                                  "auto-dismiss": False}
        if d.incremental:
            # "never": the previous point stays as it was whatever happens to this job, so
            # a failed or cancelled backup can simply be run again from it.
            backup.update({"sync": "bitmap", "bitmap": since, "bitmap-mode": "never"})
        actions.append({"type": "blockdev-backup", "data": backup})
    return actions


def _target_format(d: _Disk) -> DiskFormat:
    """Disks are copied into qcow2 (sparse, compressed, incremental); the variable store
    into the raw image a set keeps of it."""
    return DiskFormat.RAW if d.firmware else DiskFormat.QCOW2


def _sizes(session: qmp.Qmp, nodes: Any) -> dict[str, int]:
    wanted = set(nodes)
    return {str(n["node-name"]): int(n["image"]["virtual-size"])
            for n in session.execute("query-named-block-nodes", {"flat": True})
            if n.get("node-name") in wanted}


def _wait(connect: Connect, disks: list[_Disk], progress: Progress,
          cancel: CancelToken) -> None:
    """Until every job has concluded; progress from the jobs' offsets."""
    ids = {d.job: d for d in disks}
    stage = "Copying what changed" if any(d.incremental for d in disks) else \
        "Backing up the disks"
    while True:
        with connect() as session:
            jobs = {str(j["id"]): j for j in session.execute("query-jobs") if j["id"] in ids}
        missing = set(ids) - set(jobs)
        if missing:
            raise CommandFailed("A backup job ended unexpectedly",
                                details=f"jobs gone: {sorted(missing)}")
        done = sum(int(j.get("current-progress", 0)) for j in jobs.values())
        total = sum(int(j.get("total-progress", 0)) for j in jobs.values())
        progress(done / total if total else None, stage)
        if all(j["status"] == "concluded" for j in jobs.values()):
            break
        if cancel.wait(POLL):
            raise OperationCancelled()
    for job_id, job in jobs.items():
        if job.get("error"):
            disk = ids[job_id]
            what = "the UEFI variable store" if disk.firmware else f"disk {disk.index + 1}"
            raise CommandFailed(f"QEMU could not back up {what} "
                                f"({Path(disk.disk.path).name}): {job['error']}",
                                details=str(job))
    cancel.raise_if_cancelled()  # finished while the cancel was on its way


def _undo(connect: Connect, added: list[_Disk], point: str, nodes: list[str]) -> None:
    """Take back what a failed or cancelled capture made in QEMU: jobs, targets, the point."""
    try:
        with connect() as session:
            _end_jobs(session, {d.job for d in added})
            for d in added:
                with contextlib.suppress(BackendError):
                    session.execute("blockdev-del", {"node-name": d.target_node})
            if point:
                for node, found in backup_points.bitmaps(session, nodes).items():
                    if any(b.name == point for b in found):
                        session.execute("block-dirty-bitmap-remove",
                                        {"node": node, "name": point})
    except BackendError as error:  # e.g. the machine was shut down or died meanwhile
        log.warning("could not clean up after a backup: %s", error.summary)


def _end_jobs(session: qmp.Qmp, ids: set[str]) -> None:
    """Cancel the jobs among `ids` that still run, wait for them to end, dismiss them."""
    for job in session.execute("query-jobs"):
        if job["id"] in ids and job["status"] not in ("concluded", "null", "aborting"):
            with contextlib.suppress(BackendError):
                session.execute("job-cancel", {"id": job["id"]})
    deadline = time.monotonic() + CANCEL_TIMEOUT
    while True:
        jobs = [j for j in session.execute("query-jobs") if j["id"] in ids]
        if all(j["status"] == "concluded" for j in jobs):
            break
        if time.monotonic() > deadline:
            raise TimedOut("QEMU did not stop the backup jobs", str(jobs))
        time.sleep(POLL)
    for job in jobs:
        session.execute("job-dismiss", {"id": job["id"]})


def _sweep(session: qmp.Qmp) -> None:
    """Jobs and targets a killed capture left in this QEMU (the machine's lock is ours now)."""
    leftover = {str(j["id"]) for j in session.execute("query-jobs")
                if str(j["id"]).startswith(JOB)}
    if leftover:
        log.warning("ending backup jobs a killed backup left: %s", sorted(leftover))
        _end_jobs(session, leftover)
    for node in session.execute("query-named-block-nodes", {"flat": True}):
        name = str(node.get("node-name", ""))
        if name.startswith(TARGET):
            log.warning("closing %s, left open by a killed backup", node.get("file"))
            with contextlib.suppress(BackendError):
                session.execute("blockdev-del", {"node-name": name})


# -- without qemu-storage-daemon: plain copies ----------------------------------------------------
def _convert(qemu_img: QemuImg, disks: list[_Disk], compress: bool, progress: Progress,
             cancel: CancelToken) -> str:
    """Full copies with qemu-img (no daemon here to keep points with): no point."""
    log.info("qemu-storage-daemon is not installed: full backup with qemu-img, no point")
    try:
        for n, d in enumerate(disks):
            info = qemu_img.convert(Path(d.disk.path), d.target, DiskFormat.QCOW2,
                                    compress=compress, cancel=cancel,
                                    progress=scaled_progress(progress, n / len(disks),
                                                             1 / len(disks)))
            d.size = info.virtual_size
    except BaseException:
        for d in disks:
            d.target.unlink(missing_ok=True)
        raise
    return ""
