"""Hostile disk images for the tests: each trick points at a canary file of "the host".

Built with the real qemu-img where it can make the trick (backing files, data files, split
VMDKs) and by hand where it cannot (forged VMDK descriptors, differencing VHD/VHDX/VDI).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

CANARY = b"DVM-CANARY-7f3c1e-host-secret\n"
MIB = 1024 * 1024


def qemu_img(*args: str) -> None:
    """Run the real qemu-img (skip where it is missing: the QEMU backend needs it anyway)."""
    binary = shutil.which("qemu-img")
    if binary is None:
        pytest.skip("qemu-img is not installed (sudo apt-get install qemu-utils)")
    subprocess.run([binary, *args], check=True, capture_output=True)


def canary(folder: Path) -> Path:
    """A host file with a recognisable secret, repeated so that any copy of it is found."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret.txt"
    path.write_bytes(CANARY * 4096)
    return path


def contains_canary(root: Path) -> list[Path]:
    """Every file under `root` that holds the canary."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and CANARY.strip() in p.read_bytes()]


# -- qcow2 --------------------------------------------------------------------------------------
def qcow2_backing(path: Path, backing: str, backing_format: str = "raw") -> Path:
    """A qcow2 whose backing file is `backing` (not opened while making it: -u)."""
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", backing_format,
             str(path), "1M")
    return path


def qcow2_data_file(path: Path, data_file: Path) -> Path:
    """A qcow2 whose contents live in `data_file`, which then gets the canary."""
    qemu_img("create", "-q", "-f", "qcow2", "-o",
             f"data_file={data_file},data_file_raw=on", str(path), "1M")
    with data_file.open("r+b") as file:
        file.write(CANARY * 64)
    return path


# -- VMDK ---------------------------------------------------------------------------------------
def vmdk_descriptor(path: Path, extent: str, *, create_type: str = "monolithicFlat") -> Path:
    """A VMDK text descriptor whose one FLAT extent is `extent`."""
    path.write_text(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        f'createType="{create_type}"\n\n# Extent description\n'
        f'RW 2048 FLAT "{extent}" 0\n\n# The Disk Data Base\n#DDB\n'
        'ddb.virtualHWVersion = "4"\nddb.geometry.cylinders = "2"\n', encoding="ascii")
    return path


def vmdk_sparse_zero_capacity(path: Path, extent: str) -> Path:
    """A hosted sparse VMDK with capacity 0 whose embedded descriptor names `extent`."""
    qemu_img("create", "-q", "-f", "vmdk", str(path), "1M")
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, 12, 0)  # capacity
    offset = struct.unpack_from("<Q", data, 28)[0] * 512
    size = struct.unpack_from("<Q", data, 36)[0] * 512
    text = ('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
            f'createType="monolithicFlat"\nRW 2048 FLAT "{extent}" 0\n').encode()
    data[offset:offset + size] = text.ljust(size, b"\0")
    path.write_bytes(bytes(data))
    return path


# -- Microsoft and VirtualBox differencing disks (qemu-img cannot make them) ------------------
def vhd_differencing(path: Path) -> Path:
    """A dynamic VHD whose footer (both copies) says "differencing"."""
    qemu_img("create", "-q", "-f", "vpc", str(path), "1M")
    data = bytearray(path.read_bytes())
    for footer in (0, len(data) - 512):
        assert data[footer:footer + 8] == b"conectix"
        struct.pack_into(">I", data, footer + 60, 4)
    path.write_bytes(bytes(data))
    return path


def vhdx_with_parent(path: Path) -> Path:
    """A VHDX whose File Parameters say HasParent (what a differencing VHDX says)."""
    qemu_img("create", "-q", "-f", "vhdx", str(path), "1M")
    data = bytearray(path.read_bytes())
    guid = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
    region_guid = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
    patched = 0
    for table in (192 * 1024, 256 * 1024):
        count = struct.unpack_from("<I", data, table + 8)[0]
        for index in range(count):
            entry = table + 16 + 32 * index
            if data[entry:entry + 16] == region_guid:
                region = struct.unpack_from("<Q", data, entry + 16)[0]
                items = struct.unpack_from("<H", data, region + 10)[0]
                for item in range(items):
                    at = region + 32 + 32 * item
                    if data[at:at + 16] == guid:
                        offset = struct.unpack_from("<I", data, at + 16)[0]
                        flags = struct.unpack_from("<I", data, region + offset + 4)[0]
                        struct.pack_into("<I", data, region + offset + 4, flags | 2)
                        patched += 1
    assert patched
    path.write_bytes(bytes(data))
    return path


def vdi_differencing(path: Path) -> Path:
    """A VDI whose header says "differencing" and names a parent UUID."""
    qemu_img("create", "-q", "-f", "vdi", str(path), "1M")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 76, 4)
    data[424:440] = uuid.uuid4().bytes
    path.write_bytes(bytes(data))
    return path


def json_backing(target: Path) -> str:
    """A `json:` pseudo-protocol backing file name that opens `target` raw."""
    return "json:" + json.dumps({"driver": "raw",
                                 "file": {"driver": "file", "filename": str(target)}})


#: name -> (builder(folder, canary) -> disk path, declared OVF format URL)
QCOW_URL = "http://www.gnome.org/~markmc/qcow-image-format.html"
VMDK_URL = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
Builder = Callable[[Path, Path], Path]

TRICKS: dict[str, tuple[Builder, str]] = {
    "qcow2 backing file, absolute": (
        lambda d, c: qcow2_backing(d / "disk1.qcow2", str(c)), QCOW_URL),
    "qcow2 backing file, relative": (
        lambda d, c: qcow2_backing(d / "disk1.qcow2", "../../host/secret.txt"), QCOW_URL),
    "qcow2 backing file, json: pseudo-protocol": (
        lambda d, c: qcow2_backing(d / "disk1.qcow2", json_backing(c)), QCOW_URL),
    "qcow2 backing file, vvfat folder": (
        lambda d, c: qcow2_backing(d / "disk1.qcow2", f"fat:ro:{c.parent}"), QCOW_URL),
    "qcow2 external data file": (
        lambda d, c: qcow2_data_file(d / "disk1.qcow2", c.parent / "data.raw"), QCOW_URL),
    "qcow2 named .vmdk, declared VMDK": (
        lambda d, c: qcow2_backing(d / "disk1.vmdk", str(c)), VMDK_URL),
    "VMDK descriptor, absolute extent": (
        lambda d, c: vmdk_descriptor(d / "disk1.vmdk", str(c)), VMDK_URL),
    "VMDK descriptor, relative extent": (
        lambda d, c: vmdk_descriptor(d / "disk1.vmdk", "../../host/secret.txt"), VMDK_URL),
    "VMDK sparse, zero capacity, embedded descriptor": (
        lambda d, c: vmdk_sparse_zero_capacity(d / "disk1.vmdk", str(c)), VMDK_URL),
    "VHD differencing": (lambda d, c: vhd_differencing(d / "disk1.vhd"),
                         "http://go.microsoft.com/fwlink/?LinkId=137171"),
    "VHDX with a parent": (lambda d, c: vhdx_with_parent(d / "disk1.vhdx"), "vhdx"),
    "VDI differencing": (lambda d, c: vdi_differencing(d / "disk1.vdi"), "vdi"),
}
