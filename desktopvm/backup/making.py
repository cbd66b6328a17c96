"""`back_up`: a machine into a new set, through `capture` or, without it, the backend's export."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from desktopvm.backup.checking import fits_under, machine_sets
from desktopvm.backup.publish import partial_folder
from desktopvm.backup.setfile import (
    NVRAM_FILE,
    TPM_FOLDER,
    BackupSet,
    DiskEntry,
    FirmwareEntry,
    file_digest,
    machine_key,
)
from desktopvm.backup.tools import qemu_img
from desktopvm.backup.writing import finish
from desktopvm.connections import kind_of
from desktopvm.images import UnsafeImage, check_package_disk, check_untrusted, disk_format
from desktopvm.model import MachineSpec
from desktopvm.model.devices import DiskFormat
from desktopvm.model.own_formats import own_formats
from desktopvm.ovf import OvfError, check_href, extract_ova, read_ovf
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    Capture,
    CapturingBackend,
    FirmwareState,
    InvalidState,
    PowerState,
    Progress,
    Snapshot,
    UnsupportedOperation,
    scaled_progress,
)
from desktopvm.protocol.backup import MAX_NVRAM_BYTES, MAX_TPM_FILE_BYTES, tpm_file_name_ok

_UNSAFE = re.compile(r"[^\w.-]+")
#: A chain restarts with a full set after this many incremental links, or once its full set
#: is this old: so retention can free the old chain (it never removes a set a kept one
#: builds on), and restoring a point reads a short chain.
MAX_LINKS = 14
MAX_CHAIN_AGE = timedelta(days=7)
# qemu-img's subformat for each: one self-contained file that VMware Workstation attaches
# as it is (a stream-optimized VMDK, as ESXi exports, it does not).
_SUBFORMATS = {DiskFormat.VMDK: "monolithicSparse"}


def machine_folder(destination: Path, name: str, key: str) -> Path:
    """The machine's folder in `destination`: the one already named for its key, else new."""
    suffix = f"-{key[:8]}"
    if destination.is_dir():
        for folder in sorted(destination.iterdir()):
            if folder.is_dir() and folder.name.endswith(suffix):
                return folder
    stem = _UNSAFE.sub("_", name).strip("._") or "machine"
    return destination / f"{stem[:60]}{suffix}"


def back_up(backend: Backend, machine_id: str, destination: Path, *, incremental: bool = True,
            compress: bool = True, own_format: bool = False, progress: Progress,
            cancel: CancelToken) -> BackupSet:
    """A new set of the machine in `destination` (a folder the user chose).

    With `capture` (see desktopvm.protocol.backup) running machines are backed up too and,
    when `incremental`, only what changed since the latest set of the machine. Other
    backends export the machine (it must be off). The disks become (compressed) qcow2, or
    with `own_format` the hypervisor's own format (OWN_FORMATS), which is always a full set.
    A failed, cancelled or killed backup leaves no set that looks complete.
    """
    own = own_formats(kind_of(backend.name)) if own_format else None
    incremental = incremental and own is None  # a file each, attachable as it is
    info = backend.get_machine(machine_id)
    key = machine_key(backend.name, machine_id)
    folder = machine_folder(destination, info.spec.name, key)
    cancel.raise_if_cancelled()
    if isinstance(backend, CapturingBackend):
        return _by_capture(backend, machine_id, folder, key, incremental=incremental,
                           compress=compress, own=own, progress=progress, cancel=cancel)
    if info.summary.state not in (PowerState.OFF, PowerState.ABORTED):
        raise InvalidState(f"{info.spec.name} is {info.summary.state.value}: "
                           f"{backend.display_name} cannot back up a running machine; shut "
                           "it down first")
    return _by_export(backend, machine_id, folder, key, spec=info.spec,
                      snapshots=info.snapshots, compress=compress,
                      fmt=own[0] if own else DiskFormat.QCOW2, progress=progress, cancel=cancel)


def _latest_parent(folder: Path, key: str) -> BackupSet | None:
    """The newest sound set of this machine that knows a capture point, unless its chain is
    due to restart (MAX_LINKS links, or its full set older than MAX_CHAIN_AGE)."""
    if not folder.is_dir():
        return None
    sets = [s for s in machine_sets(folder) if not s.problem and s.machine_key == key]
    if not sets or not sets[-1].point:
        return None
    by_id = {s.id: s for s in sets}
    newest = full = sets[-1]
    links = 0
    while full.parent:
        if full.parent not in by_id:
            return None
        full = by_id[full.parent]
        links += 1
    if links >= MAX_LINKS or _now() - full.created > MAX_CHAIN_AGE:
        return None
    return newest


def _by_capture(backend: Backend, machine_id: str, folder: Path, key: str, *,
                incremental: bool, compress: bool, own: tuple[DiskFormat, ...] | None,
                progress: Progress, cancel: CancelToken) -> BackupSet:
    parent = _latest_parent(folder, key) if incremental else None
    capturer = cast("CapturingBackend", backend)
    with partial_folder(folder) as partial:
        disks_dir = partial / "disks"
        while True:
            disks_dir.mkdir()
            taken = _now()  # the set's time is its point in time, not when it was written
            # Disks kept in a format of their own are not qcow2: compressing them is waste.
            capture = capturer.capture(machine_id, disks_dir,
                                       since=parent.point if parent else "",
                                       compress=compress and (own is None or
                                                              own[0] is DiskFormat.QCOW2),
                                       progress=scaled_progress(progress, 0, 0.9),
                                       cancel=cancel)
            try:
                entries = _captured_entries(capture, parent, partial, compress=compress,
                                            own=own, cancel=cancel)
                break
            except _NotTheSameDisk as mismatch:
                if parent is None:
                    raise BackendError(f"The capture of {capture.spec.name} gave an "
                                       "incremental disk for a full backup") from None
                # Its change tracking no longer matches the sets here: start again, full.
                progress(None, f"{mismatch}: backing up in full instead")
                capturer.forget_capture_points(machine_id)
                shutil.rmtree(disks_dir)
                parent = None
        firmware = _firmware_entries(capture.firmware, disks_dir, partial, cancel)
        if firmware and capture.was_running and any(f.kind == "tpm" for f in firmware):
            progress(None, "The TPM state was copied while the machine ran: as its emulator "
                     "last wrote it, moments apart from the disks")
        return finish(partial, folder, created=taken, spec=capture.spec, disks=entries,
                      source=backend.name, machine_id=machine_id, key=key,
                      backend=kind_of(backend.name), parent=parent.id if parent else "",
                      point=capture.point, was_running=capture.was_running,
                      compressed=compress and all(d.format is DiskFormat.QCOW2
                                                  for d in entries),
                      snapshots=capture.snapshots, cancel=cancel,
                      firmware=firmware)


class _NotTheSameDisk(Exception):
    """An incremental disk of a capture that does not build on the parent set's disk there."""


def _captured_entries(capture: Capture, parent: BackupSet | None, partial: Path, *,
                      compress: bool, own: tuple[DiskFormat, ...] | None,
                      cancel: CancelToken) -> tuple[DiskEntry, ...]:
    """The records of the capture's disks, each incremental one checked against its parent.

    They are qcow2, or with `own` (the hypervisor's formats) each kept as the capture gave
    it when that is one of them, else in the first.
    """
    disks_dir = partial / "disks"
    sources = {(index, disk.port, disk.device): disk.path
               for index, disk in capture.spec.all_disks()}
    below = {d.slot: d for d in parent.disks} if parent else {}
    entries = []
    for number, disk in enumerate(capture.disks, start=1):
        cancel.raise_if_cancelled()
        path = _inside(disk.path, disks_dir)
        fmt = DiskFormat.QCOW2 if own is None else _own_format(disk.format, own)
        if disk.incremental and (disk.format is not DiskFormat.QCOW2 or
                                 fmt is not DiskFormat.QCOW2):
            raise BackendError(f"The capture of {capture.spec.name} gave an incremental "
                               f"{disk.format.value} disk for a {fmt.value} set; only qcow2 "
                               "can be incremental")
        if not _as_is(path, disk.format, fmt):
            target = disks_dir / f"disk{number}.{fmt.extension}"
            path = _converted(path, disk.format, target if target != path else
                              target.with_name(f"disk{number}-own.{fmt.extension}"),
                              fmt, compress=compress, cancel=cancel)
        slot = (disk.controller, disk.port, disk.device)
        entry = _entry(path, partial, slot, virtual_size=disk.virtual_size, fmt=fmt,
                       incremental=disk.incremental, source_file=sources.get(slot, ""),
                       cancel=cancel)
        if disk.incremental and not fits_under(entry, below.get(slot)):
            raise _NotTheSameDisk(f"the disk at {slot} is not the one the previous backup "
                                  "has there")
        entries.append(entry)
    return tuple(entries)


def _firmware_entries(state: FirmwareState, disks_dir: Path, partial: Path,
                      cancel: CancelToken) -> tuple[FirmwareEntry, ...]:
    """The capture's variable store and TPM files moved to their places in the set (whole in
    every set, incremental or not: they are small), private to the user, with their records."""
    moves: list[tuple[Path, str, str, int]] = []  # (captured file, set file, kind, limit)
    if state.nvram is not None:
        moves.append((state.nvram, NVRAM_FILE, "nvram", MAX_NVRAM_BYTES))
    for file in state.tpm:
        if not tpm_file_name_ok(file.name):
            raise BackendError(f"The capture named the TPM state file {file.name!r}, which is "
                               "not a plain file name")
        moves.append((file, f"{TPM_FOLDER}/{file.name}", "tpm", MAX_TPM_FILE_BYTES))
    if len({name for _, name, _, _ in moves}) != len(moves):
        raise BackendError("The capture named the same TPM state file twice")
    entries = []
    for captured, name, kind, limit in moves:
        cancel.raise_if_cancelled()
        source = _inside(captured, disks_dir)
        size = source.stat().st_size
        if not 0 < size <= limit:
            raise BackendError(f"The capture's {kind} file {captured.name} is {size} bytes; "
                               f"one holds 1 to {limit}")
        target = partial / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        # The TPM's seeds unseal what the guest sealed to it (BitLocker's key): not for
        # other users of this computer to read.
        target.chmod(0o600)
        entries.append(FirmwareEntry(file=name, kind=kind, size=size,
                                     sha256=file_digest(target, cancel)))
    for leftover in sorted(disks_dir.iterdir(), reverse=True):
        if leftover.is_dir() and not any(leftover.iterdir()):
            leftover.rmdir()  # the capture's emptied tpm folder
    return tuple(entries)


def _by_export(backend: Backend, machine_id: str, folder: Path, key: str, *,
               spec: MachineSpec, snapshots: tuple[Snapshot, ...], compress: bool,
               fmt: DiskFormat, progress: Progress, cancel: CancelToken) -> BackupSet:
    if not backend.capabilities().export_formats & {"ova"}:
        raise UnsupportedOperation(f"{backend.display_name} cannot back up machines yet: it "
                                   "neither captures disks nor exports OVA packages")
    with partial_folder(folder) as partial:
        work = partial / ".export"
        work.mkdir()
        disks_dir = partial / "disks"
        disks_dir.mkdir()
        ova = work / "machine.ova"
        taken = _now()
        backend.export(machine_id, ova, progress=scaled_progress(progress, 0, 0.5), cancel=cancel)
        try:
            descriptor = extract_ova(ova, work / "unpacked",
                                     progress=scaled_progress(progress, 0.5, 0.1), cancel=cancel)
            ova.unlink()
            appliance = read_ovf(descriptor.read_bytes(), f"{spec.name}'s export")
            slots = [(index, d.port, d.device) for index, d in spec.all_disks()]
            disk_paths = [d.path for _, d in spec.all_disks()]
            if len(slots) != len(appliance.disks):
                raise BackendError(f"The export of {spec.name} holds {len(appliance.disks)} "
                                   f"disk(s), the machine {len(slots)}")
            entries = []
            for number, (disk, slot) in enumerate(zip(appliance.disks, slots, strict=True), 1):
                facts = check_package_disk(descriptor.parent,
                                           check_href(disk.file_href, descriptor.name),
                                           disk.format)
                target = disks_dir / f"disk{number}.{fmt.extension}"
                share = 0.3 / len(slots)
                qemu_img().convert(descriptor.parent / disk.file_href, target, fmt,
                                  subformat=_SUBFORMATS.get(fmt, ""),
                                  compress=compress and fmt is DiskFormat.QCOW2,
                                  source_format=disk_format(facts),
                                  progress=scaled_progress(progress, 0.6 + (number - 1) * share,
                                                           share), cancel=cancel)
                entries.append(_entry(target, partial, slot, virtual_size=facts.virtual_size,
                                      fmt=fmt, incremental=False,
                                      source_file=disk_paths[number - 1], cancel=cancel))
        except (OvfError, UnsafeImage) as error:
            raise BackendError(f"Cannot back up {spec.name}: its export {error}") from error
        shutil.rmtree(work)
        return finish(partial, folder, created=taken, spec=spec, disks=tuple(entries),
                      source=backend.name,
                      machine_id=machine_id, key=key, backend=kind_of(backend.name), parent="",
                      point="", was_running=False,
                      compressed=compress and fmt is DiskFormat.QCOW2, snapshots=snapshots,
                      cancel=cancel)


def _now() -> datetime:
    """The current UTC time (one place, so tests can set the clock)."""
    return datetime.now(UTC)


def _inside(path: Path, folder: Path) -> Path:
    """A captured disk's file, which must be a plain file the capture wrote into `folder`."""
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()) or path.is_symlink() \
            or not resolved.is_file():
        raise BackendError(f"The capture named {path}, which is not a file in its folder")
    return resolved


def _own_format(fmt: DiskFormat, own: tuple[DiskFormat, ...]) -> DiskFormat:
    """The format a captured disk is kept in: its own when it is one of `own`, else the
    first of `own`."""
    return fmt if fmt in own else own[0]


def _as_is(path: Path, fmt: DiskFormat, wanted: DiskFormat) -> bool:
    """Whether the captured file can go into the set unchanged as `wanted`: a VMDK only as
    one self-contained sparse file (ESXi's stream-optimized export is rewritten)."""
    if fmt is not wanted:
        return False
    return fmt is not DiskFormat.VMDK or \
        check_untrusted(path, fmt, label=path.name).subformat == _SUBFORMATS[fmt]


def _converted(path: Path, fmt: DiskFormat, target: Path, target_format: DiskFormat, *,
               compress: bool, cancel: CancelToken) -> Path:
    """A captured disk of another format as `target_format` in its place (qcow2 compressed
    when asked)."""
    facts = check_untrusted(path, fmt, label=path.name)
    qemu_img().convert(path, target, target_format,
                      subformat=_SUBFORMATS.get(target_format, ""),
                      compress=compress and target_format is DiskFormat.QCOW2,
                      source_format=disk_format(facts), cancel=cancel)
    path.unlink()
    return target


def _entry(path: Path, partial: Path, slot: tuple[int, int, int], *, virtual_size: int,
           fmt: DiskFormat, incremental: bool, source_file: str,
           cancel: CancelToken) -> DiskEntry:
    """The record of one disk file of the set, its own headers checked first."""
    try:
        facts = check_untrusted(path, fmt, label=path.name)
    except UnsafeImage as error:
        raise BackendError(f"The backup's disk is unusable: {error}") from error
    if facts.virtual_size != virtual_size:
        raise BackendError(f"{path.name} holds {facts.virtual_size} bytes, not the "
                           f"{virtual_size} its disk has")
    file = path.resolve().relative_to(partial.resolve()).as_posix()
    return DiskEntry(file=file, controller=slot[0], port=slot[1], device=slot[2],
                     format=fmt,
                     virtual_size=virtual_size, sha256=file_digest(path, cancel),
                     incremental=incremental, source_file=source_file)

