"""Hyper-V clones: full copies by export and import; a cancel removes the copy afterwards.

Hyper-V's copy jobs run inside its management service: killing PowerShell would not stop
them. So these requests always run to their end, and a cancel then removes the result.
"""

from __future__ import annotations

from backends.hyperv import plans
from backends.hyperv.machines import discard
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.placement import folder_name
from backends.hyperv.plans import Call, random_suffix
from backends.hyperv.runner import Runner, machine_id
from desktopvm.protocol import CancelToken, OperationCancelled, Progress
from desktopvm.protocol.states import Operation


def clone(runner: Runner, metadata: MetadataStore, vm_id: str, new_name: str, *,
          snapshot_id: str, progress: Progress, cancel: CancelToken) -> str:
    """Export the VM (or a checkpoint) and import a copy with a new id under a new name.

    The name is already checked by the naming rule. Hyper-V would copy a running machine;
    the shared state table says a clone is of a stopped one.
    """
    runner.require(Operation.CLONE, vm_id)
    cancel.raise_if_cancelled()
    progress(None, "Copying the machine (export and import)")
    call = Call("clone_vm", {"Id": vm_id, "Name": new_name,
                             "FolderName": f"{folder_name(new_name)}-{random_suffix()}",
                             "WorkName": random_suffix(), "CheckpointId": snapshot_id},
                timeout=plans.COPY)
    result = runner.run(call, interruptible=False, slow=True)
    clone_id = machine_id(str(result["Id"]))
    if cancel.cancelled:
        progress(None, "Cancelling: removing the copy")
        discard(runner, metadata, clone_id, [str(result.get("Folder", ""))])
        raise OperationCancelled()
    os_id = metadata.os_ids().get(vm_id, "")
    if os_id:
        metadata.set_os(clone_id, os_id)
    return clone_id
