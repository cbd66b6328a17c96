"""VirtualBox VDI headers (version 1.1, as QEMU's block/vdi.c reads them): size, type, parent."""

from __future__ import annotations

import struct

from desktopvm.images.facts import ImageFacts
from desktopvm.images.reader import Damaged, ImageReader

SIGNATURE = 0xBEDA107F
SIGNATURE_OFFSET = 64
_TYPES = {1: "dynamic", 2: "fixed", 3: "undo", 4: "differencing"}
_NO_UUID = bytes(16)


def is_vdi(head: bytes) -> bool:
    """Whether the first bytes carry the VDI signature (after its 64-byte text banner)."""
    return (len(head) >= SIGNATURE_OFFSET + 4
            and struct.unpack_from("<I", head, SIGNATURE_OFFSET)[0] == SIGNATURE)


def inspect(image: ImageReader) -> ImageFacts:
    """A VDI: normal and fixed images are self-contained; undo and differencing name a parent."""
    header = image.read(0, 456)
    version = struct.unpack_from("<I", header, 68)[0]
    if version >> 16 != 1:
        raise Damaged(f"VDI version {version >> 16}.{version & 0xFFFF} is not supported")
    image_type = struct.unpack_from("<I", header, 76)[0]
    kind = _TYPES.get(image_type)
    if kind is None:
        raise Damaged(f"VDI image type {image_type} does not exist")
    disk_size = struct.unpack_from("<Q", header, 368)[0]
    parent = header[424:440]
    references: list[str] = []
    if image_type in (3, 4) or parent != _NO_UUID:
        # VirtualBox resolves the parent by UUID in its media registry: any registered disk.
        references.append("a parent disk (it is a differencing disk)")
    return ImageFacts("vdi", virtual_size=disk_size, subformat=kind, references=tuple(references))
