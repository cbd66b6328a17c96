"""The loaders in a disc's El Torito EFI image: a small FAT file system, read by hand.

UEFI firmware boots a CD through the FAT image the EFI boot entry points at, and starts
`EFI/BOOT/BOOT<arch>.EFI` in it; its names are the surest word on which architectures the
disc boots on (some discs, FreeBSD's among them, have no EFI folder in their ISO 9660 tree).
Only the boot sector and the first cluster of the root, `EFI` and `EFI/BOOT` directories are
read, each bounded by the image file's size.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from desktopvm.media.iso import SECTOR, IsoError, read_at

MAX_CLUSTER_BYTES = 64 * 1024
DIRECTORY = 0x10
LONG_NAME = 0x0F


class _Fat:
    """Where a FAT12/16/32 volume's directories lie, from its boot sector."""

    def __init__(self, handle: BinaryIO, size: int, start: int) -> None:
        self.handle, self.size, self.start = handle, size, start
        boot = read_at(handle, size, start, 512)
        if boot[510:512] != b"\x55\xaa":
            raise IsoError("the EFI boot image is not a FAT file system")
        (self.sector, per_cluster, reserved, fats, root_entries, _total16, _media,
         fat16) = struct.unpack_from("<HBHBHHBH", boot, 11)
        if self.sector not in (512, 1024, 2048, 4096) or per_cluster == 0 or fats == 0:
            raise IsoError("the EFI boot image has a damaged FAT boot sector")
        fat_size = fat16 or struct.unpack_from("<I", boot, 36)[0]
        self.cluster_bytes = min(per_cluster * self.sector, MAX_CLUSTER_BYTES)
        self.per_cluster = per_cluster
        self.root_offset = start + (reserved + fats * fat_size) * self.sector
        self.root_bytes = root_entries * 32
        self.data = self.root_offset + self.root_bytes
        self.root_cluster = 0 if root_entries else struct.unpack_from("<I", boot, 44)[0]

    def root(self) -> bytes:
        if self.root_bytes:  # FAT12/16: a fixed area after the FATs
            return read_at(self.handle, self.size, self.root_offset,
                           min(self.root_bytes, MAX_CLUSTER_BYTES))
        return self.cluster(self.root_cluster)

    def cluster(self, number: int) -> bytes:
        if number < 2:
            raise IsoError("the EFI boot image has a directory in no cluster")
        offset = self.data + (number - 2) * self.per_cluster * self.sector
        return read_at(self.handle, self.size, offset, self.cluster_bytes)


def _entries(directory: bytes) -> list[tuple[str, bool, int]]:
    """(8.3 name as 'BOOTX64.EFI', is a directory, first cluster) for each entry."""
    found = []
    for offset in range(0, len(directory) - 31, 32):
        entry = directory[offset:offset + 32]
        if entry[0] == 0:
            break
        if entry[0] == 0xE5 or entry[11] == LONG_NAME:
            continue
        base = entry[:8].decode("latin-1").rstrip()
        extension = entry[8:11].decode("latin-1").rstrip()
        cluster = struct.unpack_from("<H", entry, 26)[0] | \
            (struct.unpack_from("<H", entry, 20)[0] << 16)
        found.append((f"{base}.{extension}" if extension else base,
                      bool(entry[11] & DIRECTORY), cluster))
    return found


def efi_loaders(handle: BinaryIO, size: int, load_rba: int) -> list[str]:
    """The file names in EFI/BOOT of the FAT image at sector `load_rba`; IsoError when the
    image cannot be read."""
    fat = _Fat(handle, size, load_rba * SECTOR)
    directory = fat.root()
    for wanted in ("EFI", "BOOT"):
        match = next((cluster for name, is_dir, cluster in _entries(directory)
                      if is_dir and name.upper() == wanted), None)
        if match is None:
            return []
        directory = fat.cluster(match)
    return [name for name, is_dir, _ in _entries(directory) if not is_dir]
