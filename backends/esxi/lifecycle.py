"""Power on and off, guest shutdown (VMware Tools), reset, suspend; vSphere has no pause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backends.esxi import inventory, tasks
from backends.esxi.session import Session
from desktopvm.protocol import (
    CancelToken,
    InvalidState,
    PowerState,
    Progress,
    UnsupportedOperation,
    no_progress,
    states,
)
from desktopvm.protocol.states import Operation

TASKS: dict[str, tuple[str, Operation, Callable[[Any], Any]]] = {
    "start": ("Powering on", Operation.START, lambda vm: vm.PowerOnVM_Task()),
    "power_off": ("Powering off", Operation.POWER_OFF, lambda vm: vm.PowerOffVM_Task()),
    "reset": ("Resetting", Operation.RESET, lambda vm: vm.ResetVM_Task()),
    "save_state": ("Suspending", Operation.SAVE_STATE, lambda vm: vm.SuspendVM_Task()),
}


def require(session: Session, machine_id: str, operation: Operation) -> PowerState:
    """The machine's state, or InvalidState (MachineNotFound) when `operation` cannot be done:
    checked here in the shared words, as some hosts (and vcsim) let a no-op through."""
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    state = inventory.state_of(values.get("runtime.powerState"))
    states.require(operation, state, str(values.get("name", machine_id)))
    return state


def power(session: Session, action: str, machine_id: str, *, progress: Progress = no_progress,
          cancel: CancelToken | None = None) -> None:
    """One of TASKS, waited for (InvalidState when the state does not allow it)."""
    stage, operation, start = TASKS[action]
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    state = inventory.state_of(values.get("runtime.powerState"))
    if action == "power_off" and state is PowerState.SAVED:
        operation = Operation.DISCARD_SAVED_STATE  # powering off a suspended machine does it
    states.require(operation, state, str(values.get("name", machine_id)))
    tasks.run_task(session, lambda si: start(inventory.vm(si, machine_id)),
                   progress=progress, cancel=cancel or CancelToken(), stage=stage)


def shutdown(session: Session, machine_id: str) -> None:
    """Ask the guest to shut down through VMware Tools (ShutdownGuest returns at once)."""
    require(session, machine_id, Operation.SHUTDOWN)
    if not inventory.tools_running(session, machine_id):
        raise InvalidState("VMware Tools are not running in this machine, so it cannot be "
                           "asked to shut down; shut it down from inside, or power it off")
    session.run(lambda si: inventory.vm(si, machine_id).ShutdownGuest(), "Shutting down")


def pause(session: Session, machine_id: str) -> None:
    """vSphere has no pause: suspend (save state) is the nearest."""
    inventory.read(session, machine_id, ["name"])  # an unknown machine is MachineNotFound
    raise UnsupportedOperation("ESXi cannot pause a machine; suspend it (save its state) "
                               "instead", machine_id)


def resume(session: Session, machine_id: str) -> None:
    """Nothing is ever paused on ESXi (so this is InvalidState: "it is not paused"); a
    suspended machine resumes when it is started."""
    require(session, machine_id, Operation.RESUME)
    raise UnsupportedOperation("ESXi machines are never paused; start a suspended machine "
                               "to resume it", machine_id)
