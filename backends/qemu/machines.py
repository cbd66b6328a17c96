"""Creating, changing and deleting QEMU machines: folders in the library and their records."""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from pathlib import Path

from backends.qemu import clones, media
from backends.qemu.disks import Disks, remove_files
from backends.qemu.identity import with_macs
from backends.qemu.inventory import MachineStore, claim, finished
from backends.qemu.layout import MachineFiles
from desktopvm.model import MachineSpec
from desktopvm.protocol import CancelToken, Progress, states
from desktopvm.protocol.states import Operation
from desktopvm.protocol.undo import Undo

log = logging.getLogger(__name__)


def create(store: MachineStore, disks: Disks, spec: MachineSpec, *, progress: Progress,
           cancel: CancelToken) -> str:
    """A new machine folder with its disks and record (the spec is already validated)."""
    cancel.raise_if_cancelled()
    machine_id = str(uuid.uuid4())
    files = MachineFiles(store.library / machine_id)
    made: list[Path] = []
    with Undo() as undo:
        claim(files.folder)
        undo.remove_tree(files.folder)
        undo.add("remove the new disks", lambda: remove_files(made))  # also outside it
        progress(0.1, "Creating disks")
        storage = disks.make(files, spec.storage, made, cancel)
        final = with_macs(spec).model_copy(update={"id": machine_id, "storage": storage})
        progress(0.8, "Writing the machine's settings")
        disks.ensure_nvram(files, final)
        cancel.raise_if_cancelled()
        store.save_spec(files, final)
        finished(files.folder)
    progress(1.0, "Created")
    return machine_id


def update(store: MachineStore, disks: Disks, files: MachineFiles, old: MachineSpec,
           new: MachineSpec, *, groups: set[str], cancel: CancelToken) -> None:
    """Apply the changed `groups` of `new` onto the stored spec (not a wholesale replace).

    A change made elsewhere since `old` was read, in a group the user did not touch, stays.
    """
    hardware = groups - {"name", "notes"}
    current = store.spec(files)
    state = store.state(files)
    if hardware == {"storage"} and state in states.LIVE:
        discs = media.disc_changes(current, new)
        if discs is not None:  # only which ISO is in which drive: done while it runs
            media.change_discs(store.require_running(files, "change the disc of").qmp, discs)
            store.save_spec(files, current.model_copy(update={
                g: getattr(new, g) for g in groups}))
            return
    states.require(Operation.CHANGE_HARDWARE if hardware else Operation.CHANGE_NAME_NOTES,
                   state, old.name)
    made: list[Path] = []
    with Undo() as undo:
        undo.add("remove the new disks", lambda: remove_files(made))
        update: dict[str, object] = {g: getattr(new, g) for g in groups}
        if "storage" in groups:
            own = frozenset(Path(d.path).resolve() for _, d in current.all_disks())
            update["storage"] = disks.make(files, new.storage, made, cancel, own)
        if "network" in groups:
            update["network"] = with_macs(new).network
        if "firmware" in groups and old.firmware.secure_boot != new.firmware.secure_boot:
            files.nvram.unlink(missing_ok=True)  # Secure Boot needs the enrolled store
        result = current.model_copy(update=update)
        disks.ensure_nvram(files, result)
        store.save_spec(files, result)


def delete(store: MachineStore, disks: Disks, files: MachineFiles, *,
           delete_disks: bool) -> None:
    """Remove the machine's own files; its disks too when asked (never one another uses)."""
    with store.locked(files):
        spec = store.spec(files)
        states.require(Operation.DELETE, store.state(files), spec.name)
        if delete_disks:
            shared = _disks_of_other_machines(store, files)
            for _, disk in spec.all_disks():
                if Path(disk.path).resolve() in shared:
                    log.info("keeping %s: another machine uses it", disk.path)
                    continue
                Path(disk.path).unlink(missing_ok=True)
        # Only the backend's own files go; a disk the user detached earlier, or anything
        # else someone put in the folder, stays.
        for path in files.metadata():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            files.folder.rmdir()  # only when nothing else is left in it
    if delete_disks:
        with store.library_locked():
            clones.collect_unused_bases(store, disks.qemu_img)


def _disks_of_other_machines(store: MachineStore, files: MachineFiles) -> set[Path]:
    return {Path(d.path).resolve() for other, spec in store.readable()
            if other.folder != files.folder for _, d in spec.all_disks()}
