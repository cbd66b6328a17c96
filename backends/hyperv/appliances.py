"""Hyper-V's own export format (a folder with a .vmcx) out and in; OVF/OVA is not offered.

Import runs common.ps1's Assert-DvmPackageDisks before Import-VM: an export's disks must
stay inside it (docs/disk-images.md).
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePath, PureWindowsPath

from backends.hyperv import plans
from backends.hyperv.machines import discard, discard_path
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.placement import folder_name
from backends.hyperv.plans import Call, random_suffix
from backends.hyperv.runner import Runner, machine_id
from desktopvm.protocol import CancelToken, OperationCancelled, Progress, UnsupportedOperation
from desktopvm.protocol.states import Operation

log = logging.getLogger(__name__)


def export(runner: Runner, vm_id: str, path: Path, *, progress: Progress,
           cancel: CancelToken) -> None:
    """Export-VM into the folder `path`; a cancel removes the export once Hyper-V is done."""
    if path.suffix.lower() in (".ova", ".ovf"):
        raise UnsupportedOperation("Hyper-V exports its own format into a folder; choose a "
                                   "folder instead of an .ova/.ovf file")
    runner.require(Operation.EXPORT, vm_id)  # Hyper-V would export a running machine
    cancel.raise_if_cancelled()
    progress(None, "Exporting the machine")
    result = runner.run(Call("export_vm", {"Id": vm_id, "Path": str(path), "CheckpointId": ""},
                             timeout=plans.COPY), interruptible=False, slow=True)
    if cancel.cancelled:
        discard_path(runner, str(result.get("Folder", "")))
        raise OperationCancelled()


def import_machine(runner: Runner, metadata: MetadataStore, path: Path, *, name: str,
                   progress: Progress, cancel: CancelToken) -> str:
    """Import an exported machine (its folder or .vmcx) as a copy with a new id.

    A given name is already checked by the naming rule.
    """
    if path.suffix.lower() in (".ova", ".ovf"):
        raise UnsupportedOperation("Hyper-V imports its own export format (a folder with a "
                                   ".vmcx file), not OVF/OVA")
    cancel.raise_if_cancelled()
    progress(None, "Importing the machine")
    stem = name or _stem(path)
    result = runner.run(Call("import_vm", {"Path": str(path), "Name": name,
                                           "FolderName": f"{folder_name(stem)}-{random_suffix()}"},
                             timeout=plans.COPY), interruptible=False, slow=True)
    vm_id = machine_id(str(result["Id"]))
    if cancel.cancelled:
        discard(runner, metadata, vm_id, [str(result.get("Folder", ""))])
        raise OperationCancelled()
    changes = import_changes(result)
    for change in changes:
        log.warning("import of %s: %s", path, change)
    progress(1.0, "Imported; changed to fit this host: " + "; ".join(changes) if changes
             else "Imported")
    return vm_id


def import_changes(result: dict[str, object]) -> list[str]:
    """What Import-DvmCopy changed so the machine fits this host (Compare-VM), in words."""
    changes = result.get("Changes")
    if changes is None:
        return []
    return [str(c) for c in (changes if isinstance(changes, list) else [changes]) if c]


def _stem(path: Path) -> str:
    pure: PurePath = PureWindowsPath(str(path)) if "\\" in str(path) else path
    if pure.suffix.lower() == ".vmcx":
        return pure.parent.parent.name or pure.stem
    return pure.name
