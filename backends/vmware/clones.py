"""Full and linked clones with `vmrun clone <src> <dst> full|linked [-snapshot=N] -cloneName=N`.

The 17.0 help shows the `=` forms; Vagrant passes `-snapshot=<name>` (research §A.4). A
linked clone hangs from a snapshot of the source: the one given, or — as Vagrant does — one
made for it ("Base of <clone>"), which is removed again when the clone fails or is cancelled,
so the source is left as it was. The new machine goes into its own folder beside the others
and into the library.
"""

from __future__ import annotations

from pathlib import Path

from backends.vmware import snapshots, vmsd
from backends.vmware.inventory import Inventory
from backends.vmware.machines import new_folder
from backends.vmware.plans import safe_stem
from backends.vmware.vmrun import START_TIMEOUT
from desktopvm.model import Capabilities, name_problems
from desktopvm.protocol import CancelToken, InvalidSpec, Progress, UnsupportedOperation
from desktopvm.protocol.states import Operation, require
from desktopvm.protocol.undo import Undo


def clone(inventory: Inventory, caps: Capabilities, machine_id: str, new_name: str, *,
          linked: bool, snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """The clone's id (its .vmx path)."""
    problems = name_problems(new_name, caps)
    if problems:
        raise InvalidSpec(problems)
    if linked and not caps.linked_clone:
        raise UnsupportedOperation("This VMware product makes no linked clones")
    record = inventory.record(machine_id)
    require(Operation.CLONE, record.state, record.name)
    if inventory.library.installation.product == "player":
        raise UnsupportedOperation("VMware Workstation Player cannot clone machines")
    cancel.raise_if_cancelled()
    progress(0.0, f"Cloning {record.name}")
    cancel.raise_if_cancelled()
    base_name = ""
    vmsd_file = vmsd.vmsd_path(record.vmx)
    had_vmsd = vmsd_file.exists()
    with Undo() as undo:
        if snapshot_id:
            base_name = snapshots.find(record, snapshot_id).name
        elif linked:
            base_name = f"Base of {new_name}"
            snapshots.check_name(record, base_name)
            inventory.vmrun.run("snapshot", str(record.vmx), base_name, timeout=START_TIMEOUT,
                                cancel=cancel, what=record.name)

            def drop_base() -> None:
                inventory.vmrun.run("deleteSnapshot", str(record.vmx), base_name,
                                    what=record.name)
                if not had_vmsd and not vmsd.read(record.vmx)[0]:
                    vmsd_file.unlink(missing_ok=True)  # it was made for this base alone

            undo.add(f"delete the snapshot {base_name!r}", drop_base)
            progress(0.2, "Took the snapshot the clone hangs from")
            cancel.raise_if_cancelled()
        folder = new_folder(record.vmx.parent.parent, new_name)
        target = folder / f"{safe_stem(new_name)}.vmx"
        undo.remove_tree(folder)
        args = [str(record.vmx), str(target), "linked" if linked else "full"]
        if base_name:
            args.append(f"-snapshot={base_name}")
        args.append(f"-cloneName={new_name}")
        inventory.vmrun.run("clone", *args, timeout=START_TIMEOUT * 4, cancel=cancel,
                            what=record.name)
        cancel.raise_if_cancelled()
        inventory.library.add(target, new_name)
        undo.add("forget the clone", lambda: inventory.library.remove(target))
        _name_it(target, new_name)
    progress(1.0, "Cloned")
    return str(target)


def _name_it(target: Path, name: str) -> None:
    """The clone's displayName is the name asked for (older vmrun ignore -cloneName)."""
    from backends.vmware import vmx

    vmx.update(target, {"displayName": name}, name=name)
