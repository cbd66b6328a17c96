"""Creating, changing and deleting Hyper-V machines, and removing what a cancel left behind."""

from __future__ import annotations

import contextlib
import logging

from backends.hyperv import parsers, placement, plans
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner, machine_id
from desktopvm.model import Capabilities, MachineSpec, name_problems
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidSpec,
    PowerState,
    Progress,
)
from desktopvm.protocol.validity import require_valid

log = logging.getLogger(__name__)


def check(spec: MachineSpec, capabilities: Capabilities, *, local: bool) -> None:
    """InvalidSpec with every problem Hyper-V would have with `spec` (paths only if local)."""
    require_valid(spec, capabilities, extra=placement.problems(spec), check_paths=local)


def require_name(name: str, capabilities: Capabilities) -> None:
    """InvalidSpec unless `name` follows the naming rule (checked before anything is made)."""
    problems = name_problems(name, capabilities)
    if problems:
        raise InvalidSpec(problems)


def create(runner: Runner, metadata: MetadataStore, spec: MachineSpec, *, progress: Progress,
           cancel: CancelToken) -> str:
    """New-VM and its disks in one request; a cancel removes the result once Hyper-V is done."""
    cancel.raise_if_cancelled()
    progress(None, "Creating the machine")
    call = plans.create(spec, runner.facts().default_switch)
    result = runner.run(call, cancel=cancel, interruptible=False)
    vm_id = machine_id(str(result["Id"]))
    if cancel.cancelled:  # Hyper-V finished; undo it (and record nothing of it)
        made = [d["Path"] for d in call.args["Disks"] if d["Create"] and d["Path"]]
        discard(runner, metadata, vm_id, [*made, str(result.get("Folder", ""))])
        cancel.raise_if_cancelled()
    metadata.set_os(vm_id, spec.os)
    progress(1.0, "Created")
    return vm_id


def update(runner: Runner, metadata: MetadataStore, vm_id: str, old: MachineSpec,
           new: MachineSpec, *, progress: Progress, cancel: CancelToken) -> None:
    """The requests for the groups that changed, one at a time (earlier ones stay applied)."""
    state = parsers.power_state(runner.details(vm_id).get("State"))
    calls = plans.update(vm_id, old, new, running=state is not PowerState.OFF,
                         default_switch=runner.facts().default_switch)
    for index, call in enumerate(calls):
        cancel.raise_if_cancelled()
        progress(index / max(len(calls), 1), f"Applying {call.op.replace('_', ' ')}")
        runner.run(call, cancel=cancel, interruptible=False)
    if old.os != new.os:
        metadata.set_os(vm_id, new.os)


def delete(runner: Runner, metadata: MetadataStore, vm_id: str, *, delete_disks: bool) -> None:
    """Remove-VM (its disks too when asked)."""
    runner.run(Call("remove_vm", {"Id": vm_id, "DeleteDisks": delete_disks},
                    timeout=plans.SLOW), interruptible=False)
    metadata.forget(vm_id)


def discard(runner: Runner, metadata: MetadataStore, vm_id: str, paths: list[str]) -> None:
    """Remove a VM we just made and the files we made for it (best effort, logged)."""
    with contextlib.suppress(BackendError):
        runner.run(Call("remove_vm", {"Id": vm_id, "DeleteDisks": False},
                        timeout=plans.SLOW), interruptible=False)
    metadata.forget(vm_id)
    for path in paths:
        discard_path(runner, path)


def discard_path(runner: Runner, path: str) -> None:
    """Remove one file or folder we made (best effort, logged)."""
    if not path:
        return
    try:
        runner.run(Call("remove_path", {"Path": path}, timeout=plans.SLOW), interruptible=False)
    except BackendError as error:
        log.warning("could not remove %s after a cancel: %s", path, error.summary)
