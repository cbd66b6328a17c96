"""Backups (beyond the module map): a VM's disks at one point in time, through Export-VM.

`capture_vm.ps1` exports the VM into a staging folder inside the backup's folder — a running VM
with `-CaptureLiveState CaptureDataConsistentState` (Hyper-V's production checkpoint: the
guest flushes its writes, no memory is copied; the VM keeps running) — and leaves one whole
VHD/VHDX per attached disk (a checkpoint's `.avhdx` merged with its parents by Convert-VHD).

On a remote host the export is written there, into a folder made for it, and its disks are
copied here through the PowerShell session (host_files.py). Full copies only: Hyper-V
(2016+) tracks changed blocks (Resilient Change Tracking), but only through WMI reference
points (`Msvm_VirtualSystemSnapshotService.CreateReferencePoint`), which DesktopVM does not
use yet.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from backends.hyperv import inventory, plans
from backends.hyperv.host_files import HostFiles, host_join, host_name, host_within
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.parsers import as_int, as_list
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidState,
    OperationCancelled,
    PowerState,
    Progress,
    scaled_progress,
)
from desktopvm.protocol.backup import Capture, CapturedDisk

STAGING = ".hyperv-export"  # Export-VM's folder inside the backup's folder (removed after)
CAPTURABLE = (PowerState.OFF, PowerState.RUNNING, PowerState.PAUSED, PowerState.SAVED)


def capture(runner: Runner, metadata: MetadataStore, connection: str, vm_id: str,
            folder: Path, *, files: HostFiles, progress: Progress,
            cancel: CancelToken) -> Capture:
    """Export the VM into `folder` and hand back its disks, one whole file each.

    On a remote host the export goes into a folder made there for it; its disks are then
    copied here piece by piece (host_files.py) and the folder there is removed in every case.
    """
    info = inventory.machine(runner, metadata, vm_id, connection)
    state = info.summary.state
    if state not in CAPTURABLE:
        raise InvalidState(f"Wait until {info.spec.name} has started or stopped, then back "
                           "it up")
    cancel.raise_if_cancelled()
    existing = set(folder.iterdir())
    there = str(folder) if runner.local else files.make_folder(
        f"DesktopVM-backup-{info.spec.name}", beside_disks=False)
    progress(None, "Exporting the machine (Hyper-V copies its disks)"
             if runner.local else f"Exporting the machine on {runner.host}")
    try:
        # Not interruptible: the copy runs in Hyper-V's management service, which a killed
        # PowerShell would not stop; a cancel removes what it wrote once it is done.
        result = runner.run(Call("capture_vm", {"Id": vm_id,
                                                "Staging": host_join(there, STAGING),
                                                "Destination": there},
                                 timeout=plans.COPY), interruptible=False, slow=True)
        if cancel.cancelled:
            raise OperationCancelled()
        rows = _rows(info.spec, result, there)
        if not runner.local:
            rows = _fetched(files, rows, folder, progress=progress, cancel=cancel)
        disks = _captured(info.spec, rows, folder)
    except BaseException:
        _remove_new(folder, existing)
        raise
    finally:
        if not runner.local:
            files.remove_folder(there)
    progress(1.0, "Disks copied")
    return Capture(spec=info.spec, disks=disks, point="",
                   was_running=state is not PowerState.OFF, snapshots=info.snapshots)


def _rows(spec: MachineSpec, result: dict[str, object], there: str) -> list[dict[str, str]]:
    """The reply's disks ({Source, Path, Size}), each a file capture_vm wrote into `there`."""
    rows = []
    for row in as_list(result.get("Disks")):
        path = str(row.get("Path", "")) if isinstance(row, dict) else ""
        if not isinstance(row, dict) or not host_within(path, there):
            raise CommandFailed(f"Hyper-V's export of {spec.name} did not give back its disks "
                                "as expected", details=repr(row))
        rows.append({"Source": str(row.get("Source", "")), "Path": path,
                     "Size": str(row.get("Size", ""))})
    return rows


def _fetched(files: HostFiles, rows: list[dict[str, str]], folder: Path, *,
             progress: Progress, cancel: CancelToken) -> list[dict[str, str]]:
    """The rows with each disk copied from the remote host into `folder` (same file name)."""
    fetched = []
    for number, row in enumerate(rows):
        local = folder / host_name(row["Path"])
        files.get(row["Path"], local, cancel=cancel,
                  progress=scaled_progress(progress, number / len(rows), 1 / len(rows)))
        fetched.append({**row, "Path": str(local)})
    return fetched


def _captured(spec: MachineSpec, rows: list[dict[str, str]],
              folder: Path) -> tuple[CapturedDisk, ...]:
    """The disks placed where the spec has them (matched by the attached file)."""
    slots = {disk.path.lower(): (index, disk.port, disk.device)
             for index, controller in enumerate(spec.storage) for disk in controller.disks}
    disks = []
    for row in rows:
        source, path = row["Source"], Path(row["Path"])
        slot = slots.get(source.lower())
        if slot is None or path.parent != folder or not path.is_file():
            raise CommandFailed(f"Hyper-V's export of {spec.name} did not give back the disk "
                                f"{source} as expected", details=repr(row))
        disks.append(CapturedDisk(
            controller=slot[0], port=slot[1], device=slot[2], path=path,
            format=DiskFormat.VHD if path.suffix.lower() == ".vhd" else DiskFormat.VHDX,
            virtual_size=as_int(row.get("Size"))))
    if len(disks) != len(slots):
        raise CommandFailed(f"Hyper-V's export of {spec.name} has {len(disks)} of its "
                            f"{len(slots)} disks")
    return tuple(disks)


def _remove_new(folder: Path, existing: set[Path]) -> None:
    """Remove what the capture wrote into `folder` (it was empty, or held `existing`)."""
    for entry in set(folder.iterdir()) - existing:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
