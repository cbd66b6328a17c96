"""Power on and off, guest shutdown (VMware Tools), reset, suspend; vSphere has no pause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backends.esxi import inventory, tasks
from backends.esxi.session import Session
from desktopvm.protocol import (
    CancelToken,
    InvalidState,
    Progress,
    UnsupportedOperation,
    no_progress,
)

TASKS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "start": ("Powering on", lambda vm: vm.PowerOnVM_Task()),
    "power_off": ("Powering off", lambda vm: vm.PowerOffVM_Task()),
    "reset": ("Resetting", lambda vm: vm.ResetVM_Task()),
    "save_state": ("Suspending", lambda vm: vm.SuspendVM_Task()),
}


def power(session: Session, action: str, machine_id: str, *, progress: Progress = no_progress,
          cancel: CancelToken | None = None) -> None:
    """One of TASKS, waited for (InvalidState from the host when the state does not allow it)."""
    stage, start = TASKS[action]
    tasks.run_task(session, lambda si: start(inventory.vm(si, machine_id)),
                   progress=progress, cancel=cancel or CancelToken(), stage=stage)


def shutdown(session: Session, machine_id: str) -> None:
    """Ask the guest to shut down through VMware Tools (ShutdownGuest returns at once)."""
    if not inventory.tools_running(session, machine_id):
        raise InvalidState("VMware Tools are not running in this machine, so it cannot be "
                           "asked to shut down; shut it down from inside, or power it off")
    session.run(lambda si: inventory.vm(si, machine_id).ShutdownGuest(), "Shutting down")


def pause(machine_id: str) -> None:
    """vSphere has no pause: suspend (save state) is the nearest."""
    raise UnsupportedOperation("ESXi cannot pause a machine; suspend it (save its state) "
                               "instead", machine_id)
