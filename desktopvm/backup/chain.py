"""A disk at one point of a chain, put back together with qemu-img from an explicit json: chain."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktopvm.backup.publish import partial_folder
from desktopvm.backup.setfile import BackupSet, damaged
from desktopvm.backup.tools import qemu_img
from desktopvm.images import UnsafeImage, check_package_disk
from desktopvm.model import DiskFormat
from desktopvm.protocol import CancelToken, Progress


def layers(chain: list[BackupSet], slot: tuple[int, int, int]) -> list[tuple[Path, str,
                                                                             DiskFormat]]:
    """The disk at `slot` as (set folder, its file there, format), newest first, down to the
    full copy it starts from. `chain` is a verified set and its ancestors, newest first
    (verify refused any chain that builds on a disk that is not qcow2)."""
    found: list[tuple[Path, str, DiskFormat]] = []
    for backup in chain:
        disk = next((d for d in backup.disks if d.slot == slot), None)
        if disk is None:
            raise damaged(backup.path, "backup.json", f"no disk at {slot} for the chain")
        found.append((backup.path, disk.file, disk.format))
        if not disk.incremental:
            return found
    raise damaged(chain[-1].path, "backup.json", f"the disk at {slot} has no full copy")


def reassemble(chain: list[BackupSet], slot: tuple[int, int, int], target: Path,
               fmt: DiskFormat, *, subformat: str = "", compress: bool = False,
               progress: Progress | None = None, cancel: CancelToken) -> None:
    """Write the disk at `slot` as of `chain[0]` into the new file `target` (format `fmt`).

    Every layer is checked by the rules for disks from outside before qemu-img opens it, as
    a package's own file (no symbolic link on its way, inside its set: verify ran long
    before, and the drive may have changed since); qemu-img gets the format and the whole
    chain explicitly (nothing probed or followed).
    """
    found = layers(chain, slot)
    for folder, member, file_format in found:
        try:
            check_package_disk(folder, member, file_format, single_link=False)
        except UnsafeImage as error:
            raise damaged(folder, "", str(error)) from None
    files = [folder / member for folder, member, _ in found]
    qemu_img().convert(files[0], target, fmt, subformat=subformat, compress=compress,
                      source_format=found[0][2], backing_chain=files[1:],
                      progress=progress, cancel=cancel)


@contextmanager
def scratch(near: Path) -> Iterator[Path]:
    """A scratch folder beside `near` (a marked partial folder, swept if we are killed), or in
    the temporary folder when the destination cannot be written (a read-only drive)."""
    try:
        context = partial_folder(near)
        folder = context.__enter__()
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="desktopvm-restore-"))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    try:
        yield folder
    finally:
        with contextlib.suppress(OSError):
            context.__exit__(None, None, None)
