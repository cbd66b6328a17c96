"""The door to qemu-img, for the disk conversions vmware-vdiskmanager cannot do (qcow2, VHDX,
VDI, VHD, raw to and from VMDK); it starts its process through vmrun.spawn.

vmware-vdiskmanager converts only between VMDK types (its help: `-r <source> -t <type>`). For
any other format the VMware backend uses QEMU's qemu-img when it is installed — found on its
own (`$DESKTOPVM_QEMU_IMG`, else PATH), never through backends.qemu, which this backend may
not import. `qemu-img convert -p -f <in> -O <out>` prints `(NN.NN/100%)` as it goes; a VMDK
is written as `subformat=monolithicSparse`, the one growable file vdiskmanager's `-t 0` makes.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from backends.vmware.vmrun import spawn
from desktopvm.model import DiskFormat
from desktopvm.protocol import BackendUnavailable, CancelToken, CommandFailed

CONVERT_TIMEOUT = 6 * 3600.0  # a large disk on a slow drive
# DiskFormat -> qemu-img's name of it ("vpc" is its VHD driver)
FORMATS = {DiskFormat.QCOW2: "qcow2", DiskFormat.VDI: "vdi", DiskFormat.VHDX: "vhdx",
           DiskFormat.VHD: "vpc", DiskFormat.RAW: "raw", DiskFormat.VMDK: "vmdk"}
_PERCENT = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def find() -> str:
    """qemu-img's path, or "" when it is not installed."""
    return os.environ.get("DESKTOPVM_QEMU_IMG") or shutil.which("qemu-img") or ""


def convert(source: Path, source_format: DiskFormat, target: Path, target_format: DiskFormat,
            *, cancel: CancelToken, progress: Callable[[float], None],
            compress: bool = False) -> None:
    """`qemu-img convert` from one format to another; CommandFailed when it fails.

    `compress` writes a qcow2's clusters compressed (`-c`, what backups keep)."""
    tool = find()
    if not tool:
        raise BackendUnavailable(
            f"Converting {source_format.value} to {target_format.value} needs qemu-img (QEMU's "
            "disk tool): VMware's vmware-vdiskmanager converts only between VMDK types",
            install_hint="Install QEMU's tools (Linux: the qemu-utils or qemu-img package; "
                         "Windows and macOS: QEMU from qemu.org)")
    options = ["-o", "subformat=monolithicSparse"] if target_format is DiskFormat.VMDK else []
    if compress and target_format is DiskFormat.QCOW2:
        options.append("-c")
    argv = (tool, "convert", "-p", "-f", FORMATS[source_format], "-O", FORMATS[target_format],
            *options, str(source), str(target))

    def seen(chunk: bytes) -> None:
        for match in _PERCENT.finditer(chunk):
            progress(min(float(match.group(1)), 100.0) / 100)

    code, out, err = spawn(argv, timeout=CONVERT_TIMEOUT, cancel=cancel, on_output=seen)
    if code != 0:
        text = err.decode("utf-8", "replace").strip()
        raise CommandFailed(f"qemu-img could not convert {source.name}: "
                            f"{text.splitlines()[-1] if text else code}",
                            command=argv, exit_code=code, stderr=text,
                            details=out.decode("utf-8", "replace").strip())
