"""The machine actions: which exist, their shortcuts and icons, and when each is enabled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktopvm.protocol import MachineSummary
from desktopvm.protocol.states import ALLOWED, LIVE, Operation

if TYPE_CHECKING:
    from desktopvm.model import Capabilities

Rule = Callable[[list[tuple[MachineSummary, "Capabilities | None"]]], bool]


def _each(operation: Operation,
          needs: Callable[[Capabilities], bool] = lambda caps: True) -> Rule:
    """Enabled when at least one machine is selected and every one qualifies.

    The states come from the protocol's table, the one the backends enforce.
    """
    states = ALLOWED[operation]

    def rule(selection: list[tuple[MachineSummary, Capabilities | None]]) -> bool:
        return bool(selection) and all(
            m.state in states and caps is not None and needs(caps) for m, caps in selection)
    return rule


def _one(operation: Operation,
         needs: Callable[[Capabilities], bool] = lambda caps: True) -> Rule:
    """Enabled for exactly one qualifying machine."""
    each = _each(operation, needs)
    return lambda selection: len(selection) == 1 and each(selection)


def _backup(selection: list[tuple[MachineSummary, Capabilities | None]]) -> bool:
    """One machine that is off (as for an export), or running where the hypervisor captures
    running machines (Capabilities.backup_running)."""
    if len(selection) != 1:
        return False
    machine, caps = selection[0]
    return caps is not None and (machine.state in ALLOWED[Operation.EXPORT] or (
        machine.state in LIVE and caps.backup_running))


@dataclass(frozen=True)
class MachineAction:
    """A machine action as the toolbar, menus and context menu show it."""

    key: str
    text: str
    icon: str
    shortcut: str
    enabled: Rule
    tip: str = ""


MACHINE_ACTIONS = (
    MachineAction("start", "&Start", "start", "Ctrl+R", _each(Operation.START),
                  "Start the selected machines"),
    MachineAction("shutdown", "Shut &down", "shutdown", "Ctrl+H", _each(Operation.SHUTDOWN),
                  "Ask the guest to shut down (ACPI power button)"),
    MachineAction("poweroff", "Power o&ff", "poweroff", "Ctrl+Shift+H", _each(Operation.POWER_OFF),
                  "Turn the machine off at once; unsaved work in the guest is lost"),
    MachineAction("discard", "D&iscard saved state…", "poweroff", "",
                  _each(Operation.DISCARD_SAVED_STATE),
                  "Throw away the saved memory (asks first); the machine starts afresh next "
                  "time and its hardware can be changed again"),
    MachineAction("pause", "&Pause", "pause", "Ctrl+P",
                  _each(Operation.PAUSE, lambda c: c.pause), "Freeze the machine"),
    MachineAction("resume", "Res&ume", "resume", "Ctrl+P",
                  _each(Operation.RESUME, lambda c: c.pause), "Let it run again"),
    MachineAction("save", "Sa&ve state", "save-state", "Ctrl+Shift+S",
                  _each(Operation.SAVE_STATE, lambda c: c.save_state),
                  "Save the machine's memory to disk and stop it"),
    MachineAction("reset", "R&eset", "reset", "Ctrl+Shift+R", _each(Operation.RESET),
                  "Restart at once, like the reset button"),
    MachineAction("console", "&Console", "console", "Ctrl+O",
                  _one(Operation.CONSOLE, lambda c: c.screenshot or c.vnc_console),
                  "Show the machine's screen"),
    MachineAction("snapshot", "Take s&napshot…", "snapshot", "Ctrl+T",
                  _one(Operation.TAKE_SNAPSHOT),
                  "Save the current state to go back to later"),
    MachineAction("clone", "C&lone…", "clone", "Ctrl+Shift+C", _one(Operation.CLONE),
                  "Make a copy of the machine"),
    MachineAction("export", "&Export…", "export", "Ctrl+Shift+E",
                  _one(Operation.EXPORT, lambda c: bool(c.export_formats)),
                  "Export as an appliance (OVA)"),
    MachineAction("backup", "&Back up…", "export", "Ctrl+B", _backup,
                  "Back the machine up into a folder, now or on a schedule"),
    MachineAction("copy_to", "Cop&y to…", "clone", "", _one(Operation.EXPORT),
                  "Copy the machine to another hypervisor or host (shows what changes first)"),
    MachineAction("move_to", "&Move to…", "export", "", _one(Operation.EXPORT),
                  "Move the machine to another hypervisor or host (shows what changes first; "
                  "the original is deleted only after the copy is checked)"),
    MachineAction("files", "S&how files", "", "",
                  lambda sel: len(sel) == 1 and sel[0][0].host == "localhost",
                  "Open the machine's folder in the file manager (machines on this computer)"),
    MachineAction("delete", "&Delete…", "delete", "Del", _each(Operation.DELETE),
                  "Delete the selected machines (asks first)"),
    MachineAction("settings", "Se&ttings…", "settings", "Ctrl+E", _one(Operation.CHANGE_NAME_NOTES),
                  "Change the machine's hardware"),
)
