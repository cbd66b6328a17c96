"""Hyper-V's disk tools: VHD/VHDX files made, read, grown, converted and compacted on the host."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

from backends.hyperv import parsers, placement, plans
from backends.hyperv.machines import discard_path
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner
from desktopvm.model import DiskFormat
from desktopvm.protocol import (
    CancelToken,
    DiskInfo,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
)


def require_vhd(path: Path, disk_format: DiskFormat) -> None:
    """Hyper-V makes VHDX and VHD only, and picks the format by the file's extension."""
    if disk_format not in (DiskFormat.VHDX, DiskFormat.VHD):
        raise UnsupportedOperation(f"Hyper-V cannot make {disk_format.value.upper()} disks; "
                                   "use VHDX or VHD")
    if PureWindowsPath(str(path)).suffix.lower() != f".{disk_format.value}":
        raise UnsupportedOperation(f"A {disk_format.value.upper()} disk's file name must end "
                                   f"in .{disk_format.value}")


def info(runner: Runner, path: Path) -> DiskInfo:
    """Get-VHD."""
    return parsers.disk_info(runner.run(Call("get_vhd", {"Path": str(path)})))


def create(runner: Runner, path: Path, disk_format: DiskFormat, size_bytes: int) -> DiskInfo:
    """New-VHD, dynamic, its size rounded as Hyper-V requires."""
    require_vhd(path, disk_format)
    row = runner.run(Call("new_vhd", {"Path": str(path), "SizeBytes": placement.round_size(
        size_bytes), "Fixed": False}, timeout=plans.SLOW), interruptible=False)
    return parsers.disk_info(row)


def resize(runner: Runner, path: Path, size_bytes: int) -> DiskInfo:
    """Resize-VHD (grow)."""
    row = runner.run(Call("resize_vhd", {"Path": str(path),
                                         "SizeBytes": placement.round_size(size_bytes)},
                          timeout=plans.COPY), interruptible=False, slow=True)
    return parsers.disk_info(row)


def convert(runner: Runner, source: Path, target: Path, disk_format: DiskFormat, *,
            progress: Progress, cancel: CancelToken) -> DiskInfo:
    """Convert-VHD into `target` (format by extension); a cancel removes the new file."""
    require_vhd(target, disk_format)
    cancel.raise_if_cancelled()
    progress(None, "Converting the disk")
    row = runner.run(Call("convert_vhd", {"Path": str(source), "DestinationPath": str(target),
                                          "VhdType": "Dynamic"}, timeout=plans.COPY),
                     interruptible=False, slow=True)
    if cancel.cancelled:
        discard_path(runner, str(target))
        raise OperationCancelled()
    return parsers.disk_info(row)


def compact(runner: Runner, path: Path) -> DiskInfo:
    """Optimize-VHD: give unused space of a dynamic disk back to the host."""
    row = runner.run(Call("optimize_vhd", {"Path": str(path)}, timeout=plans.COPY),
                     interruptible=False, slow=True)
    return parsers.disk_info(row)
