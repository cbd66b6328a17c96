"""`restore_over`: a set back into the machine it came from, its current disks kept until done."""

from __future__ import annotations

import contextlib
import logging
import secrets
from pathlib import Path

from desktopvm.backup.chain import reassemble
from desktopvm.backup.checking import chain_of, load_set, verify
from desktopvm.backup.fitting import fit_to, without_host_paths
from desktopvm.backup.restoring import put_firmware
from desktopvm.backup.setfile import BackupSet
from desktopvm.connections import kind_of
from desktopvm.model import Firmware, MachineSpec
from desktopvm.protocol import (
    Backend,
    CancelToken,
    CapturingBackend,
    InvalidState,
    MachineInfo,
    PowerState,
    Progress,
    UnsupportedOperation,
    scaled_progress,
)

log = logging.getLogger(__name__)
#: Kinds whose disk files can be replaced under the machine: QEMU's disks are single files
#: named in its own record. VirtualBox knows each disk by the UUID in its header (a new file
#: is a stranger to its media registry); VMware's disks may be split into extent files a
#: single new file would orphan; Hyper-V and ESXi keep disks on their host, not here.
FILE_KINDS = ("qemu",)


def restore_over(set_path: Path, backend: Backend, machine_id: str, *, progress: Progress,
                 cancel: CancelToken) -> None:
    """Put the machine back as the set has it: disks and hardware (name and disk files kept).

    The machine must be off and have no snapshots (they would name disks that are gone).
    Each restored disk is written beside the current one; only when all are written are the
    current ones renamed aside and the restored ones renamed into place; the old files are
    removed after the settings are applied too. On failure or cancel they are put back.
    """
    info = backend.get_machine(machine_id)
    current = info.spec
    # What the machine allows is asked first: a refusal should not wait for every digest.
    _require_replaceable(backend, info, load_set(set_path))
    verify(set_path, progress=scaled_progress(progress, 0, 0.15), cancel=cancel)
    chain = chain_of(set_path)
    _require_replaceable(backend, info, chain[0])
    disks = current.all_disks()
    set_slots = [(i, d.port, d.device) for i, d in chain[0].spec.all_disks()]
    paths = [Path(d.path) for _, d in disks]
    caps = backend.capabilities()
    fitted = fit_to(chain[0].spec, caps, source_kind=kind_of(chain[0].source))
    for change in fitted.changes:
        progress(None, f"Changed for {backend.display_name}: {change}")
    safe = without_host_paths(fitted.spec, caps, own=current.serial)
    for change in safe.changes:
        progress(None, f"Changed: {change}")
    # The machine keeps its own storage (its disk files, its drives and their ISOs).
    wanted = safe.spec.model_copy(update={"id": current.id, "name": current.name,
                                          "storage": current.storage})
    tag = secrets.token_hex(4)
    written: list[tuple[Path, Path]] = []  # (restored file, where it goes)
    aside: list[tuple[Path, Path]] = []  # (the current file renamed, its own name)
    updating = False
    try:
        for number, ((_, disk), slot, path) in enumerate(zip(disks, set_slots, paths,
                                                             strict=True)):
            restored = path.with_name(f".{path.name}.restored-{tag}")
            share = 0.7 / len(disks)
            reassemble(chain, slot, restored, disk.format,
                       progress=scaled_progress(progress, 0.15 + number * share, share),
                       cancel=cancel)
            written.append((restored, path))
        cancel.raise_if_cancelled()  # the last chance: past the update there is no way back
        for restored, path in written:
            old = path.with_name(f".{path.name}.before-restore-{tag}")
            path.rename(old)
            aside.append((old, path))
            restored.rename(path)
        if wanted != current:
            updating = True
            backend.update(machine_id, current, wanted,
                           progress=scaled_progress(progress, 0.85, 0.1), cancel=cancel)
        # The update is the commit point: a cancel from here on comes too late to undo it.
        # The firmware state goes last: the update may give the machine a new variable
        # store (a Secure Boot change does). It is replaced whole or not at all; if it fails,
        # the machine's disks and settings go back as for a failed update.
        updating = True
        _put_firmware_back(chain[0], backend, machine_id, wanted, progress)
    except BaseException:
        if updating:  # it may have applied some of the set's hardware: the machine's back
            _put_hardware_back(backend, machine_id, current)
        for old, path in reversed(aside):  # the machine's own disks back in place
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
                old.rename(path)
        for restored, _ in written:
            restored.unlink(missing_ok=True)
        raise
    for old, _ in aside:
        try:
            old.unlink()
        except OSError as error:
            log.warning("could not remove %s after the restore: %s", old, error)
    if isinstance(backend, CapturingBackend):  # its change tracking no longer fits the disks
        backend.forget_capture_points(machine_id)
    progress(1.0, "Restored")


def _put_firmware_back(backup: BackupSet, backend: Backend, machine_id: str,
                       spec: MachineSpec, progress: Progress) -> None:
    """The set's UEFI variables and TPM state into the machine; a set made before sets held
    them leaves the machine's own (and says so)."""
    if backup.firmware:
        put_firmware(backup, backend, machine_id, progress=progress, cancel=CancelToken())
    elif spec.firmware.kind is Firmware.UEFI or spec.firmware.tpm:
        progress(None, "The backup holds no UEFI variables or TPM state (made by an older "
                 "DesktopVM or another backend): the machine keeps its current ones")


def _put_hardware_back(backend: Backend, machine_id: str, spec: MachineSpec) -> None:
    """After a failed or cancelled update: the machine's settings as they were (logged when
    even that fails; its disks go back either way)."""
    try:
        now = backend.get_machine(machine_id).spec
        if now != spec:
            backend.update(machine_id, now, spec, progress=lambda *_: None, cancel=CancelToken())
    except Exception as error:  # the original error is the one to report
        log.warning("could not put the settings of %s back after a failed restore: %s",
                    spec.name, error)


def _require_replaceable(backend: Backend, info: MachineInfo, backup: BackupSet) -> None:
    """InvalidState or UnsupportedOperation, in words, when the disks cannot be swapped."""
    current = info.spec
    if kind_of(backend.name) not in FILE_KINDS:
        raise UnsupportedOperation(f"{backend.display_name} machines cannot be restored in "
                                   "place yet; restore the backup as a new machine instead")
    if info.summary.state not in (PowerState.OFF, PowerState.ABORTED):
        raise InvalidState(f"{current.name} is {info.summary.state.value}; shut it down "
                           "before restoring a backup over it")
    if info.snapshots:
        raise InvalidState(f"{current.name} has snapshots, which would name disks the "
                           "restore replaces; delete them first or restore as a new machine")
    disks = current.all_disks()
    set_slots = {(i, d.port, d.device) for i, d in backup.spec.all_disks()}
    if len(disks) != len(backup.disks) or {d.slot for d in backup.disks} != set_slots:
        raise InvalidState(f"{current.name} has {len(disks)} disk(s), the backup "
                           f"{len(backup.disks)}; restore it as a new machine instead")
    if not all(Path(d.path).is_file() for _, d in disks):
        raise UnsupportedOperation(f"{current.name}'s disks are not files on this computer")
