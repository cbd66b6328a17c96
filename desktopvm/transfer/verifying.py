"""What a move checks before deleting its source: the copy's disks, and the source unchanged.

The hardware check (`planning.differences`) says the target made the machine planned; these
say the data arrived and nothing was written to the original after it was copied. A disk
size reported as 0 (unknown) never counts as matching: a move deletes nothing on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktopvm.backup import BackupSet, DiskEntry
from desktopvm.backup.tools import qemu_img
from desktopvm.model import MachineSpec
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    OperationCancelled,
    PowerState,
    Progress,
)
from desktopvm.protocol.host_files import HostFileCopying, files_are_here

#: (path, size in bytes, modification time in ns) of one disk file; -1s when it was missing.
FileStamp = tuple[str, int, int]


def on_this_computer(backend: Backend) -> bool:
    """Whether the backend's disk files are files here (its host is this computer)."""
    return files_are_here(backend.host)


def disk_problems(backup: BackupSet, wanted: MachineSpec, made: MachineSpec, target: Backend,
                  *, progress: Progress, cancel: CancelToken) -> list[str]:
    """How the copy's disks (`made`, restored from `backup` with the plan `wanted`) differ
    from the backup's, in words; empty when they match.

    Each disk's size must be the set's (and known). On this computer each disk's
    guest-visible bytes are compared with the set's disk by qemu-img, both formats given,
    never probed (a copy's set is a full backup: its disks are whole files). A
    target elsewhere is checked by sizes only, and the progress log says so.
    """
    entries = _set_disks(backup, wanted)
    disks = [disk for _, disk in made.all_disks()]
    if len(disks) != len(entries):
        return [f"disks: {len(entries)} in the backup, {len(disks)} on the target"]
    pairs = list(enumerate(zip(entries, disks, strict=True), start=1))
    if not on_this_computer(target):
        found = [_size_problem(number, entry.virtual_size, disk.size_bytes)
                 for number, (entry, disk) in pairs]
        if not any(found):
            progress(None, f"Note: the copy's disks are on {target.host}, not on this "
                           "computer: its hardware and disk sizes were checked here"
                           + (", and each disk file by SHA-256 as it was copied there"
                              if isinstance(target, HostFileCopying) else
                              ", not the disks' bytes"))
        return [problem for problem in found if problem]
    tool = qemu_img()
    problems = []
    for number, (entry, disk) in pairs:
        progress(None, f"Comparing disk {number} of the copy with the backup")
        there = Path(disk.path)
        if not disk.path or not there.is_file():
            problems.append(f"disk {number}: no file at {disk.path or '(no path)'} here")
            continue
        try:
            # The file's own size (format given): some targets report none for a disk.
            size = tool.info(there, source_format=disk.format).virtual_size
            problem = _size_problem(number, entry.virtual_size, disk.size_bytes or size) \
                or _size_problem(number, entry.virtual_size, size)
            if not problem and not tool.compare(backup.path / entry.file, there,
                                                formats=(entry.format, disk.format),
                                                cancel=cancel):
                problem = f"disk {number} does not hold the bytes of the backup"
        except OperationCancelled:
            raise
        except BackendError as failure:
            problem = f"disk {number} could not be compared with the backup: {failure.summary}"
        if problem:
            problems.append(problem)
    return problems


def _size_problem(number: int, planned: int, reported: int) -> str:
    """The size mismatch in words, "" when both are the same known size (0 is unknown)."""
    if planned and reported == planned:
        return ""
    return (f"disk {number} size (bytes): {planned or 'no size'} in the backup, "
            f"{reported or 'no size'} on the target")


def _set_disks(backup: BackupSet, wanted: MachineSpec) -> list[DiskEntry]:
    """The set's disk for each disk of the plan, in order: the plan still names the source's
    disk files, which the set's spec places; else the set's own order (a wrong pairing can
    only refuse a move, never let a wrong copy through)."""
    by_slot = {entry.slot: entry for entry in backup.disks}
    by_path = {disk.path: (index, disk.port, disk.device)
               for index, disk in backup.spec.all_disks() if disk.path}
    found = [by_slot.get(by_path.get(disk.path, (-1, -1, -1)))
             for _, disk in wanted.all_disks()]
    paired = [entry for entry in found if entry is not None]
    if len(paired) == len(found) == len(backup.disks) and len(set(paired)) == len(paired):
        return paired
    return list(backup.disks)


@dataclass(frozen=True)
class SourceStamp:
    """The source as it was right after it was copied: state, settings, its disk files."""

    state: PowerState
    spec: MachineSpec
    files: tuple[FileStamp, ...]


def stamp(source: Backend, machine_id: str) -> SourceStamp:
    """The source now; its disk files' sizes and times only where they are files here."""
    info = source.get_machine(machine_id)
    files: list[FileStamp] = []
    if on_this_computer(source):
        for _, disk in info.spec.all_disks():
            if disk.path:
                files.append(_file_stamp(disk.path))
    return SourceStamp(info.state, info.spec, tuple(files))


def changes_since(before: SourceStamp, source: Backend, machine_id: str) -> str:
    """How the source changed since `before`, in a few words; "" when it did not."""
    now = stamp(source, machine_id)
    if now.state is not before.state:
        return f"it was {before.state.value}, now {now.state.value}"
    if now.spec != before.spec:
        return "its settings changed"
    for (path, size, mtime), (_, size_now, mtime_now) in zip(before.files, now.files,
                                                              strict=True):
        if (size, mtime) != (size_now, mtime_now):
            return f"its disk {path} was written to"
    return ""


def _file_stamp(path: str) -> FileStamp:
    try:
        status = Path(path).stat()
    except OSError:
        return (path, -1, -1)
    return (path, status.st_size, status.st_mtime_ns)
