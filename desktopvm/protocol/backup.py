"""What a backend hands a backup: point-in-time copies of a machine's disks (`capture`)."""

from __future__ import annotations

import re
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


#: The largest UEFI variable store a set takes. edk2's x86 stores are 128 KiB (OVMF 2M
#: builds) or 528 KiB (4M builds); 8 MiB leaves room for larger builds and still refuses a
#: "variable store" that is really something else.
MAX_NVRAM_BYTES = 8 * 1024 * 1024
#: The largest TPM state file, and how many a set takes. swtpm keeps a TPM 2.0 in one
#: permanent-state file of a few KiB (libtpms' NV memory is 128 KiB at most), plus a volatile
#: and a saved-state file while suspended.
MAX_TPM_FILE_BYTES = 4 * 1024 * 1024
MAX_TPM_FILES = 4
#: The files of swtpm's state folder that are its state (TPM 2.0 and 1.2 blobs); its
#: `.lock` and the TMP* files it writes before renaming are not. The one rule for what a
#: set's TPM folder may hold and what a restore writes into a machine's.
TPM_STATE_FILE = re.compile(r"^tpm2?-00\.(permall|volatilestate|savestate)$")


def tpm_file_name_ok(name: str) -> bool:
    """Whether `name` is the name of a state file swtpm writes (TPM_STATE_FILE)."""
    return bool(TPM_STATE_FILE.match(name))


@dataclass(frozen=True, slots=True)
class FirmwareState:
    """What a machine keeps outside its disks that its guest relies on to boot as before.

    `nvram` is the UEFI variable store as a raw flash image (edk2's layout: the boot
    entries, Secure Boot keys, the boot order); `tpm` the virtual TPM's state files, each
    by its own plain name (its seeds and NV indices: what BitLocker seals its key to).
    Both are local files a capture wrote inside its folder. Empty for BIOS machines, for
    machines without a TPM and for backends that do not capture them.
    """

    nvram: Path | None = None
    tpm: tuple[Path, ...] = ()

    @property
    def empty(self) -> bool:
        return self.nvram is None and not self.tpm


@dataclass(frozen=True, slots=True)
class Capture:
    """A machine at one point in time: its hardware, its disks and where to go on from."""

    spec: MachineSpec
    disks: tuple[CapturedDisk, ...]
    # What to pass as `since` next time for an incremental capture ("" = none possible).
    point: str = ""
    was_running: bool = False  # True: the disks are crash-consistent, not clean
    snapshots: tuple[Snapshot, ...] = ()  # the snapshot tree at capture time (metadata)
    # The UEFI variable store and TPM state (empty where the backend does not capture them).
    firmware: FirmwareState = FirmwareState()


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


@runtime_checkable
class FirmwareStateBackend(Protocol):
    """A backend whose captures carry the machine's firmware state (`Capture.firmware`) and
    that can put such a state onto one of its machines.

    Backends without it neither back the state up nor take it back: a restore onto them
    says the state stays behind (and a TPM-sealed secret such as BitLocker's key then needs
    its recovery key).
    """

    def put_firmware_state(self, machine_id: str, state: FirmwareState, *,
                           cancel: CancelToken) -> tuple[str, ...]:
        """Give the machine (which must be off) this variable store and TPM state.

        The machine's spec decides what it takes: a variable store only with UEFI, TPM
        state only with a TPM. Each part is replaced as a whole (never half written); what
        the machine could not take is returned, each in one line of words. InvalidState
        when the machine is not off.
        """
        ...


def carries_firmware_state(source: object, target: object) -> bool:
    """Whether a backup of a machine of `source` restored onto `target` keeps its UEFI
    variables and TPM state: both sides must be FirmwareStateBackends (the source
    captures it)."""
    return isinstance(source, FirmwareStateBackend) and isinstance(source, CapturingBackend) \
        and isinstance(target, FirmwareStateBackend)


def firmware_consequences(nvram: bool, tpm: bool) -> str:
    """What a machine meets without its TPM state and/or UEFI variables, worst first."""
    effects = []
    if tpm:
        effects.append("a new, empty TPM: BitLocker (and anything else sealed to the old "
                       "one) asks for its recovery key")
    if nvram:
        effects.append("fresh UEFI variables: a system whose boot loader is only under its "
                       "own name (\\EFI\\debian\\, not the fallback \\EFI\\BOOT\\) drops to "
                       "the UEFI shell until its boot entry is added again")
    return "; ".join(effects)


def firmware_words(nvram: bool, tpm: bool) -> str:
    """"UEFI variables", "TPM state" or both, joined by "and"."""
    return " and ".join((["UEFI variables"] if nvram else []) + (["TPM state"] if tpm else []))


def firmware_left_behind(nvram: bool, tpm: bool, why: str) -> str:
    """One line for the user: the UEFI variables and/or TPM state do not go along (`why`),
    and what that means when the machine starts."""
    what = firmware_words(nvram, tpm)
    return f"{what} stay behind ({why}): {firmware_consequences(nvram, tpm)}"


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
