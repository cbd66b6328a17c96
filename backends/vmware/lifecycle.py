"""Start, stop, reset, suspend, pause and resume through vmrun.

`vmrun start <vmx> gui|nogui`, `stop|reset|suspend <vmx> soft|hard`, `pause`, `unpause`
(both help texts). Shut down is `stop soft`, which needs VMware Tools in the guest (Packer
writes `powerType.powerOff = "soft"`); without them vmrun says "The VMware Tools are not
running" and the user is told to power off instead. Power off is `stop hard`; as Vagrant does,
a hard stop that fails because the machine is no longer running is not an error.
"""

from __future__ import annotations

from backends.vmware import console, vmx
from backends.vmware.inventory import Inventory
from backends.vmware.vmrun import START_TIMEOUT
from desktopvm.protocol import InvalidState, PowerState, StartMode
from desktopvm.protocol.states import Operation, require


def start(inventory: Inventory, machine_id: str, mode: StartMode) -> None:
    """Start (or resume from suspend) in a VMware window or without one."""
    record = inventory.record(machine_id)
    require(Operation.START, record.state, record.name)
    own = inventory.library.own()
    if str(record.vmx) in own and not vmx.lock_folders(record.vmx):
        # DesktopVM's own machines get Workstation's VNC server for DesktopVM's console, with
        # a new password each start (a machine VMware has open is started as it is).
        vmx.update(record.vmx, console.vnc_for_start(own.index(str(record.vmx))),
                   name=record.name)
    inventory.vmrun.run("start", str(record.vmx), "gui" if mode is StartMode.GUI else "nogui",
                        timeout=START_TIMEOUT, what=record.name)


def shutdown(inventory: Inventory, machine_id: str) -> None:
    """Ask the guest to shut down (VMware Tools do it)."""
    record = inventory.record(machine_id)
    require(Operation.SHUTDOWN, record.state, record.name)
    inventory.vmrun.run("stop", str(record.vmx), "soft", what=record.name)


def power_off(inventory: Inventory, machine_id: str) -> None:
    """Pull the plug."""
    record = inventory.record(machine_id)
    require(Operation.POWER_OFF, record.state, record.name)
    try:
        inventory.vmrun.run("stop", str(record.vmx), "hard", what=record.name)
    except InvalidState:
        if inventory.record(machine_id).state.is_active:
            raise  # Vagrant ignores a failed hard stop only when the machine has stopped
    inventory.paused.discard(str(record.vmx))


def reset(inventory: Inventory, machine_id: str) -> None:
    """A hard reset (a soft one would need VMware Tools)."""
    record = inventory.record(machine_id)
    require(Operation.RESET, record.state, record.name)
    inventory.vmrun.run("reset", str(record.vmx), "hard", what=record.name)


def pause(inventory: Inventory, machine_id: str) -> None:
    """Freeze the machine (vmrun cannot tell later: DesktopVM remembers the pause)."""
    record = inventory.record(machine_id)
    require(Operation.PAUSE, record.state, record.name)
    inventory.vmrun.run("pause", str(record.vmx), what=record.name)
    inventory.paused.add(str(record.vmx))


def resume(inventory: Inventory, machine_id: str) -> None:
    """Let a paused machine run again."""
    record = inventory.record(machine_id)
    require(Operation.RESUME, record.state, record.name)
    inventory.vmrun.run("unpause", str(record.vmx), what=record.name)
    inventory.paused.discard(str(record.vmx))


def suspend(inventory: Inventory, machine_id: str) -> None:
    """Save the state to the .vmss and stop (a hard suspend: no Tools needed)."""
    record = inventory.record(machine_id)
    require(Operation.SAVE_STATE, record.state, record.name)
    if record.state is PowerState.PAUSED:  # a paused machine is let run for the suspend
        inventory.vmrun.run("unpause", str(record.vmx), what=record.name)
    inventory.vmrun.run("suspend", str(record.vmx), "hard", what=record.name)
    inventory.paused.discard(str(record.vmx))
