"""`copy_to` and `move_to`: a full backup in a scratch folder, restored onto the target, checked.

The order is what keeps the user's data safe: the source is only read until the copy exists
on the target and matches the plan; a failure or a cancel anywhere before that removes what
was made on the target and leaves the source as it was; the scratch folder always goes.
`move_to` deletes the source (with its disks) only after that, and never the copy: if the
deletion fails, the verified copy stays and the error says so.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import platformdirs

from desktopvm.backup import BackupSet, back_up
from desktopvm.backup.restoring import restore
from desktopvm.model import MachineSpec
from desktopvm.model.problems import error
from desktopvm.paths import HOME_ENV, state_root
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    InvalidSpec,
    InvalidState,
    PowerState,
    Progress,
    scaled_progress,
)
from desktopvm.transfer.planning import (
    CopyMismatch,
    differences,
    minor_differences,
    plan_for,
)
from desktopvm.transfer.verifying import SourceStamp, changes_since, disk_problems, stamp

STILL = (PowerState.OFF, PowerState.ABORTED)
log = logging.getLogger(__name__)


def scratch_root() -> Path:
    """Where copies are staged: the user's cache (beside the state under DESKTOPVM_HOME)."""
    if os.environ.get(HOME_ENV):
        return state_root() / "cache" / "transfer"
    return Path(platformdirs.user_cache_dir("DesktopVM", appauthor=False)) / "transfer"


def copy_to(source: Backend, machine_id: str, target: Backend, *, name: str,
            progress: Progress, cancel: CancelToken, scratch: Path | None = None) -> str:
    """A copy of the machine on `target`, called `name`; its id there.

    The machine's spec is fitted to the target (plan_copy shows the same report); blockers
    raise InvalidSpec before anything is done. `scratch` is where the backup is staged
    (default: `scratch_root()`); it needs room for the machine's disks.
    """
    spec = source.get_machine(machine_id).spec
    return _copy(source, machine_id, target, _planned(spec, source, target), name=name,
                 progress=progress, cancel=cancel, scratch=scratch)


def move_to(source: Backend, machine_id: str, target: Backend, *, name: str,
            progress: Progress, cancel: CancelToken, scratch: Path | None = None) -> str:
    """The machine moved to `target` as `name`: copied, checked, then the source deleted.

    The machine must be off (a running machine would go on changing after the copy). The
    caller asks the user first: the source's disks and snapshots are deleted.
    """
    info = source.get_machine(machine_id)
    if info.state not in STILL:
        raise InvalidState(f"{info.spec.name} is {info.state.value}: shut it down before "
                           "moving it (it would go on changing after the copy)")
    wanted = _planned(info.spec, source, target)
    stamps: list[SourceStamp] = []

    def check_disks(backup: BackupSet, made: MachineSpec) -> list[str]:
        return disk_problems(backup, wanted, made, target, progress=progress, cancel=cancel)

    new_id = _copy(source, machine_id, target, wanted, name=name,
                   progress=scaled_progress(progress, 0, 0.95), cancel=cancel, scratch=scratch,
                   backed_up=lambda: stamps.append(stamp(source, machine_id)),
                   check=check_disks)
    try:
        cancel.raise_if_cancelled()
    except BaseException:
        _remove(target, new_id)
        raise
    changed = changes_since(stamps[0], source, machine_id)
    if changed:
        raise InvalidState(f"{info.spec.name} changed after it was copied ({changed}), so it "
                           f"was not deleted: the copy {name} on {target.display_name} and the "
                           "original are both kept; delete the one you do not want yourself")
    if not stamps[0].files:
        progress(None, f"Note: {info.spec.name}'s disks are not files on this computer: only "
                       "its state and settings were checked for changes since the copy")
    progress(0.96, f"Deleting {info.spec.name} from {source.display_name}")
    try:
        # Not cancellable: half a deletion helps nobody, and the copy is already complete.
        source.delete(machine_id, delete_disks=True, progress=lambda *_: None,
                      cancel=CancelToken())
    except BackendError as failure:
        raise BackendError(f"{name} was copied to {target.display_name} and checked, but "
                           f"deleting the original failed: {failure}; delete it yourself",
                           failure.details) from failure
    progress(1.0, "Moved")
    return new_id


def _planned(spec: MachineSpec, source: Backend, target: Backend) -> MachineSpec:
    fitting = plan_for(spec, source, target)
    if fitting.blockers:
        raise InvalidSpec([error("machine", blocker) for blocker in fitting.blockers])
    return fitting.spec


def _copy(source: Backend, machine_id: str, target: Backend, wanted: MachineSpec, *,
          name: str, progress: Progress, cancel: CancelToken, scratch: Path | None,
          backed_up: Callable[[], None] = lambda: None,
          check: Callable[[BackupSet, MachineSpec], list[str]] | None = None) -> str:
    """The copy on `target`; `backed_up` runs right after the backup (the source is then
    as copied), `check` (more problems with the made copy, in words) before the scratch goes.
    """
    root = scratch or scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="copy-", dir=root))
    try:
        progress(0.0, f"Copying the disks of {wanted.name}")
        backup = back_up(source, machine_id, folder, incremental=False, compress=False,
                         progress=scaled_progress(progress, 0, 0.45), cancel=cancel)
        backed_up()
        new_id = restore(backup.path, target, name=name, spec=wanted,
                         progress=scaled_progress(progress, 0.45, 0.5), cancel=cancel)
        try:
            progress(0.96, f"Checking the copy on {target.display_name}")
            made = target.get_machine(new_id).spec
            for note in minor_differences(wanted, made):
                progress(None, f"Note: {note}")
            problems = differences(wanted, made)
            if not problems and check is not None:
                problems = check(backup, made)
            if problems:
                raise CopyMismatch(f"The copy on {target.display_name} is not what was "
                                   f"planned ({problems[0]}); it was removed",
                                   "\n".join(problems))
            cancel.raise_if_cancelled()
        except BaseException:
            _remove(target, new_id)
            raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    progress(1.0, "Copied")
    return new_id


def _remove(target: Backend, machine_id: str) -> None:
    """Delete the half-made copy; a failure to do so must not hide why the copy failed."""
    try:
        target.delete(machine_id, delete_disks=True, progress=lambda *_: None,
                      cancel=CancelToken())
    except BackendError as failure:
        log.warning("could not remove the half-made copy %s: %s", machine_id, failure)
