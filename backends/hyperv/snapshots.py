"""Hyper-V checkpoints: the tree from get_vm, and take, apply and remove (merging disks)."""

from __future__ import annotations

from backends.hyperv import parsers, plans
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner
from desktopvm.model import Problem, Severity
from desktopvm.protocol import InvalidSpec, Snapshot

#: "Names are limited to 100 characters, and the name cannot be blank." (Hyper-V checkpoints
#: guide; review H12 -- whether Checkpoint-VM itself refuses or truncates is unverified).
MAX_CHECKPOINT_NAME = 100


def tree(runner: Runner, vm_id: str) -> tuple[tuple[Snapshot, ...], str]:
    """The checkpoint tree and the current checkpoint's id."""
    details = runner.details(vm_id)
    return (parsers.snapshot_tree(details.get("Checkpoints")),
            str(details.get("CurrentCheckpointId") or "").lower())


def take(runner: Runner, vm_id: str, name: str, *, description: str,
         include_memory: bool) -> Snapshot:
    """Checkpoint-VM (standard with memory, production without)."""
    if not name.strip() or len(name) > MAX_CHECKPOINT_NAME:
        raise InvalidSpec([Problem(field="name", severity=Severity.ERROR, message=(
            f"A Hyper-V checkpoint name has 1 to {MAX_CHECKPOINT_NAME} characters and is not "
            "blank"))])
    row = runner.run(Call("checkpoint_vm", {"Id": vm_id, "Name": name, "Notes": description,
                                            "IncludeMemory": include_memory},
                          timeout=plans.SLOW), interruptible=False)
    return parsers.snapshot_tree([{**row, "ParentCheckpointId": ""}])[0]


def restore(runner: Runner, vm_id: str, snapshot_id: str) -> None:
    """Restore-VMCheckpoint."""
    runner.run(Call("restore_checkpoint", {"Id": vm_id, "CheckpointId": snapshot_id},
                    timeout=plans.SLOW), interruptible=False)


def delete(runner: Runner, vm_id: str, snapshot_id: str) -> None:
    """Remove-VMCheckpoint: Hyper-V merges its disk into the child (can take long)."""
    runner.run(Call("remove_checkpoint", {"Id": vm_id, "CheckpointId": snapshot_id},
                    timeout=plans.COPY), interruptible=False, slow=True)
