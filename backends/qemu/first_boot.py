"""A machine's first boot straight into an installer's kernel (`-kernel/-initrd/-append`).

Used for Debian's unattended install (desktopvm/media/unattended/initrd.py): the installer's
kernel and an initrd carrying the answers are kept in the machine's folder, with a small
record (`first-boot.json`: what it is, the command line, whether QEMU was started with it).

It is for **one** boot. `seeds.py` drops it when it takes the seed out (the machine was seen
running and then off); and the backend itself never starts QEMU with it twice: a start that
finds it already used drops it and boots from the disk — so a machine can never keep booting
the installer, even when DesktopVM did not see the first boot end. A saved state (or a memory
snapshot waiting to load) made during that boot is the exception: QEMU must get the same
kernel to resume it, so it is passed again until the machine starts afresh.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from backends.qemu.layout import MachineFiles
from backends.qemu.records import Record, Unreadable, _read, set_aside
from desktopvm.paths import atomic_write_bytes
from desktopvm.protocol import CommandFailed

log = logging.getLogger(__name__)


class FirstBoot(Record):
    """The record: `launched` turns true once QEMU ran with the kernel."""

    label: str
    append: str
    launched: bool = False


def _record(files: MachineFiles) -> Path:
    return files.first_boot


def _kernel(files: MachineFiles) -> Path:
    return files.first_boot_kernel


def _initrd(files: MachineFiles) -> Path:
    return files.first_boot_initrd


def paths(files: MachineFiles) -> list[Path]:
    """Everything this module keeps in the folder (all in MachineFiles.metadata: delete)."""
    return [_record(files), _kernel(files), _initrd(files)]


def _write_private(path: Path, data: bytes) -> None:
    """Readable by the owner only — the initrd holds the answers (the password's hash):
    atomic_write_bytes writes through mkstemp, whose file is 0600, and renames it."""
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise CommandFailed(f"Cannot write {path.name}: {error.strerror or error}",
                            details=f"{path}: {error!r}") from error


def set_up(files: MachineFiles, *, kernel: bytes, initrd: bytes, append: str,
           label: str) -> None:
    """Make the next start boot `kernel` with `initrd` and `append` (once)."""
    try:
        _write_private(_kernel(files), kernel)
        _write_private(_initrd(files), initrd)
        FirstBoot(label=label, append=append).save(_record(files))
    except BaseException:
        drop(files)
        raise


def load(files: MachineFiles) -> FirstBoot | None:
    """The record; None when there is none. A damaged one is set aside (and its kernel
    dropped): booting the disk is always safe, booting an installer twice is not."""
    try:
        return FirstBoot.model_validate(_read(_record(files)))
    except FileNotFoundError:
        return None
    except (Unreadable, ValueError) as error:
        log.warning("the first-boot record of %s is damaged (%s); booting from the disk",
                    files.id, error)
        set_aside(_record(files))
        drop(files)
        return None


def drop(files: MachineFiles) -> bool:
    """Remove the first boot (record, kernel, initrd); True when there was one."""
    had = _record(files).exists()
    for path in paths(files):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return had


def arguments(files: MachineFiles, *, resuming: bool) -> list[str]:
    """The QEMU arguments for this start: `-kernel … -initrd … -append …` on the first boot
    (and when resuming a state saved during it); none otherwise — a first boot already used,
    or whose files are gone, is dropped here."""
    record = load(files)
    if record is None:
        return []
    if record.launched and not resuming:
        log.info("%s: the installer's first boot is over; booting from the disk", files.id)
        drop(files)
        return []
    if not (_kernel(files).is_file() and _initrd(files).is_file()):
        log.warning("%s: the installer's kernel or initrd is gone; booting from the disk",
                    files.id)
        drop(files)
        return []
    return ["-kernel", str(_kernel(files)), "-initrd", str(_initrd(files)),
            "-append", record.append]


def launched(files: MachineFiles) -> None:
    """QEMU is running with the first boot's kernel: the next fresh start will not use it."""
    record = load(files)
    if record is not None and not record.launched:
        record.launched = True
        record.save(_record(files))


def label(files: MachineFiles) -> str:
    """What the next (or current) first boot is, for the details; "" when none."""
    with contextlib.suppress(Unreadable, ValueError, FileNotFoundError):
        return FirstBoot.model_validate(_read(_record(files))).label
    return ""
