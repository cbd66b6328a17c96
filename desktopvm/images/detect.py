"""Which format an image is, from its bytes alone, and its facts (see each format's module)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO

from desktopvm.images import qcow2, vdi, vhd, vmdk
from desktopvm.images.facts import ImageFacts, UnsafeImage
from desktopvm.images.reader import Damaged, ImageReader

_HEAD = 4096
_ISO_MAGIC_OFFSET = 0x8001  # "CD001" in the first ISO 9660 volume descriptor

#: Formats QEMU can open that we never take from outside (several of them name other files).
_OTHER = (
    (b"QED\0", "qed"),
    (b"LUKS\xba\xbe", "luks"),
    (b"WithoutFreeSpace", "parallels"),
    (b"WithouFreSpacExt", "parallels"),
    (b"Bochs Virtual HD Image", "bochs"),
    (b"#!/bin/sh\n#V2.0 Format", "cloop"),
    (vmdk.COWD_MAGIC, "vmdk3"),
)


def inspect_image(source: Path | IO[bytes], *, size: int | None = None,
                  name: str = "") -> ImageFacts:
    """The facts of the image at `source` (a path or a seekable binary file), from its headers.

    Only the image's own bytes are read, within its size, a bounded amount. A damaged or
    forged header raises UnsafeImage naming `name` (or the path).
    """
    if isinstance(source, Path):
        label = name or source.name
        with source.open("rb") as file:
            return _inspect(ImageReader(file, size), label)
    return _inspect(ImageReader(source, size), name or "the disk image")


def _inspect(image: ImageReader, label: str) -> ImageFacts:
    try:
        return _facts(image)
    except Damaged as error:
        raise UnsafeImage(f"{label}: {error}; it is damaged or forged") from error
    except struct.error as error:  # a short field: the same as damaged
        raise UnsafeImage(f"{label}: a header is cut short; it is damaged or forged") from error


def _facts(image: ImageReader) -> ImageFacts:
    head = image.read_upto(0, _HEAD)
    if head.startswith(qcow2.MAGIC):
        return qcow2.inspect(image)
    if head.startswith(vmdk.SPARSE_MAGIC):
        return vmdk.inspect_sparse(image)
    if head.startswith(vhd.VHDX_SIGNATURE):
        return vhd.inspect_vhdx(image)
    if vdi.is_vdi(head):
        return vdi.inspect(image)
    for magic, other in _OTHER:
        if head.startswith(magic):
            return ImageFacts(f"other:{other}")
    if vmdk.looks_like_descriptor(head):
        return vmdk.inspect_descriptor(image)
    footer = vhd.vhd_footer(image)
    if footer is not None:
        return vhd.inspect_vhd(footer)
    if image.read_upto(_ISO_MAGIC_OFFSET, 5) == b"CD001":
        return ImageFacts("iso", virtual_size=image.size)
    return ImageFacts("raw", virtual_size=image.size)
