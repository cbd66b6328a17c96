"""Creating, changing and deleting VirtualBox machines: createvm, modifyvm plans, unregistervm."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from backends.virtualbox import disks
from backends.virtualbox.changes import update_plan
from backends.virtualbox.execution import remove_machine, remove_media, run_plan
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.parse import find_quoted_after
from backends.virtualbox.plans import Host, Target, create_plan, create_vm
from backends.virtualbox.reader import INACCESSIBLE, MachineRecord, folder_of
from backends.virtualbox.versions import Dialect
from desktopvm.model import MachineSpec
from desktopvm.protocol import CancelToken, InvalidState, PowerState, Progress, states
from desktopvm.protocol.states import Operation

DISK_NAME = re.compile(r"^disk(\d+)\.")


def create(inventory: Inventory, spec: MachineSpec, machine_id: str, *, dialect: Dialect,
           host: Host, os_type: str, family: str, progress: Progress,
           cancel: CancelToken) -> str:
    """createvm, then one plan of modifyvm/storagectl/createmedium/storageattach steps.

    Whatever failed or was cancelled half-way is unregistered and its new disks removed.
    """
    vbox = inventory.vbox
    created: list[str] = []
    try:
        progress(0.02, "Registering the machine")
        result = vbox.run(create_vm(spec, machine_id, os_type, dialect, host).argv,
                          cancel=cancel)
        folder = folder_of(find_quoted_after("Settings file:", result.stdout))
        if not folder:
            folder = folder_of(inventory.reader.read(machine_id).settings_file)
        target = Target(machine_id, folder, dialect, host)
        steps, _ = create_plan(spec, family, target, first_disk_index=next_disk_index(folder))
        run_plan(vbox, steps, progress, cancel, created, start=0.05, end=0.98)
    except BaseException:
        # Also when createvm itself failed: it may have registered the machine before a
        # timeout or a cancel hid its answer (an unknown UUID costs one harmless call).
        remove_machine(vbox, machine_id)
        remove_media(vbox, created)
        raise
    finally:
        inventory.forget(machine_id)
    progress(1.0, "Created")
    return machine_id


def update(inventory: Inventory, record: MachineRecord, old: MachineSpec, new: MachineSpec, *,
           dialect: Dialect, host: Host, os_type: str, progress: Progress,
           cancel: CancelToken) -> None:
    """Only the groups that changed, as the state allows (changes.update_plan says which)."""
    target = Target(record.uuid, record.folder, dialect, host)
    change, _ = update_plan(old, new, record.state, target,
                            disk_index=next_disk_index(record.folder), os_type=os_type)
    created: list[str] = []
    try:
        run_plan(inventory.vbox, change.steps, progress, cancel, created)
    except BaseException:
        remove_media(inventory.vbox, created)
        raise
    finally:
        inventory.forget(record.uuid)


def delete(inventory: Inventory, record: MachineRecord, *, delete_disks: bool,
           progress: Progress, cancel: CancelToken) -> None:
    """unregistervm, with --delete when the disks go too (never a linked clone's base)."""
    # An inaccessible machine (its .vbox unreadable) cannot run: VirtualBox lists it as such.
    inaccessible = record.state is PowerState.UNKNOWN and record.spec.name == INACCESSIBLE
    if not inaccessible:
        states.require(Operation.DELETE, record.state, record.spec.name)
    cancel.raise_if_cancelled()
    progress(0.1, "Removing the machine")
    vbox = inventory.vbox
    if delete_disks:
        borrowed = disks.borrowed_by_others(vbox, record.folder,
                                            [d.path for _, d in record.spec.all_disks()])
        if borrowed:
            raise InvalidState(
                f"Cannot delete {record.spec.name} with its disks: linked clones use them "
                f"({', '.join(borrowed)}); delete those clones first, or delete "
                f"{record.spec.name} and keep its disks")
        vbox.run(["unregistervm", record.uuid, "--delete"], cancel=cancel)
    else:
        vbox.run(["unregistervm", record.uuid], cancel=cancel)
        remove_settings_files(record)
    inventory.forget(record.uuid)
    progress(1.0, "Removed")


def next_disk_index(folder: str) -> int:
    """The first N for which no `disk<N>.*` exists in the machine's folder."""
    try:
        names = [p.name for p in Path(folder).iterdir()] if folder else []
    except OSError:
        names = []
    used = [int(m.group(1)) for m in map(DISK_NAME.match, names) if m]
    return max(used, default=-1) + 1


def remove_settings_files(record: MachineRecord) -> None:
    """After `unregistervm` without --delete: remove the machine's own files, keep disk images.

    Removed: the .vbox file and its backups, the NVRAM file and the Logs folder; the folder
    itself only if nothing else (disks, snapshots) is left in it.
    """
    settings = Path(record.settings_file) if record.settings_file else None
    if settings is None:
        return
    for path in [settings, settings.with_name(settings.name + "-prev"),
                 settings.with_suffix(".vbox-tmp"), settings.with_suffix(".nvram")]:
        path.unlink(missing_ok=True)
    logs = settings.parent / "Logs"
    if logs.is_dir():
        for entry in logs.iterdir():
            entry.unlink(missing_ok=True)
        logs.rmdir()
    with contextlib.suppress(OSError):  # disks (or snapshots) stay in it, as asked
        settings.parent.rmdir()
