"""What a backend hands a backup: point-in-time copies of a machine's disks (`capture`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

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
