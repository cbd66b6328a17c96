"""VMDK: hosted sparse images (their embedded descriptor) and text descriptors (their extents)."""

from __future__ import annotations

import re
import struct

from desktopvm.images.facts import ImageFacts
from desktopvm.images.reader import Damaged, ImageReader

SPARSE_MAGIC = b"KDMV"
COWD_MAGIC = b"COWD"  # ESX 2 sparse: refused as a format we do not take
SECTOR = 512
MAX_DESCRIPTOR = 64 * 1024  # VMware writes about 1 KiB; QEMU reads at most 1 MiB

#: Hosted sparse formats whose data is all inside the one file.
SELF_CONTAINED = {"monolithicsparse", "streamoptimized"}
_FLAG_COMPRESSED = 1 << 16
_EXTENT = re.compile(
    r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$', re.IGNORECASE)
_KEY_VALUE = re.compile(r'^([A-Za-z][\w.]*)\s*=\s*"?([^"]*)"?\s*$')


def looks_like_descriptor(head: bytes) -> bool:
    """Whether `head` (the first bytes of a file) is a VMDK text descriptor.

    QEMU's own probe: after comment and blank lines, a line "version=N". VMware's header
    comment is accepted too, so a descriptor QEMU would not probe is still recognised.
    """
    if head.startswith(b"# Disk DescriptorFile"):
        return True
    for raw in head.split(b"\n"):
        line = raw.strip(b" \t\r")
        if not line or line.startswith(b"#"):
            continue
        return line.startswith(b"version=")
    return False


def inspect_sparse(image: ImageReader) -> ImageFacts:
    """A hosted sparse VMDK ("KDMV"): monolithicSparse or streamOptimized, and what it names."""
    head = image.read(0, 79)
    (_version, flags, capacity, _grain, descriptor_offset,
     descriptor_size) = struct.unpack_from("<IIQQQQ", head, 4)
    compression = struct.unpack_from("<H", head, 77)[0]
    references: list[str] = []
    create_type = "streamOptimized" if flags & _FLAG_COMPRESSED and compression else \
        "monolithicSparse"
    extents: tuple[str, ...] = ()
    if descriptor_offset:
        length = min(descriptor_size * SECTOR, MAX_DESCRIPTOR)
        text = image.read(descriptor_offset * SECTOR, length, what="embedded descriptor")
        descriptor = parse_descriptor(text.split(b"\0", 1)[0])
        create_type = descriptor.create_type or create_type
        extents = descriptor.extents
        references += descriptor.references
        if descriptor.create_type and descriptor.create_type.lower() not in SELF_CONTAINED:
            references.append(f"its embedded descriptor says createType "
                              f"{descriptor.create_type!r}, whose data lives in other files")
        if len(descriptor.extents) > 1:
            references.append(f"its embedded descriptor lists {len(descriptor.extents)} "
                              "extents (other files)")
    if capacity == 0:
        # QEMU then reads the embedded descriptor as a descriptor file and opens its extents.
        references.append("a zero capacity, which makes QEMU follow its embedded descriptor "
                          "to other files")
    return ImageFacts("vmdk", virtual_size=capacity * SECTOR, subformat=create_type,
                      references=tuple(dict.fromkeys(references)), extents=extents)


class Descriptor:
    """The parts of a VMDK text descriptor that matter for safety."""

    def __init__(self) -> None:
        self.create_type = ""
        self.extents: tuple[str, ...] = ()
        self.extent_types: tuple[str, ...] = ()
        self.sectors = 0
        self.references: list[str] = []


def parse_descriptor(data: bytes) -> Descriptor:
    """Read createType, the extent lines and any parent link of a descriptor."""
    if len(data) > MAX_DESCRIPTOR:
        raise Damaged("the VMDK descriptor is implausibly large")
    result = Descriptor()
    extents: list[str] = []
    types: list[str] = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        extent = _EXTENT.match(line)
        if extent:
            result.sectors += int(extent.group(2))
            types.append(extent.group(3).upper())
            extents.append(extent.group(4) or "")
            continue
        pair = _KEY_VALUE.match(line)
        if not pair:
            continue
        key, value = pair.group(1).lower(), pair.group(2).strip()
        if key == "createtype":
            result.create_type = value
        elif key == "parentfilenamehint" and value:
            result.references.append(f"parent disk {value!r}")
        elif key == "parentcid" and value.lower() not in ("ffffffff", ""):
            result.references.append("a parent disk (it is a delta of another disk)")
    result.extents = tuple(extents)
    result.extent_types = tuple(types)
    return result


def inspect_descriptor(image: ImageReader) -> ImageFacts:
    """A text descriptor: every extent is another file, so every extent is a reference."""
    if image.size > MAX_DESCRIPTOR:
        raise Damaged("the VMDK descriptor is implausibly large")
    descriptor = parse_descriptor(image.read(0, image.size, what="descriptor"))
    references = list(descriptor.references)
    for name, kind in zip(descriptor.extents, descriptor.extent_types, strict=True):
        if name:
            references.append(f"extent {name!r}")
        elif kind != "ZERO":  # a ZERO extent reads as zeros and names no file
            references.append(f"a {kind} extent without a file name")
    if not descriptor.extents:
        references.append("a descriptor without extents")
    return ImageFacts("vmdk", virtual_size=descriptor.sectors * SECTOR,
                      subformat=descriptor.create_type or "descriptor",
                      references=tuple(dict.fromkeys(references)),
                      extents=descriptor.extents)
