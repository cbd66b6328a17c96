"""VirtualBox power operations: startvm, controlvm, discardstate; states checked by the table."""

from __future__ import annotations

from backends.virtualbox.inventory import Inventory
from desktopvm.protocol import CancelToken, CommandFailed, PowerState, Progress, StartMode, states
from desktopvm.protocol.states import Operation

START_TIMEOUT = 180.0
NO_DRIVER = ("VirtualBox's kernel driver (vboxdrv) is not loaded, so no machine can start on "
             "this computer; creating and changing machines works")

#: Protocol operation -> (the state rule, controlvm's words).
CONTROL = {
    "shutdown": (Operation.SHUTDOWN, "acpipowerbutton"),
    "power_off": (Operation.POWER_OFF, "poweroff"),
    "reset": (Operation.RESET, "reset"),
    "pause": (Operation.PAUSE, "pause"),
    "resume": (Operation.RESUME, "resume"),
}


def start(inventory: Inventory, machine_id: str, mode: StartMode) -> None:
    """startvm headless or with VirtualBox's window; a missing driver is said in words."""
    record = inventory.record(machine_id)
    states.require(Operation.START, record.state, record.spec.name)
    kind = "gui" if mode is StartMode.GUI else "headless"
    vbox = inventory.vbox
    try:
        vbox.run(["startvm", record.uuid, f"--type={kind}"], timeout=START_TIMEOUT)
    except CommandFailed as error:
        if not vbox.driver_warning:
            raise
        # VirtualBox's own words ("terminated unexpectedly during startup with exit code
        # 1") do not say why; the launcher's warning does.
        raise CommandFailed(f"Cannot start {record.spec.name}: {NO_DRIVER}",
                            command=error.command, exit_code=error.exit_code,
                            stderr=f"{vbox.driver_warning}\n{error.stderr}") from error
    inventory.forget(record.uuid)


def control(inventory: Inventory, operation: str, machine_id: str) -> None:
    """controlvm for `operation` (a key of CONTROL); power off of a saved machine discards it."""
    record = inventory.record(machine_id)
    if operation == "power_off" and record.state is PowerState.SAVED:
        inventory.vbox.run(["discardstate", record.uuid])
    else:
        rule, words = CONTROL[operation]
        states.require(rule, record.state, record.spec.name)
        inventory.vbox.run(["controlvm", record.uuid, words])
    inventory.forget(record.uuid)


def save_state(inventory: Inventory, machine_id: str, *, progress: Progress,
               cancel: CancelToken) -> None:
    """controlvm savestate, with VirtualBox's progress."""
    record = inventory.record(machine_id)
    states.require(Operation.SAVE_STATE, record.state, record.spec.name)
    inventory.vbox.run(["controlvm", record.uuid, "savestate"], timeout=START_TIMEOUT,
                       cancel=cancel, on_progress=lambda f, _run: progress(f, "Saving state"))
    inventory.forget(record.uuid)
