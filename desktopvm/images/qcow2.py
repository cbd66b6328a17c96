"""qcow2 headers (QEMU's docs/interop/qcow2.txt): size, backing file, data file, encryption."""

from __future__ import annotations

import struct

from desktopvm.images.facts import ImageFacts
from desktopvm.images.reader import Damaged, ImageReader

MAGIC = b"QFI\xfb"

_V2_HEADER = 72
_EXT_END = 0x00000000
_EXT_DATA_FILE = 0x44415441
_EXT_CRYPTO = 0x0537BE77
_MAX_EXTENSIONS = 256  # a real image has a handful; more is a forged header

_INCOMPAT_DIRTY = 1 << 0
_INCOMPAT_CORRUPT = 1 << 1
_INCOMPAT_DATA_FILE = 1 << 2
_INCOMPAT_COMPRESSION = 1 << 3
_INCOMPAT_EXTENDED_L2 = 1 << 4
_INCOMPAT_KNOWN = (_INCOMPAT_DIRTY | _INCOMPAT_CORRUPT | _INCOMPAT_DATA_FILE
                   | _INCOMPAT_COMPRESSION | _INCOMPAT_EXTENDED_L2)


def inspect(image: ImageReader) -> ImageFacts:
    """The facts of a qcow2 image (its magic is already known to match)."""
    head = image.read(0, _V2_HEADER)
    (version, backing_offset, backing_size, cluster_bits, size,
     crypt_method) = struct.unpack_from(">IQIIQI", head, 4)
    if version not in (2, 3):
        raise Damaged(f"qcow2 version {version} does not exist")
    if not 9 <= cluster_bits <= 21:
        raise Damaged(f"qcow2 cluster size 2^{cluster_bits} is out of range")
    references: list[str] = []
    problems: list[str] = []
    backing = ""
    if backing_offset or backing_size:
        backing = _backing_name(image, backing_offset, backing_size)
        references.append(f"backing file {backing!r}")
    if crypt_method:
        problems.append("it is encrypted (qcow2 AES), which DesktopVM cannot read")
    header_length = _V2_HEADER
    if version == 3:
        v3 = image.read(_V2_HEADER, 32)
        incompatible, _compatible, _autoclear, _refcount_order, header_length = \
            struct.unpack_from(">QQQII", v3, 0)
        if header_length < 104 or header_length % 8:
            raise Damaged(f"qcow2 header length {header_length} is invalid")
        if incompatible & _INCOMPAT_DATA_FILE:
            references.append("an external data file (the disk's contents live elsewhere)")
        if incompatible & _INCOMPAT_CORRUPT:
            problems.append("QEMU marked it corrupt")
        unknown = incompatible & ~_INCOMPAT_KNOWN
        if unknown:
            problems.append(f"it uses qcow2 features unknown here (0x{unknown:x})")
    cluster_size = 1 << cluster_bits
    for kind, data in _extensions(image, header_length, cluster_size):
        if kind == _EXT_DATA_FILE:
            name = data.decode("utf-8", "replace")
            references.append(f"external data file {name!r}")
        elif kind == _EXT_CRYPTO:
            problems.append("it is encrypted (LUKS), which DesktopVM cannot read")
    return ImageFacts("qcow2", virtual_size=size, subformat=f"v{version}",
                      references=tuple(dict.fromkeys(references)),
                      problems=tuple(dict.fromkeys(problems)), backing_file=backing)


def _backing_name(image: ImageReader, offset: int, size: int) -> str:
    if not 0 < size <= 1023:  # QEMU's own limit on the backing file name
        raise Damaged(f"the qcow2 backing file name has an invalid length ({size})")
    return image.read(offset, size, what="backing file name").decode("utf-8", "replace")


def _extensions(image: ImageReader, start: int, cluster_size: int) -> list[tuple[int, bytes]]:
    """The header extensions: (type, data) pairs, all inside the first cluster."""
    found: list[tuple[int, bytes]] = []
    offset = start
    limit = min(cluster_size, image.size)
    for _ in range(_MAX_EXTENSIONS):
        if offset + 8 > limit:
            return found  # no end marker before the first cluster ends: QEMU stops here too
        kind, length = struct.unpack(">II", image.read(offset, 8, what="header extension"))
        if kind == _EXT_END:
            return found
        if offset + 8 + length > limit:
            raise Damaged("a qcow2 header extension runs past the first cluster")
        found.append((kind, image.read(offset + 8, length, what="header extension")))
        offset += 8 + ((length + 7) & ~7)
    raise Damaged("the qcow2 header has implausibly many extensions")

