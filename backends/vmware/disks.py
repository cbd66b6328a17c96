"""VMDK disks with vmware-vdiskmanager: create, grow, convert, shrink; info from the headers.

vmware-vdiskmanager (its help: fixture vmware_vdiskmanager_build5192483_help.txt; research
§A.6): `-c -s <size> -a ide|buslogic|lsilogic -t <type>` creates, `-x <size>` grows (never the
guest's partition), `-r <src> -t <type> <dst>` converts, `-d` then `-k` compacts (Packer),
and it refuses to overwrite an existing file. Types: 0 one growable file, 1 growable split in
2 GB files, 2/3 preallocated, 5 streamOptimized (for OVF). Conversions to or from other formats
(qcow2, VHDX, VDI, VHD, raw) go through qemu-img when it is installed (qemu_img.py); new disks
are VMDK only, the one format VMware machines use. vdiskmanager has no "info": the
size and type come from the disk's own headers, read in pure Python (desktopvm.images), which
also decide — before vdiskmanager opens it — whether a disk from outside may be opened at all
(nothing that names files outside its own folder).
"""

from __future__ import annotations

import glob
from pathlib import Path

from backends.vmware import qemu_img
from backends.vmware.plans import size_argument
from backends.vmware.vmrun import VmRun
from desktopvm.images import UnsafeImage, check_untrusted, inspect_image
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    DiskInfo,
    InvalidSpec,
    Progress,
    UnsupportedOperation,
)

TYPES = {"monolithicsparse": 0, "twogbmaxextentsparse": 1, "monolithicflat": 2,
         "twogbmaxextentflat": 3, "streamoptimized": 5}


def info(path: Path) -> DiskInfo:
    """What the disk is, from its headers (no process; nothing it names is opened)."""
    try:
        facts = inspect_image(path)
    except UnsafeImage as error:
        raise CommandFailed(str(error)) from error
    except OSError as error:
        raise CommandFailed(f"Cannot read {path}: {error.strerror or error}") from error
    actual = sum(p.stat().st_size for p in _files_of(path))
    parent = next((r for r in facts.references if r.startswith("parent disk")), "")
    return DiskInfo(str(path), facts.format, facts.virtual_size, actual,
                    backing_file=parent.removeprefix("parent disk ").strip("'"),
                    details={"subformat": facts.subformat})


def _files_of(path: Path) -> list[Path]:
    """The disk's file and, for a split disk, its extents (all in the same folder)."""
    facts = inspect_image(path)
    return [path, *(path.parent / Path(e).name for e in facts.extents
                    if (path.parent / Path(e).name).is_file() and Path(e).name != path.name)]


def with_sizes(spec: MachineSpec) -> MachineSpec:
    """`spec` with each disk's size read from its header (the .vmx does not say it)."""
    storage = []
    for controller in spec.storage:
        sized = []
        for disk in controller.disks:
            try:
                size = inspect_image(Path(disk.path)).virtual_size if disk.path else 0
            except (OSError, UnsafeImage):
                size = 0  # a missing or damaged disk: VMware will say so when it starts
            sized.append(disk.model_copy(update={"size_bytes": size}))
        storage.append(controller.model_copy(update={"disks": tuple(sized)}))
    return spec.model_copy(update={"storage": tuple(storage)})


def growths(old: MachineSpec, new: MachineSpec) -> list[tuple[Path, int]]:
    """(disk, new size) for each disk both specs have (same file) that `new` makes larger;
    InvalidSpec for one it makes smaller (vdiskmanager's -x only enlarges)."""
    from desktopvm.model import Problem, Severity

    before = {d.path: d.size_bytes for _, d in old.all_disks() if d.path}
    grown = []
    for _, disk in new.all_disks():
        size = before.get(disk.path)
        if not disk.path or size is None or disk.size_bytes == size:
            continue
        if disk.size_bytes < size:
            raise InvalidSpec([Problem(field="storage", severity=Severity.ERROR, message=(
                f"{Path(disk.path).name} cannot be made smaller; VMware's disk tool only "
                "makes disks larger"))])
        grown.append((Path(disk.path), disk.size_bytes))
    return grown


def require_vmdk(disk_format: DiskFormat) -> None:
    """vdiskmanager makes VMDK only."""
    if disk_format is not DiskFormat.VMDK:
        raise UnsupportedOperation(f"VMware's disk tool makes VMDK disks only, not "
                                   f"{disk_format.value}")


def require_safe(path: Path, declared: DiskFormat | None = DiskFormat.VMDK) -> DiskFormat:
    """A disk from outside is opened only when it names nothing outside its own folder; its
    format, from its headers."""
    from desktopvm.model import Problem, Severity

    try:
        facts = check_untrusted(path, declared, label=path.name, local_extents=True)
        return DiskFormat(facts.format)
    except (UnsafeImage, ValueError) as error:
        raise InvalidSpec([Problem(field="storage", severity=Severity.ERROR,
                                   message=str(error))]) from error


def create(vmrun: VmRun, path: Path, disk_format: DiskFormat, size_bytes: int, *,
           progress: Progress, cancel: CancelToken, adapter: str = "lsilogic") -> DiskInfo:
    """`-c -t 0`: one growable file."""
    require_vmdk(disk_format)
    cancel.raise_if_cancelled()
    progress(0.0, f"Creating {path.name}")
    try:
        vmrun.vdisk(["-c", "-s", size_argument(size_bytes), "-a", adapter, "-t", "0",
                     str(path)], cancel=cancel, progress=lambda f: progress(min(f, 0.99), ""))
    except BaseException:
        if not path.exists() or path.stat().st_size == 0:
            path.unlink(missing_ok=True)
        raise
    progress(1.0, "Created")
    return info(path)


def resize(vmrun: VmRun, path: Path, size_bytes: int, *, progress: Progress,
           cancel: CancelToken) -> DiskInfo:
    """`-x`: grow only (vdiskmanager cannot shrink a disk's capacity)."""
    require_safe(path)
    if size_bytes < info(path).virtual_size:
        raise UnsupportedOperation("VMware's disk tool can only make a disk larger")
    progress(None, f"Growing {path.name}")
    vmrun.vdisk(["-x", size_argument(size_bytes), str(path)], cancel=cancel,
                progress=lambda f: progress(min(f, 0.99), ""))
    progress(1.0, "Grown")
    return info(path)


def convert(vmrun: VmRun, source: Path, target: Path, disk_format: DiskFormat, *,
            progress: Progress, cancel: CancelToken, disk_type: int = 0) -> DiskInfo:
    """VMDK to VMDK: vdiskmanager's `-r <source> -t <type> <target>`; to or from any other
    format: qemu-img (qemu_img.py). A cancelled or failed run removes the new file."""
    source_format = require_safe(source, None)
    if target.exists():
        raise CommandFailed(f"{target} exists already; a conversion does not overwrite")
    progress(0.0, f"Converting {source.name}")
    try:
        if source_format is DiskFormat.VMDK and disk_format is DiskFormat.VMDK:
            vmrun.vdisk(["-r", str(source), "-t", str(disk_type), str(target)], cancel=cancel,
                        progress=lambda f: progress(min(f, 0.99), ""))
        else:
            qemu_img.convert(source, source_format, target, disk_format, cancel=cancel,
                             progress=lambda f: progress(min(f, 0.99), ""))
    except BaseException:
        stem = glob.escape(target.stem)  # "disk[1]" must not match disk1-s001.vmdk
        for made in [target, *target.parent.glob(stem + "-s0*.vmdk"),
                     *target.parent.glob(stem + "-f0*.vmdk")]:
            made.unlink(missing_ok=True)
        raise
    progress(1.0, "Converted")
    return info(target)

