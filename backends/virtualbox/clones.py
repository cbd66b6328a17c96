"""VirtualBox clones: `clonevm --register`, full or linked (hanging from a snapshot).

A linked clone needs a snapshot to hang from; without one given, a snapshot named after the
clone is taken first, as Vagrant does for its linked clones (and deleted again if the clone
fails or is cancelled).
"""

from __future__ import annotations

import contextlib
import uuid as uuids
from pathlib import Path

from backends.virtualbox.execution import LONG_TIMEOUT, remove_machine
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.snapshots import delete, require_snapshot, take
from desktopvm.model import Capabilities, name_problems
from desktopvm.protocol import CancelToken, InvalidSpec, Progress, states
from desktopvm.protocol.states import Operation
from desktopvm.protocol.undo import Undo


def clone(inventory: Inventory, capabilities: Capabilities, machine_id: str, new_name: str, *,
          linked: bool, snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """`clonevm --register` with our UUID; linked clones hang from a snapshot."""
    problems = name_problems(new_name, capabilities)
    if problems:
        raise InvalidSpec(problems)  # before anything is made: the one naming rule
    record = inventory.record(machine_id)
    states.require(Operation.CLONE, record.state, record.spec.name)
    with Undo() as undo:
        base = snapshot_id
        if snapshot_id:
            base = require_snapshot(inventory, record.uuid, snapshot_id).id
        elif linked:
            progress(0.05, "Taking the snapshot the clone is linked to")
            _remove_if_made(undo, record.info.get("SnapFldr"))
            base = take(inventory, record.uuid, f"Base of {new_name}", "", include_memory=False,
                        progress=lambda f, s: None, cancel=cancel).id
            made = base
            # A fresh token: the operation's own may be the cancel that brought us here.
            undo.add(f"delete the snapshot 'Base of {new_name}'", lambda: delete(
                inventory, record.uuid, made, progress=lambda f, s: None, cancel=CancelToken()))
        new_id = str(uuids.uuid4())
        argv = ["clonevm", record.uuid, f"--name={new_name}", f"--uuid={new_id}", "--register"]
        if base:
            argv.append(f"--snapshot={base}")
        argv.append("--options=link" if linked else "--mode=machine")
        undo.add(f"remove the half-made clone {new_name}", lambda: (
            remove_machine(inventory.vbox, new_id)
            if new_id in inventory.registered_ids() else None))
        inventory.vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel,
                           on_progress=lambda f, _run: progress(0.1 + 0.9 * f, "Cloning"))
    inventory.forget(record.uuid)
    progress(1.0, "Cloned")
    return new_id


def _remove_if_made(undo: Undo, folder: str) -> None:
    """On undo, remove the snapshot folder VirtualBox makes for the first snapshot (after that
    snapshot is gone), if it did not exist before and is empty: nothing left behind."""
    if not folder or Path(folder).exists():
        return
    undo.add(f"remove the empty {folder}", lambda: _remove_empty(Path(folder)))


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        folder.rmdir()  # refuses a folder that is not empty: what is in it is kept

