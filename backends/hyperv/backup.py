"""Backups (beyond the module map): a VM's disks at one point in time, through Export-VM.

`capture_vm.ps1` exports the VM into a staging folder inside the backup's folder — a running VM
with `-CaptureLiveState CaptureDataConsistentState` (Hyper-V's production checkpoint: the
guest flushes its writes, no memory is copied; the VM keeps running) — and leaves one whole
VHD/VHDX per attached disk (a checkpoint's `.avhdx` merged with its parents by Convert-VHD).

Only for this computer's Hyper-V: on a remote host the export would be written on that host,
where DesktopVM cannot read it. Full copies only: Hyper-V (2016+) tracks changed blocks
(Resilient Change Tracking), but only through WMI reference points
(`Msvm_VirtualSystemSnapshotService.CreateReferencePoint`), which DesktopVM does not use yet.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from backends.hyperv import inventory, plans
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
    UnsupportedOperation,
)
from desktopvm.protocol.backup import Capture, CapturedDisk

STAGING = ".hyperv-export"  # Export-VM's folder inside the backup's folder (removed after)
CAPTURABLE = (PowerState.OFF, PowerState.RUNNING, PowerState.PAUSED, PowerState.SAVED)


def remote_refusal(host: str) -> str:
    """Why a remote host's machines cannot be backed up (yet), in the user's words."""
    return (f"Backing up machines on {host} is not possible yet: Hyper-V would write the copy "
            f"on {host} itself, where DesktopVM cannot read it. Back the machine up with "
            f"DesktopVM running on {host}, or export it (Export) to a shared folder.")


def capture(runner: Runner, metadata: MetadataStore, connection: str, vm_id: str, folder: Path,
            *, progress: Progress, cancel: CancelToken) -> Capture:
    """Export the VM into `folder` and hand back its disks, one whole file each."""
    if not runner.local:
        raise UnsupportedOperation(remote_refusal(runner.host))
    info = inventory.machine(runner, metadata, vm_id, connection)
    state = info.summary.state
    if state not in CAPTURABLE:
        raise InvalidState(f"Wait until {info.spec.name} has started or stopped, then back "
                           "it up")
    cancel.raise_if_cancelled()
    existing = set(folder.iterdir())
    progress(None, "Exporting the machine (Hyper-V copies its disks)")
    try:
        # Not interruptible: the copy runs in Hyper-V's management service, which a killed
        # PowerShell would not stop; a cancel removes what it wrote once it is done.
        result = runner.run(Call("capture_vm", {"Id": vm_id, "Staging": str(folder / STAGING),
                                                "Destination": str(folder)},
                                 timeout=plans.COPY), interruptible=False, slow=True)
        if cancel.cancelled:
            raise OperationCancelled()
        disks = _captured(info.spec, result, folder)
    except BaseException:
        _remove_new(folder, existing)
        raise
    progress(1.0, "Disks copied")
    return Capture(spec=info.spec, disks=disks, point="",
                   was_running=state is not PowerState.OFF, snapshots=info.snapshots)


def _captured(spec: MachineSpec, result: dict[str, object],
              folder: Path) -> tuple[CapturedDisk, ...]:
    """The reply's disks placed where the spec has them (matched by the attached file)."""
    slots = {disk.path.lower(): (index, disk.port, disk.device)
             for index, controller in enumerate(spec.storage) for disk in controller.disks}
    disks = []
    for row in as_list(result.get("Disks")):
        if not isinstance(row, dict):
            continue
        source, path = str(row.get("Source", "")), Path(str(row.get("Path", "")))
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
