"""What a backend hands a backup: point-in-time copies of a machine's disks (`capture`)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from desktopvm.protocol.errors import InvalidState
from desktopvm.protocol.progress import CancelToken, Progress
from desktopvm.protocol.types import Snapshot

if TYPE_CHECKING:
    from desktopvm.model.devices import DiskFormat
    from desktopvm.model.machine import MachineSpec


@dataclass(frozen=True, slots=True)
class CapturedDisk:
    """One disk of the machine as it was at the capture's point in time.

    `path` is a local file the capture wrote inside the folder it was given; it names no
    other file (no backing file, no extents) — the backup set is self-contained. An
    `incremental` disk holds only what changed since the capture's `since` point: a qcow2
    whose unallocated clusters mean "as in the previous backup".
    """

    controller: int  # where the disk sits in the spec: storage[controller] ...
    port: int
    device: int
    path: Path
    format: DiskFormat
    virtual_size: int
    incremental: bool = False


@dataclass(frozen=True, slots=True)
class Capture:
    """A machine at one point in time: its hardware, its disks and where to go on from."""

    spec: MachineSpec
    disks: tuple[CapturedDisk, ...]
    # What to pass as `since` next time for an incremental capture ("" = none possible).
    point: str = ""
    was_running: bool = False  # True: the disks are crash-consistent, not clean
    snapshots: tuple[Snapshot, ...] = ()  # the snapshot tree at capture time (metadata)


@runtime_checkable
class CapturingBackend(Protocol):
    """A backend that captures disks itself (running machines, changed blocks).

    Backends without `capture` are backed up through `export` while off. Like every long
    operation, a cancelled or failed capture removes what it wrote and every temporary
    state it made on the hypervisor (snapshots, bitmaps it added for this capture).
    """

    def capture(
        self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
        progress: Progress, cancel: CancelToken,
    ) -> Capture:
        """Write the machine's disks into `folder` (which exists and is empty).

        `since` is a previous Capture's `point`: where the backend still knows what changed
        since then, disks are `incremental`; where it does not (the point is gone, a disk
        was replaced), they are full copies — never wrong, only bigger.
        """
        ...

    def forget_capture_points(self, machine_id: str) -> None:
        """Drop what the backend keeps for incremental captures (e.g. QEMU dirty bitmaps)."""
        ...


# -- the temporary snapshot a running machine's capture takes (ESXi, VMware, VirtualBox) ------

TEMPORARY_SNAPSHOT = "DesktopVM backup"  # the temporary snapshot's name starts with this
TEMPORARY_NOTE = ("Taken by DesktopVM to back up this machine; DesktopVM deletes it when the "
                  "backup ends. If it is still here, that backup was interrupted: delete it.")


def temporary_name() -> str:
    """The temporary snapshot's name: says who made it and when (UTC)."""
    return f"{TEMPORARY_SNAPSHOT} {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"


def refuse_leftovers(machine: str, names: Iterable[str]) -> None:
    """InvalidState when the machine has temporary snapshots already (`names`: all its
    snapshots' names). They are never deleted here: one may be another backup's, running
    now; a crashed run's stays until the user deletes it (each one holds a delta, on VMware
    a memory file too), so a new one is not added on top of it."""
    left = [n for n in names if n.startswith(TEMPORARY_SNAPSHOT)]
    if left:
        raise InvalidState(
            f"{machine} has the snapshot(s) {', '.join(repr(n) for n in left)} left by an "
            "interrupted backup (or another backup of it is running now); delete it in "
            "Snapshots and back up again")


def snapshot_names(roots: Iterable[Snapshot]) -> list[str]:
    """The names of every snapshot in a tree."""
    return [s.name for root in roots for s in root.walk()]
