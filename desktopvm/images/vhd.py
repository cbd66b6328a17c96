"""Microsoft's VHD (footer) and VHDX (region and metadata tables): size, type, parent."""

from __future__ import annotations

import struct
import uuid

from desktopvm.images.facts import ImageFacts
from desktopvm.images.reader import Damaged, ImageReader

VHD_COOKIE = b"conectix"
VHDX_SIGNATURE = b"vhdxfile"
_FOOTER = 512
_VHD_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}

# VHDX (MS-VHDX 2.2–2.6): region tables at 192 and 256 KiB, GUIDs stored little-endian.
_REGION_TABLES = (192 * 1024, 256 * 1024)
_REGION_SIGNATURE = b"regi"
_METADATA_SIGNATURE = b"metadata"
_MAX_ENTRIES = 2047
_METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
_FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
_VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
_PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C").bytes_le
_HAS_PARENT = 1 << 1


def vhd_footer(image: ImageReader) -> bytes | None:
    """The VHD footer: at the end (fixed and dynamic), or its copy at the start (dynamic)."""
    if image.size >= _FOOTER:
        tail = image.read(image.size - _FOOTER, _FOOTER)
        if tail.startswith(VHD_COOKIE):
            return tail
        # Some old tools wrote a 511-byte footer.
        if image.size >= _FOOTER + 1 and tail[1:].startswith(VHD_COOKIE):
            return tail[1:] + b"\0"
    head = image.read_upto(0, _FOOTER)
    if head.startswith(VHD_COOKIE) and len(head) == _FOOTER:
        return head
    return None


def inspect_vhd(footer: bytes) -> ImageFacts:
    """A VHD from its footer: fixed and dynamic are self-contained, differencing is not."""
    current_size = struct.unpack_from(">Q", footer, 48)[0]
    disk_type = struct.unpack_from(">I", footer, 60)[0]
    kind = _VHD_TYPES.get(disk_type)
    if kind is None:
        raise Damaged(f"VHD disk type {disk_type} does not exist")
    references = ("a parent disk (it is a differencing disk)",) if disk_type == 4 else ()
    return ImageFacts("vhd", virtual_size=current_size, subformat=kind, references=references)


def inspect_vhdx(image: ImageReader) -> ImageFacts:
    """A VHDX: both region tables and the metadata they point at; HasParent is a reference."""
    sizes: set[int] = set()
    references: list[str] = []
    valid = 0
    for table_offset in _REGION_TABLES:
        metadata = _metadata_region(image, table_offset)
        if metadata is None:
            continue
        valid += 1
        size, has_parent = _read_metadata(image, *metadata)
        sizes.add(size)
        if has_parent:
            references.append("a parent disk (it is a differencing disk)")
    if not valid:
        raise Damaged("the VHDX has no readable region table")
    if len(sizes) != 1:
        raise Damaged("the VHDX's two region tables disagree")
    return ImageFacts("vhdx", virtual_size=sizes.pop(),
                      subformat="differencing" if references else "",
                      references=tuple(dict.fromkeys(references)))


def _metadata_region(image: ImageReader, table_offset: int) -> tuple[int, int] | None:
    """(offset, length) of the metadata region the table names, or None for a bad table."""
    head = image.read_upto(table_offset, 16)
    if len(head) < 16 or not head.startswith(_REGION_SIGNATURE):
        return None
    count = struct.unpack_from("<I", head, 8)[0]
    if count > _MAX_ENTRIES:
        raise Damaged("the VHDX region table has implausibly many entries")
    entries = image.read(table_offset + 16, 32 * count, what="VHDX region table")
    for index in range(count):
        guid = entries[32 * index:32 * index + 16]
        offset, length = struct.unpack_from("<QI", entries, 32 * index + 16)
        if guid == _METADATA_REGION:
            return offset, length
    raise Damaged("the VHDX region table has no metadata region")


def _read_metadata(image: ImageReader, region: int, region_length: int) -> tuple[int, bool]:
    """(virtual size, has a parent) from the metadata table at `region`."""
    head = image.read(region, 32, what="VHDX metadata table")
    if not head.startswith(_METADATA_SIGNATURE):
        raise Damaged("the VHDX metadata table has a wrong signature")
    count = struct.unpack_from("<H", head, 10)[0]
    if count > _MAX_ENTRIES:
        raise Damaged("the VHDX metadata table has implausibly many entries")
    entries = image.read(region + 32, 32 * count, what="VHDX metadata table")
    size: int | None = None
    has_parent = False
    for index in range(count):
        guid = entries[32 * index:32 * index + 16]
        offset, length = struct.unpack_from("<II", entries, 32 * index + 16)
        if offset + length > region_length:
            raise Damaged("a VHDX metadata item lies outside its region")
        if guid == _FILE_PARAMETERS:
            flags = struct.unpack("<II", image.read(region + offset, 8, what="VHDX metadata"))[1]
            has_parent = has_parent or bool(flags & _HAS_PARENT)
        elif guid == _VIRTUAL_DISK_SIZE:
            size = struct.unpack("<Q", image.read(region + offset, 8, what="VHDX metadata"))[0]
        elif guid == _PARENT_LOCATOR:
            has_parent = True
    if size is None:
        raise Damaged("the VHDX metadata has no virtual disk size")
    return size, has_parent
