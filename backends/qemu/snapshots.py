"""Snapshots of QEMU machines: qcow2 internal snapshots, with the tree kept in our own records.

Running machines snapshot through QMP (`savevm` with memory; `blockdev-snapshot-internal-sync`
for disks only), because QEMU holds their images locked; stopped ones through qemu-img.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path

from backends.qemu import backup_points, qmp
from backends.qemu.inventory import MachineStore
from backends.qemu.layout import MachineFiles
from backends.qemu.qemu_img import QemuImg
from backends.qemu.records import (
    SnapshotBook,
    SnapshotRecord,
    Unreadable,
    load_book,
    set_aside,
)
from desktopvm.model import DiskFormat, MachineSpec, SpecFileError, changed_groups, load_spec
from desktopvm.protocol import (
    BackendError,
    InvalidState,
    MachineNotFound,
    Snapshot,
    UnsupportedOperation,
    states,
)
from desktopvm.protocol.states import Operation

SAVEVM_TIMEOUT = 600.0

log = logging.getLogger(__name__)


def load(files: MachineFiles, qemu_img: QemuImg) -> SnapshotBook:
    """The machine's snapshot records; a damaged file is kept aside and rebuilt from the disks.

    Never silently empty (review D8): the next snapshot would be written over the damaged
    file and every earlier snapshot would be orphaned inside the disks.
    """
    try:
        return load_book(files.snapshots)
    except Unreadable as damaged:
        return _rebuild(files, qemu_img, str(damaged))


def _rebuild(files: MachineFiles, qemu_img: QemuImg, why: str) -> SnapshotBook:
    """A flat book of every snapshot the first disk holds (names and tree are lost)."""
    set_aside(files.snapshots)
    book = SnapshotBook()
    try:
        disks = [Path(d.path) for _, d in load_spec(files.spec).all_disks()]
        found = qemu_img.snapshot_list(disks[0]) if disks else []
    except (SpecFileError, BackendError) as error:
        log.warning("%s; no snapshot could be recovered: %s", why, error)
        found = []
    for entry in found:
        tag = str(entry.get("name", ""))
        if tag.startswith("dvm-"):
            book.snapshots.append(SnapshotRecord(
                id=str(uuid.uuid4()), tag=tag, name=f"Recovered {tag}",
                description="Its name was lost when the snapshot records were damaged",
                has_memory=int(entry.get("vm-state-size", 0) or 0) > 0))
    if book.snapshots:  # the newest one the disks hold is where the machine went on from
        book.current = book.snapshots[-1].id
    book.save(files.snapshots)
    log.warning("%s; rebuilt %d snapshot(s) from the disks", why, len(book.snapshots))
    return book


def _images(files: MachineFiles, spec: MachineSpec) -> list[Path]:
    """Every writable image a snapshot must cover: the disks and the UEFI variable store."""
    images = []
    for index, (_, disk) in enumerate(spec.all_disks()):
        if disk.format is not DiskFormat.QCOW2:
            raise UnsupportedOperation(
                f"Disk {index + 1} ({Path(disk.path).name}) is {disk.format.value.upper()}; "
                "only qcow2 disks can hold snapshots. Convert it to qcow2 first.")
        images.append(Path(disk.path))
    if files.nvram.exists():
        images.append(files.nvram)
    if not images:
        raise UnsupportedOperation("A machine without disks has nothing to snapshot")
    return images


def _tags(qemu_img: QemuImg, image: Path) -> set[str]:
    return {str(s.get("name")) for s in qemu_img.snapshot_list(image)}


def _drive_ids(spec: MachineSpec) -> list[str]:
    return [f"disk{ci}-{di}" for ci, c in enumerate(spec.storage) for di in range(len(c.disks))]


def take(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, name: str, *,
         description: str, include_memory: bool) -> Snapshot:
    """A new snapshot, child of the current one."""
    spec = store.spec(files)
    images = _images(files, spec)
    state = store.state(files)
    tag = f"dvm-{secrets.token_hex(4)}"
    has_memory = False
    if state in states.LIVE:
        run = store.require_running(files, "snapshot")
        with qmp.connect(run.qmp) as session:
            if include_memory:
                session.human(f"savevm {tag}", timeout=SAVEVM_TIMEOUT)
                has_memory = True
            else:
                for drive in _drive_ids(spec):
                    session.execute("blockdev-snapshot-internal-sync",
                                    {"device": drive, "name": tag})
    elif not states.allowed(Operation.TAKE_SNAPSHOT, state):
        states.require(Operation.TAKE_SNAPSHOT, state, spec.name)
    else:
        _take_offline(qemu_img, images, tag)
    book = load(files, qemu_img)
    record = SnapshotRecord(id=str(uuid.uuid4()), tag=tag, name=name, description=description,
                            created=datetime.now(UTC).isoformat(timespec="seconds"),
                            has_memory=has_memory, parent=book.current,
                            spec=spec.model_dump(mode="json"))
    book.snapshots.append(record)
    book.current = record.id
    try:
        book.save(files.snapshots)
    except BackendError:
        # Unrecorded, the snapshot could never be listed, restored or deleted: take it back.
        if state not in states.LIVE:
            _take_back(qemu_img, images, tag)
        raise
    return Snapshot(record.id, name, description, record.created, has_memory)


def _take_offline(qemu_img: QemuImg, images: list[Path], tag: str) -> None:
    """The snapshot `tag` in every image, or in none."""
    try:
        for image in images:
            qemu_img.snapshot_create(image, tag)
    except BaseException:
        _take_back(qemu_img, images, tag)
        raise


def _take_back(qemu_img: QemuImg, images: list[Path], tag: str) -> None:
    """Remove `tag` wherever it was made; a snapshot cut short (a full disk) also leaves
    clusters nothing uses, which are freed (review D10)."""
    for image in images:
        with contextlib.suppress(BackendError):
            if tag in _tags(qemu_img, image):
                qemu_img.snapshot_delete(image, tag)
        qemu_img.repair_leaks(image)


def _record(files: MachineFiles, qemu_img: QemuImg,
            snapshot_id: str) -> tuple[SnapshotBook, SnapshotRecord]:
    book = load(files, qemu_img)
    record = book.find(snapshot_id)
    if record is None:
        raise MachineNotFound(f"No snapshot with id {snapshot_id!r}")
    return book, record


def restore(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, snapshot_id: str) -> None:
    """Go back to a snapshot, hardware included. The current state is lost (the UI asks first).

    The machine's name and notes stay as they are now: they say which machine it is, not
    what it was. Everything that would stop the restore is checked before anything changes.
    """
    book, record = _record(files, qemu_img, snapshot_id)
    spec = store.spec(files)
    state = store.state(files)
    then = _spec_then(record, spec)
    if state in states.LIVE:
        if not record.has_memory:
            raise InvalidState(f"Shut down {spec.name} to restore '{record.name}': it holds "
                               "no memory, so the running machine cannot jump to it")
        if changed_groups(spec, then) - {"name", "notes"}:
            raise InvalidState(f"Shut down {spec.name} to restore '{record.name}': its "
                               "hardware has changed since, and a running machine keeps its "
                               "hardware")
        run = store.require_running(files, "restore a snapshot of")
        with qmp.connect(run.qmp) as session:
            backup_points.forget_running(session, _drive_ids(spec))  # QEMU refuses otherwise
            session.human(f"loadvm {record.tag}", timeout=SAVEVM_TIMEOUT)
    elif state in states.OFFLINE:
        # Check every image first, so a restore either changes all of them or none.
        images = [i for i in _images(files, spec) if record.tag in _tags(qemu_img, i)]
        missing = [i.name for i in _images(files, spec) if i not in images and i != files.nvram]
        if missing:
            raise InvalidState(f"'{record.name}' was taken before {', '.join(missing)} was "
                               "added; detach it first to restore this snapshot")
        gone = [d.path for _, d in then.all_disks() if not Path(d.path).exists()]
        if gone:
            raise InvalidState(f"'{record.name}' needs {', '.join(gone)}, which no longer "
                               "exists; it cannot be restored")
        backup_points.forget_off(qemu_img, images)  # QEMU refuses otherwise (backup_points)
        for image in images:
            qemu_img.snapshot_apply(image, record.tag)
        if then != spec:
            store.save_spec(files, then)
        files.saved_state.unlink(missing_ok=True)
        files.aborted_marker.unlink(missing_ok=True)
        book.pending_loadvm = record.tag if record.has_memory else ""
    else:
        states.require(Operation.RESTORE_SNAPSHOT, state, spec.name)
    book.current = record.id
    book.save(files.snapshots)


def _spec_then(record: SnapshotRecord, now: MachineSpec) -> MachineSpec:
    """The spec a snapshot was taken with, under today's name and notes (or today's spec)."""
    if not record.spec:
        return now  # taken before snapshots kept the hardware: only the disks go back
    try:
        then = MachineSpec.model_validate(record.spec)
    except ValueError as error:
        raise InvalidState(f"'{record.name}' has an unreadable record of the machine's "
                           "hardware; it cannot be restored", str(error)) from error
    return then.model_copy(update={"name": now.name, "notes": now.notes, "id": now.id})


def delete(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, snapshot_id: str) -> None:
    """Remove a snapshot; its children hang from its parent afterwards."""
    book, record = _record(files, qemu_img, snapshot_id)
    spec = store.spec(files)
    state = store.state(files)
    if state in states.LIVE:
        run = store.require_running(files, "delete a snapshot of")
        with qmp.connect(run.qmp) as session:
            session.human(f"delvm {record.tag}", timeout=SAVEVM_TIMEOUT)
    elif state in states.OFFLINE:
        for image in _images(files, spec):
            if record.tag in _tags(qemu_img, image):
                qemu_img.snapshot_delete(image, record.tag)
    else:
        states.require(Operation.DELETE_SNAPSHOT, state, spec.name)
    book.remove(snapshot_id)
    book.save(files.snapshots)
