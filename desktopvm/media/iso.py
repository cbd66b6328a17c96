"""ISO 9660 read by hand: volume descriptors, the El Torito catalog and a few named files.

Only the sectors that answer a question are read (the descriptors at 32 KiB, the boot
catalog, the directories on the way to a handful of known paths), so a 6 GB DVD is as quick
as a 1 MB test image. Every read is bounded and checked against the file's size, and paths
are looked up one known component at a time: there is no walk of the tree to blow up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

SECTOR = 2048
FIRST_DESCRIPTOR = 16
MAX_DESCRIPTORS = 64  # real discs have 3-5; a hostile one must not make us read forever
MAX_CATALOG_SECTORS = 4
MAX_BOOT_ENTRIES = 64
MAX_DIRECTORY_BYTES = 4 * 1024 * 1024  # a directory larger than this is not a real disc's
MAX_FILE_BYTES = 64 * 1024  # release files are a few lines
EL_TORITO = b"EL TORITO SPECIFICATION"
JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")

PLATFORM_BIOS = 0x00
PLATFORM_EFI = 0xEF
PLATFORM_NAMES = {0x00: "x86 BIOS", 0x01: "PowerPC", 0x02: "Mac", 0xEF: "EFI"}


class IsoError(Exception):
    """The file is not a readable ISO 9660 image; the message is one line for a person."""


@dataclass(frozen=True)
class BootEntry:
    """One bootable El Torito entry: the platform it is for and where its image lies."""

    platform_id: int
    bootable: bool
    media_type: int
    load_rba: int
    sector_count: int

    @property
    def platform(self) -> str:
        """'x86 BIOS', 'EFI', … as El Torito names the platform."""
        return PLATFORM_NAMES.get(self.platform_id, f"platform 0x{self.platform_id:02x}")


@dataclass(frozen=True)
class Directory:
    """Where a directory's records lie and which name set they use."""

    lba: int
    size: int
    joliet: bool


@dataclass
class IsoVolume:
    """What the descriptors say, and the way into the directory tree."""

    size: int
    system_id: str = ""
    volume_id: str = ""
    publisher_id: str = ""
    application_id: str = ""
    volume_blocks: int = 0
    boot_entries: list[BootEntry] = field(default_factory=list)
    udf: bool = False
    primary_root: Directory | None = None
    joliet_root: Directory | None = None


def _text(raw: bytes) -> str:
    """A d-/a-character field: ASCII in practice, padded with spaces (or NULs)."""
    return raw.decode("latin-1").rstrip(" \x00")


def read_at(handle: BinaryIO, size: int, offset: int, length: int) -> bytes:
    """Exactly `length` bytes at `offset`, or IsoError when the file is shorter."""
    if offset < 0 or length < 0 or offset + length > size:
        raise IsoError(f"the image is truncated: it ends at byte {size}, a structure needs "
                       f"bytes {offset}-{offset + length}")
    handle.seek(offset)
    data = handle.read(length)
    if len(data) != length:
        raise IsoError("the image is truncated (a read came back short)")
    return data


def read_volume(handle: BinaryIO, size: int) -> IsoVolume:
    """The descriptors, the boot catalog and whether a UDF file system is there too."""
    volume = IsoVolume(size=size)
    if size < (FIRST_DESCRIPTOR + 1) * SECTOR:
        raise IsoError(f"too small for an ISO 9660 image ({size} bytes)")
    catalog_lba: int | None = None
    sector = FIRST_DESCRIPTOR
    primary_seen = False
    for sector in range(FIRST_DESCRIPTOR, FIRST_DESCRIPTOR + MAX_DESCRIPTORS):
        if (sector + 1) * SECTOR > size:
            raise IsoError("the image is truncated inside its volume descriptors")
        block = read_at(handle, size, sector * SECTOR, SECTOR)
        kind, ident = block[0], block[1:6]
        if ident != b"CD001":
            if not primary_seen:
                raise IsoError("not an ISO 9660 image (no CD001 volume descriptor at 32 KiB)")
            break
        if kind == 255:
            break
        if kind == 0 and block[7:7 + len(EL_TORITO)] == EL_TORITO:
            catalog_lba = struct.unpack_from("<I", block, 0x47)[0]
        elif kind == 1 and not primary_seen:
            primary_seen = True
            _primary(volume, block)
        elif kind == 2 and block[88:91] in JOLIET_ESCAPES:
            volume.joliet_root = _root(block, joliet=True)
    else:
        raise IsoError(f"no volume descriptor set terminator in {MAX_DESCRIPTORS} sectors")
    if not primary_seen:
        raise IsoError("not an ISO 9660 image (no primary volume descriptor)")
    volume.udf = _has_udf(handle, size, sector + 1)
    if catalog_lba is not None:
        volume.boot_entries = _boot_catalog(handle, size, catalog_lba)
    return volume


def _primary(volume: IsoVolume, block: bytes) -> None:
    block_size = struct.unpack_from("<H", block, 128)[0]
    if block_size != SECTOR:
        raise IsoError(f"unsupported logical block size {block_size} (discs use 2048)")
    volume.system_id = _text(block[8:40])
    volume.volume_id = _text(block[40:72])
    volume.volume_blocks = struct.unpack_from("<I", block, 80)[0]
    volume.publisher_id = _text(block[318:446])
    volume.application_id = _text(block[574:702])
    volume.primary_root = _root(block, joliet=False)


def _root(block: bytes, *, joliet: bool) -> Directory:
    record = block[156:190]
    lba, length = struct.unpack_from("<I", record, 2)[0], struct.unpack_from("<I", record, 10)[0]
    return Directory(lba=lba, size=length, joliet=joliet)


def _has_udf(handle: BinaryIO, size: int, first: int) -> bool:
    """UDF announces itself with NSR02/NSR03 in the volume recognition sequence that follows."""
    for sector in range(first, first + 16):
        if (sector + 1) * SECTOR > size:
            return False
        ident = read_at(handle, size, sector * SECTOR + 1, 5)
        if ident in (b"NSR02", b"NSR03"):
            return True
        if ident not in (b"BEA01", b"TEA01", b"BOOT2", b"CD001", b"CDW02"):
            return False
    return False


def _boot_catalog(handle: BinaryIO, size: int, lba: int) -> list[BootEntry]:
    """The El Torito entries: the default one, then every section's (one platform each)."""
    if lba * SECTOR >= size:
        raise IsoError("the El Torito boot catalog lies past the end of the image")
    length = min(MAX_CATALOG_SECTORS * SECTOR, size - lba * SECTOR)
    data = read_at(handle, size, lba * SECTOR, length - length % 32)
    if len(data) < 64 or data[0] != 1 or data[30:32] != b"\x55\xaa":
        raise IsoError("the El Torito boot catalog is damaged (no validation entry)")
    if sum(struct.unpack_from("<16H", data, 0)) & 0xFFFF:
        raise IsoError("the El Torito boot catalog is damaged (bad checksum)")
    entries = [_entry(data, 32, data[1])]
    offset = 64
    platform = data[1]
    remaining = 0
    last_section = False
    while offset + 32 <= len(data) and len(entries) < MAX_BOOT_ENTRIES:
        indicator = data[offset]
        if remaining == 0:
            if last_section or indicator not in (0x90, 0x91):
                break
            last_section = indicator == 0x91
            platform = data[offset + 1]
            remaining = struct.unpack_from("<H", data, offset + 2)[0]
        elif indicator in (0x88, 0x00):
            entries.append(_entry(data, offset, platform))
            remaining -= 1
        elif indicator == 0x44:  # a section entry extension: belongs to the entry before
            pass
        else:
            break
        offset += 32
    return [entry for entry in entries if entry.bootable]


def _entry(data: bytes, offset: int, platform: int) -> BootEntry:
    count, rba = struct.unpack_from("<HI", data, offset + 6)
    return BootEntry(platform_id=platform, bootable=data[offset] == 0x88,
                     media_type=data[offset + 1] & 0x0F, load_rba=rba, sector_count=count)


def directory_records(handle: BinaryIO, size: int,
                      directory: Directory) -> list[tuple[str, Directory, bool]]:
    """(name, where, is_directory) for each record of one directory, names as the disc has
    them (Joliet's UCS-2, else Rock Ridge's NM, else the ISO 9660 name without ';1')."""
    length = min(directory.size, MAX_DIRECTORY_BYTES)
    data = read_at(handle, size, directory.lba * SECTOR, length)
    found = []
    offset = 0
    while offset < len(data):
        record_length = data[offset]
        if record_length == 0:  # records never cross a sector: the rest of it is padding
            offset = (offset // SECTOR + 1) * SECTOR
            continue
        if record_length < 34 or offset + record_length > len(data):
            break
        record = data[offset:offset + record_length]
        name_length = record[32]
        raw_name = record[33:33 + name_length]
        if raw_name not in (b"\x00", b"\x01"):  # '.' and '..'
            lba = struct.unpack_from("<I", record, 2)[0]
            extent = struct.unpack_from("<I", record, 10)[0]
            is_dir = bool(record[25] & 0x02)
            if directory.joliet:
                name = raw_name.decode("utf-16-be", "replace")
            else:
                pad = 1 if name_length % 2 == 0 else 0
                name = _rock_ridge_name(record[33 + name_length + pad:]) or \
                    raw_name.decode("latin-1")
            found.append((name.split(";")[0], Directory(lba, extent, directory.joliet), is_dir))
        offset += record_length
    return found


def _rock_ridge_name(area: bytes) -> str:
    """The NM entries' name in a record's system use area (continuation areas are not
    followed: a name long enough to need one is not one of the release files we look for)."""
    parts: list[bytes] = []
    offset = 0
    while offset + 4 <= len(area):
        signature, length = area[offset:offset + 2], area[offset + 2]
        if length < 4 or offset + length > len(area):
            break
        if signature == b"NM" and length >= 5:
            parts.append(area[offset + 5:offset + length])
        offset += length
    return b"".join(parts).decode("utf-8", "replace")


def _same_name(on_disc: str, wanted: str) -> bool:
    """Case-insensitive, and plain ISO 9660's '_DISK' or 'DISK' stands for '.disk'."""
    disc, want = on_disc.lower().rstrip("."), wanted.lower()
    return disc == want or (want.startswith(".") and disc in ("_" + want[1:], want[1:]))


def lookup(handle: BinaryIO, volume: IsoVolume, path: str) -> tuple[Directory, bool] | None:
    """The entry at `path` ('EFI/BOOT'), or None; Joliet names first, as they are the
    fullest, then the primary tree's."""
    for root in (volume.joliet_root, volume.primary_root):
        if root is None:
            continue
        current, is_dir = root, True
        for component in path.strip("/").split("/"):
            if not is_dir:
                break
            match = next(((where, directory) for name, where, directory in
                          directory_records(handle, volume.size, current)
                          if _same_name(name, component)), None)
            if match is None:
                break
            current, is_dir = match
        else:
            return current, is_dir
    return None


def list_directory(handle: BinaryIO, volume: IsoVolume, path: str) -> list[str]:
    """The names in the directory at `path`, or [] when there is none."""
    found = lookup(handle, volume, path)
    if found is None or not found[1]:
        return []
    return [name for name, _, _ in directory_records(handle, volume.size, found[0])]


def read_small_file(handle: BinaryIO, volume: IsoVolume, path: str) -> str | None:
    """A release file's text (its first 64 KiB), or None when the disc has no such file."""
    found = lookup(handle, volume, path)
    if found is None or found[1]:
        return None
    where = found[0]
    length = min(where.size, MAX_FILE_BYTES)
    return read_at(handle, volume.size, where.lba * SECTOR, length).decode("utf-8", "replace")
