"""Changing or ejecting the disc of a running QEMU machine's optical drive, over QMP.

A change of settings while the machine runs is allowed when all it changes is which ISO is
in which existing drive: the same drives on the same controllers, only `iso` differs (the
settings dialog's Eject and Choose, `desktopvm-cli set --iso/--eject`). Anything else waits
for the machine to be off, as before. The disc is opened as `format=raw`, as at start: never
probed, so a file that is really a qcow2 with a backing file reads as the bytes it holds.
"""

from __future__ import annotations

from pathlib import Path

from backends.qemu import qmp
from backends.qemu.plans import cdrom_id
from desktopvm.model import MachineSpec
from desktopvm.protocol import CommandFailed


def disc_changes(current: MachineSpec, new: MachineSpec) -> list[tuple[str, str]] | None:
    """[(drive, new ISO or "" to eject)] when the storage differs only in the ISOs of
    existing optical drives; None when anything else about the storage changed."""
    if len(current.storage) != len(new.storage):
        return None
    changes: list[tuple[str, str]] = []
    for ci, (before, after) in enumerate(zip(current.storage, new.storage, strict=True)):
        if len(before.optical) != len(after.optical):
            return None
        if before.model_copy(update={"optical": ()}) != after.model_copy(update={"optical": ()}):
            return None
        for oi, (was, now) in enumerate(zip(before.optical, after.optical, strict=True)):
            if was.model_copy(update={"iso": ""}) != now.model_copy(update={"iso": ""}):
                return None
            if was.iso != now.iso:
                changes.append((cdrom_id(ci, oi), now.iso))
    return changes


def change_discs(qmp_socket: Path, changes: list[tuple[str, str]]) -> None:
    """Put each ISO in its drive (or eject it), forcing a tray the guest has locked."""
    for _drive, iso in changes:
        if iso and not Path(iso).is_file():
            raise CommandFailed(f"The ISO {iso} does not exist; nothing was changed")
    with qmp.connect(qmp_socket) as session:
        for drive, iso in changes:
            try:
                if iso:
                    session.execute("blockdev-change-medium", {
                        "device": drive, "filename": iso, "format": "raw",
                        "read-only-mode": "read-only"})
                else:
                    session.execute("eject", {"device": drive, "force": True})
            except CommandFailed as error:
                verb = f"put {Path(iso).name} in" if iso else "eject"
                raise CommandFailed(f"QEMU could not {verb} the optical drive: "
                                    f"{error.stderr or error.summary}",
                                    details=error.details) from error
