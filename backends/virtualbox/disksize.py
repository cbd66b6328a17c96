"""A disk image's capacity in bytes from its own header: VDI, VMDK and VHD.

showvminfo names a machine's disk files but not their sizes, and `showmediuminfo` reports
whole MBytes at the cost of one process per disk; the capacity field of the image header is
exact and costs one small read. Layouts: VirtualBox's `VDICore.h` (`VDIHEADER1`), VMware's
"Virtual Disk Format 5.0" (sparse extent header, descriptor extent lines), Microsoft's VHD
specification (the footer). An unreadable or unknown file gives 0 ("size not known").
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

SECTOR = 512
VDI_SIGNATURE = 0xBEDA107F
VDI_SIGNATURE_OFFSET = 0x40
VDI_VERSION_1 = 1  # major version (u32Version >> 16)
VDI_CB_DISK_OFFSET = 0x170  # VDIHEADER1.cbDisk (VDIPREHEADER is 0x48 bytes)
VMDK_SPARSE_MAGIC = b"KDMV"
VHD_COOKIE = b"conectix"
VHD_CURRENT_SIZE_OFFSET = 48
DESCRIPTOR_EXTENT = re.compile(rb'^\s*(?:RW|RDONLY|NOACCESS)\s+(\d+)\s+\w+', re.MULTILINE)
HEAD = 65536  # room for a descriptor with many extents


def image_capacity(path: str | Path) -> int:
    """The virtual size of the disk image at `path` in bytes (0 if it cannot be told)."""
    try:
        with Path(path).open("rb") as file:
            head = file.read(HEAD)
            if head[:8] != VHD_COOKIE and head[:4] != VMDK_SPARSE_MAGIC:
                file.seek(0, 2)
                end = file.tell()
                file.seek(max(0, end - SECTOR))
                tail = file.read(SECTOR)
            else:
                tail = b""
    except OSError:
        return 0
    return capacity_from(head, tail)


def capacity_from(head: bytes, tail: bytes = b"") -> int:
    """The capacity from an image's first bytes (and its last 512, where VHD keeps its footer)."""
    try:
        if len(head) >= VDI_CB_DISK_OFFSET + 8 and struct.unpack_from(
                "<I", head, VDI_SIGNATURE_OFFSET)[0] == VDI_SIGNATURE:
            version = struct.unpack_from("<I", head, VDI_SIGNATURE_OFFSET + 4)[0]
            if version >> 16 == VDI_VERSION_1:
                return int(struct.unpack_from("<Q", head, VDI_CB_DISK_OFFSET)[0])
            return 0
        if head[:4] == VMDK_SPARSE_MAGIC:
            return int(struct.unpack_from("<Q", head, 12)[0]) * SECTOR
        for footer in (head[:SECTOR], tail):
            if footer[:8] == VHD_COOKIE:
                return int(struct.unpack_from(">Q", footer, VHD_CURRENT_SIZE_OFFSET)[0])
        if head.lstrip().startswith(b"# Disk DescriptorFile"):
            return sum(int(n) for n in DESCRIPTOR_EXTENT.findall(head)) * SECTOR
    except struct.error:
        return 0
    return 0
