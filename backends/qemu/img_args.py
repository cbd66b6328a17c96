"""Disk images on qemu-img's command line: never taken for an option, a protocol or probed."""

from __future__ import annotations

import json
from pathlib import Path

from desktopvm.model.devices import DiskFormat

#: Our disk formats as qemu-img names them.
QEMU_FORMATS: dict[DiskFormat, str] = {
    DiskFormat.QCOW2: "qcow2",
    DiskFormat.RAW: "raw",
    DiskFormat.VDI: "vdi",
    DiskFormat.VMDK: "vmdk",
    DiskFormat.VHDX: "vhdx",
    DiskFormat.VHD: "vpc",
}


def qemu_format(fmt: DiskFormat | str) -> str:
    """The qemu-img name of a disk format (vhd is "vpc")."""
    return QEMU_FORMATS[DiskFormat(fmt)]


def image_arg(path: Path) -> str:
    """An image path as an argument qemu-img cannot mistake for an option or a protocol.

    Absolute paths never start with "-" and have no "proto:" prefix before their first "/".
    """
    return str(Path(path).absolute())



def untrusted_source(source: Path, fmt: DiskFormat) -> list[str]:
    """The source arguments for a checked disk from outside: its format given, never probed.

    A qcow2 goes in as a JSON node with `"backing": null`, so even a backing file the
    header check missed could not be opened.
    """
    if DiskFormat(fmt) is DiskFormat.QCOW2:
        node = {"driver": "qcow2", "backing": None,
                "file": {"driver": "file", "filename": image_arg(source)}}
        return ["json:" + json.dumps(node)]
    return ["-f", qemu_format(fmt), image_arg(source)]


def chain_source(layers: list[Path]) -> list[str]:
    """A checked qcow2 chain (newest first) as one json: source: each layer's backing is the
    next, the last has none; no file's own header is followed (backup sets, desktopvm.backup)."""
    node: dict[str, object] | None = None
    for layer in reversed(layers):
        node = {"driver": "qcow2", "backing": node,
                "file": {"driver": "file", "filename": image_arg(layer)}}
    return ["json:" + json.dumps(node)]
