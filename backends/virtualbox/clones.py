"""VirtualBox clones: `clonevm --register`, full or linked (hanging from a snapshot).

A linked clone needs a snapshot to hang from; without one given, a snapshot named after the
clone is taken first, as Vagrant does for its linked clones.
"""

from __future__ import annotations

import uuid as uuids

from backends.virtualbox.execution import LONG_TIMEOUT, remove_machine
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.snapshots import require_snapshot, take
from desktopvm.model import Capabilities, name_problems
from desktopvm.protocol import CancelToken, InvalidSpec, Progress, states
from desktopvm.protocol.states import Operation


def clone(inventory: Inventory, capabilities: Capabilities, machine_id: str, new_name: str, *,
          linked: bool, snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """`clonevm --register` with our UUID; linked clones hang from a snapshot."""
    problems = name_problems(new_name, capabilities)
    if problems:
        raise InvalidSpec(problems)  # before anything is made: the one naming rule
    record = inventory.record(machine_id)
    states.require(Operation.CLONE, record.state, record.spec.name)
    base = snapshot_id
    if snapshot_id:
        base = require_snapshot(inventory, record.uuid, snapshot_id).id
    elif linked:
        progress(0.05, "Taking the snapshot the clone is linked to")
        base = take(inventory, record.uuid, f"Base of {new_name}", "", include_memory=False,
                    progress=lambda f, s: None, cancel=cancel).id
    new_id = str(uuids.uuid4())
    argv = ["clonevm", record.uuid, f"--name={new_name}", f"--uuid={new_id}", "--register"]
    if base:
        argv.append(f"--snapshot={base}")
    argv.append("--options=link" if linked else "--mode=machine")
    try:
        inventory.vbox.run(argv, timeout=LONG_TIMEOUT, cancel=cancel,
                           on_progress=lambda f, _run: progress(0.1 + 0.9 * f, "Cloning"))
    except BaseException:
        if new_id in inventory.registered_ids():
            remove_machine(inventory.vbox, new_id)
        raise
    inventory.forget(record.uuid)
    progress(1.0, "Cloned")
    return new_id

