"""Reading sets back: `list_backups` (quick, damage listed) and `verify` (every byte, the chain)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desktopvm.backup.publish import PREFIX
from desktopvm.backup.setfile import (
    RECORD,
    SPEC,
    SUMS,
    BackupDamaged,
    BackupSet,
    DiskEntry,
    FirmwareEntry,
    damaged,
    disks_of,
    file_digest,
    firmware_of,
    is_set_name,
    plain_member,
    read_record,
    read_small,
    read_sums,
    set_files,
)
from desktopvm.images import UnsafeImage, check_package_disk
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.model.specfile import SpecFileError, spec_from_data
from desktopvm.protocol import CancelToken, Progress

#: The most sets one chain may hold (the full one and its incremental links). back_up starts
#: a new full long before (making.MAX_LINKS); longer chains come from an older DesktopVM or a
#: forger, and restore's one json: argument for qemu-img must stay well under the 128 KiB a
#: single argument may have. verify and the list both apply it.
MAX_CHAIN = 256


def load_set(set_path: Path) -> BackupSet:
    """The set at `set_path` from its record and spec (no digests: see `verify`)."""
    return _from_record(set_path, read_record(set_path))


def _from_record(set_path: Path, data: dict[str, Any]) -> BackupSet:
    """The set described by its checked record `data` (its spec and disk files read too)."""
    spec = _read_spec(set_path)
    disks = disks_of(data, spec)
    size = 0
    for disk in disks:
        path = set_path / disk.file
        if not path.is_file() or path.is_symlink():
            raise damaged(set_path, disk.file, "missing (or not a plain file)")
        size += path.stat().st_size
    firmware = firmware_of(data)
    for entry in firmware:
        _check_firmware_file(set_path, entry)
        size += entry.size
    return BackupSet(path=set_path, id=data["id"], machine_key=data["machine_key"],
                     machine_name=data["machine_name"], source=data["source"],
                     created=datetime.fromisoformat(data["created"]), kind=data["kind"],
                     parent=data["parent"], was_running=data["was_running"], size_bytes=size,
                     spec=spec, point=data["point"], disks=disks, firmware=firmware)


def _check_firmware_file(set_path: Path, entry: FirmwareEntry) -> None:
    """A firmware file is there, reached through no link, and as large as the record says
    (so a huge file never gets as far as being read)."""
    if not plain_member(set_path, entry.file):
        there = (set_path / entry.file).exists() or (set_path / entry.file).is_symlink()
        raise damaged(set_path, entry.file, "not a plain file of the set (a symbolic link, "
                      "or reached through one)" if there else "missing")
    size = (set_path / entry.file).stat().st_size
    if size != entry.size:
        raise damaged(set_path, entry.file, f"{size} bytes, not the {entry.size} backup.json "
                      "says")


def _read_spec(set_path: Path) -> MachineSpec:
    """spec.json of the set (read as a regular file only: see `open_regular`)."""
    try:
        text = read_small(set_path / SPEC)
    except FileNotFoundError:
        raise damaged(set_path, SPEC, "missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise damaged(set_path, SPEC, f"cannot be read ({error})") from None
    try:
        return spec_from_data(json.loads(text), SPEC)
    except json.JSONDecodeError as error:
        raise damaged(set_path, SPEC, f"not valid JSON ({error.msg}, line {error.lineno})") \
            from None
    except RecursionError:
        raise damaged(set_path, SPEC, "nested too deeply") from None
    except SpecFileError as error:
        raise damaged(set_path, SPEC, error.reason if error.field == "" else
                      f"field {error.field}: {error.reason}") from None


def _unreadable(set_path: Path, problem: str, data: dict[str, Any] | None = None) -> BackupSet:
    """A damaged set as the list shows it: what its record says when it could be read (so
    retention still knows its machine and parent), else its folder name; and the problem."""
    if data is not None:
        return BackupSet(path=set_path, id=set_path.name, machine_key=data["machine_key"],
                         machine_name=data["machine_name"], source=data["source"],
                         created=datetime.fromisoformat(data["created"]), kind=data["kind"],
                         parent=data["parent"], was_running=data["was_running"],
                         size_bytes=0, spec=MachineSpec(name=data["machine_name"] or "unknown"),
                         problem=problem)
    kind = set_path.name.rpartition("-")[2]
    try:
        created = datetime.strptime(set_path.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        created = datetime.fromtimestamp(0, UTC)
    name = set_path.parent.name.rpartition("-")[0] or set_path.parent.name
    return BackupSet(path=set_path, id=set_path.name, machine_key="", machine_name=name,
                     source="", created=created, kind=kind, parent="", was_running=False,
                     size_bytes=0, spec=MachineSpec(name=name or "unknown"), problem=problem)


def machine_sets(machine_folder: Path) -> list[BackupSet]:
    """The sets in one machine's folder, oldest first; damaged ones carry their problem."""
    found = []
    for path in sorted(machine_folder.iterdir()):
        if not path.is_dir() or path.name.startswith(PREFIX) or not is_set_name(path.name):
            continue
        try:
            data = read_record(path)
        except BackupDamaged as error:
            found.append(_unreadable(path, error.summary))
            continue
        try:
            found.append(_from_record(path, data))
        except BackupDamaged as error:
            found.append(_unreadable(path, error.summary, data))
    by_id = {s.id: s for s in found}
    changed = True
    while changed:  # a missing or damaged link damages every set that follows it
        changed = False
        for number, backup in enumerate(found):
            if backup.problem or not backup.parent:
                continue
            parent = by_id.get(backup.parent)
            if parent is None or parent.problem or parent.id == backup.id:
                found[number] = _with_problem(backup, damaged(
                    backup.path, RECORD, f"its parent set {backup.parent} is missing or "
                    "damaged").summary)
                by_id[backup.id] = found[number]
                changed = True
    for number, backup in enumerate(found):
        if not backup.problem and _depth(backup, by_id) > MAX_CHAIN:
            found[number] = _with_problem(backup, _too_long(backup.path).summary)
    return sorted(found, key=lambda s: (s.created, s.id))


def _depth(backup: BackupSet, by_id: dict[str, BackupSet]) -> int:
    """How many sets the chain ending in `backup` holds (its links were checked above)."""
    depth = 1
    while backup.parent and backup.parent in by_id and depth <= MAX_CHAIN:
        backup = by_id[backup.parent]
        depth += 1
    return depth


def _too_long(set_path: Path) -> BackupDamaged:
    return damaged(set_path, RECORD, f"its chain holds more than {MAX_CHAIN} sets; a chain "
                   "this long was not made by this DesktopVM")


def _with_problem(backup: BackupSet, problem: str) -> BackupSet:
    return replace(backup, problem=problem)


def list_backups(destination: Path) -> list[BackupSet]:
    """Every set in `destination`, by machine then time; a damaged set is listed with its
    problem instead of failing the list."""
    if not destination.is_dir():
        return []
    found = []
    for folder in sorted(destination.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith("."):
            found.extend(machine_sets(folder))
    return found


def chain_of(set_path: Path) -> list[BackupSet]:
    """The set and its ancestors, newest first, read quickly (BackupDamaged on a broken link)."""
    chain = [load_set(set_path)]
    while chain[-1].parent:
        if len(chain) >= MAX_CHAIN:
            raise _too_long(set_path)
        child = chain[-1]
        parent_path = set_path.parent / child.parent
        if not is_set_name(child.parent) or not parent_path.is_dir():
            raise damaged(child.path, RECORD, f"its parent set {child.parent} is missing")
        parent = load_set(parent_path)
        if parent.machine_key != child.machine_key:
            raise damaged(child.path, RECORD, f"its parent set {child.parent} is of another "
                          "machine")
        if any(parent.id == s.id for s in chain):
            raise damaged(child.path, RECORD, f"its parent set {child.parent} is its own "
                          "descendant")
        chain.append(parent)
    return chain


def verify(set_path: Path, *, progress: Progress, cancel: CancelToken) -> BackupSet:
    """Check a set and every set it depends on: record, digests, files, disks, chain.

    Nothing is written. BackupDamaged (one line: set, file, fault) at the first problem.
    """
    chain = chain_of(set_path)
    total = max(1, sum(s.size_bytes for s in chain))
    done = 0
    for backup in chain:
        done = _verify_one(backup, progress, cancel, done, total)
    for child, parent in itertools.pairwise(chain):
        below = {d.slot: d for d in parent.disks}
        for disk in child.disks:
            if not disk.incremental:
                continue
            if not fits_under(disk, below.get(disk.slot)):
                raise damaged(child.path, disk.file, f"an incremental disk whose parent set "
                              f"{parent.id} has no copy of the same disk at its place that "
                              "fits under it")
    progress(1.0, "Verified")
    return chain[0]


def fits_under(disk: DiskEntry, base: DiskEntry | None) -> bool:
    """Whether the incremental `disk` may build on the parent set's `base` (same place).

    It must be the same disk: the hypervisor tracks changes per disk file, so the changes of
    a disk that moved to another port belong on its own copy, not on what sat there before.
    A disk grown between the two backups is fine (past the parent's end reads as zeros); a
    parent larger than its child is not a chain we made.
    """
    # A chain is qcow2 all the way down: only qcow2 names a backing file to read through.
    return (base is not None and base.source_file == disk.source_file
            and base.virtual_size <= disk.virtual_size and base.format is DiskFormat.QCOW2)


def _verify_one(backup: BackupSet, progress: Progress, cancel: CancelToken, done: int,
                total: int) -> int:
    path = backup.path
    sums = read_sums(path)
    present = set_files(path)
    for name in present:
        if (path / name).is_symlink():
            raise damaged(path, name, "a symbolic link; a set holds only its own files")
    missing = sorted(set(sums) - set(present))
    if missing:
        raise damaged(path, missing[0], "listed in SHA256SUMS but missing")
    unlisted = sorted(set(present) - set(sums))
    if unlisted:
        raise damaged(path, unlisted[0], "not listed in SHA256SUMS, so it cannot be checked")
    for required in (RECORD, SPEC):
        if required not in sums:
            raise damaged(path, SUMS, f"does not list {required}")
    by_file = {d.file: d for d in backup.disks}
    firmware = {f.file: f for f in backup.firmware}
    for name, expected in sorted(sums.items()):
        cancel.raise_if_cancelled()
        _check_recorded(path, firmware.get(name), expected)
        disk = by_file.get(name)
        if disk is not None:
            _check_disk(backup, disk.file, disk.virtual_size, disk.format)
            if disk.sha256 != expected:
                raise damaged(path, name, "its digest in backup.json and SHA256SUMS differ")
            progress(done / total, f"Checking {backup.id}/{name}")
        if file_digest(path / name, cancel) != expected:
            raise damaged(path, name, "its contents do not match SHA256SUMS (changed or cut "
                          "short)")
        if disk is not None:
            done += (path / name).stat().st_size
    return done


def _check_recorded(path: Path, entry: FirmwareEntry | None, expected: str) -> None:
    """A firmware file's size and its digest in backup.json, against SHA256SUMS'."""
    if entry is None:
        return
    _check_firmware_file(path, entry)
    if entry.sha256 != expected:
        raise damaged(path, entry.file, "its digest in backup.json and SHA256SUMS differ")


def _check_disk(backup: BackupSet, file: str, virtual_size: int, fmt: DiskFormat) -> None:
    """A set's disk passes the rules for disks from outside, as the format it says it is,
    and is the set's own file (no symbolic link on its way, inside the set; a hard link is
    fine: drives rotated by rsync --link-dest or Time Machine share unchanged files)."""
    try:
        facts = check_package_disk(backup.path, file, fmt, single_link=False)
    except UnsafeImage as error:
        raise damaged(backup.path, "", str(error)) from None
    if facts.virtual_size != virtual_size:
        raise damaged(backup.path, file, f"its header says {facts.virtual_size} bytes, "
                      f"backup.json {virtual_size}")
