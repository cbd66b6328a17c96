"""Clones, Hyper-V exports and imports, disk conversion, and undoing them when cancelled.

Hyper-V's copy jobs run inside its management service: killing PowerShell would not stop
them. So these requests always run to their end, and a cancel then removes the result.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path, PurePath, PureWindowsPath
from typing import TYPE_CHECKING

from backends.hyperv import parsers, plans
from backends.hyperv.layout import folder_name
from backends.hyperv.plans import Call, random_suffix
from desktopvm.model import DiskFormat, name_problems
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    DiskInfo,
    InvalidSpec,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
)

if TYPE_CHECKING:
    from backends.hyperv.backend import HyperVBackend

log = logging.getLogger(__name__)


def require_name(backend: HyperVBackend, name: str) -> None:
    """InvalidSpec unless `name` follows the naming rule (checked before anything is made)."""
    problems = name_problems(name, backend.capabilities())
    if problems:
        raise InvalidSpec(problems)


def discard(backend: HyperVBackend, vm_id: str, paths: list[str]) -> None:
    """Remove a VM we just made and the files we made for it (best effort, logged)."""
    with contextlib.suppress(BackendError):
        backend.run(Call("remove_vm", {"Id": vm_id, "DeleteDisks": False},
                         timeout=plans.SLOW), interruptible=False)
    backend.metadata.forget(vm_id)
    for path in paths:
        if path:
            try:
                backend.run(Call("remove_path", {"Path": path}, timeout=plans.SLOW),
                            interruptible=False)
            except BackendError as error:
                log.warning("could not remove %s after a cancel: %s", path, error.summary)


def clone(backend: HyperVBackend, vm_id: str, new_name: str, *, snapshot_id: str,
          progress: Progress, cancel: CancelToken) -> str:
    """Export the VM (or a checkpoint) and import a copy with a new id under a new name."""
    require_name(backend, new_name)
    cancel.raise_if_cancelled()
    progress(None, "Copying the machine (export and import)")
    call = Call("clone_vm", {"Id": vm_id, "Name": new_name,
                             "FolderName": f"{folder_name(new_name)}-{random_suffix()}",
                             "WorkName": random_suffix(), "CheckpointId": snapshot_id},
                timeout=plans.COPY)
    result = backend.run(call, interruptible=False, slow=True)
    clone_id = backend.machine_id(str(result["Id"]))
    os_id = backend.metadata.os_ids().get(vm_id, "")
    if os_id:
        backend.metadata.set_os(clone_id, os_id)
    if cancel.cancelled:
        progress(None, "Cancelling: removing the copy")
        discard(backend, clone_id, [str(result.get("Folder", ""))])
        raise OperationCancelled()
    return clone_id


def export(backend: HyperVBackend, vm_id: str, path: Path, progress: Progress,
           cancel: CancelToken) -> None:
    """Hyper-V's own export format, into the folder `path` (OVF/OVA is not offered)."""
    if path.suffix.lower() in (".ova", ".ovf"):
        raise UnsupportedOperation("Hyper-V exports its own format into a folder; choose a "
                                   "folder instead of an .ova/.ovf file")
    cancel.raise_if_cancelled()
    progress(None, "Exporting the machine")
    result = backend.run(Call("export_vm", {"Id": vm_id, "Path": str(path), "CheckpointId": ""},
                              timeout=plans.COPY), interruptible=False, slow=True)
    if cancel.cancelled:
        discard_path(backend, str(result.get("Folder", "")))
        raise OperationCancelled()


def discard_path(backend: HyperVBackend, path: str) -> None:
    """Remove one file or folder we made (best effort)."""
    if path:
        with contextlib.suppress(BackendError):
            backend.run(Call("remove_path", {"Path": path}, timeout=plans.SLOW),
                        interruptible=False)


def import_machine(backend: HyperVBackend, path: Path, name: str, progress: Progress,
                   cancel: CancelToken) -> str:
    """Import an exported Hyper-V machine (its folder or .vmcx) as a copy with a new id."""
    if path.suffix.lower() in (".ova", ".ovf"):
        raise UnsupportedOperation("Hyper-V imports its own export format (a folder with a "
                                   ".vmcx file), not OVF/OVA")
    if name:
        require_name(backend, name)
    cancel.raise_if_cancelled()
    progress(None, "Importing the machine")
    stem = name or _stem(path)
    result = backend.run(Call("import_vm", {"Path": str(path), "Name": name,
                                            "FolderName": f"{folder_name(stem)}-{random_suffix()}"},
                              timeout=plans.COPY), interruptible=False, slow=True)
    vm_id = backend.machine_id(str(result["Id"]))
    if cancel.cancelled:
        discard(backend, vm_id, [str(result.get("Folder", ""))])
        raise OperationCancelled()
    return vm_id


def _stem(path: Path) -> str:
    pure: PurePath = PureWindowsPath(str(path)) if "\\" in str(path) else path
    if pure.suffix.lower() == ".vmcx":
        return pure.parent.parent.name or pure.stem
    return pure.name


def require_vhd(path: Path, disk_format: DiskFormat) -> None:
    """Hyper-V makes VHDX and VHD only, and picks the format by the file's extension."""
    if disk_format not in (DiskFormat.VHDX, DiskFormat.VHD):
        raise UnsupportedOperation(f"Hyper-V cannot make {disk_format.value.upper()} disks; "
                                   "use VHDX or VHD")
    if PureWindowsPath(str(path)).suffix.lower() != f".{disk_format.value}":
        raise UnsupportedOperation(f"A {disk_format.value.upper()} disk's file name must end "
                                   f"in .{disk_format.value}")


def convert_disk(backend: HyperVBackend, source: Path, target: Path, disk_format: DiskFormat,
                 *, progress: Progress, cancel: CancelToken) -> DiskInfo:
    """Convert-VHD into `target` (format by extension); a cancel removes the new file."""
    require_vhd(target, disk_format)
    cancel.raise_if_cancelled()
    progress(None, "Converting the disk")
    row = backend.run(Call("convert_vhd", {"Path": str(source), "DestinationPath": str(target),
                                           "VhdType": "Dynamic"}, timeout=plans.COPY),
                      interruptible=False, slow=True)
    if cancel.cancelled:
        discard_path(backend, str(target))
        raise OperationCancelled()
    return parsers.disk_info(row)
