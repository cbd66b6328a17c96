"""Disk tools: an ESXi machine's disks live on the host's datastores, not in this computer's
files, so the protocol's disk tools (which take local paths) do not apply; disks are made and
grown through the machine's settings (ReconfigVM) instead."""

from __future__ import annotations

from pathlib import Path

from desktopvm.protocol import UnsupportedOperation


def unsupported(path: Path) -> UnsupportedOperation:
    """What the disk tools say for a local path."""
    return UnsupportedOperation(
        "ESXi disks live on the host's datastores: add or grow a disk in the machine's "
        "settings; files on this computer are not ESXi disks", str(path))
