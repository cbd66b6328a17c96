"""Which operations each power state allows: one table for every backend and the app.

Backends check with `require` before they act (the message says what to do instead); the
app enables its actions with `allowed`, so a button is never offered that the backend would
refuse. A backend that cannot do an operation at all says so in its capabilities, not here.
"""

from __future__ import annotations

from enum import StrEnum

from desktopvm.protocol.errors import InvalidState
from desktopvm.protocol.types import PowerState

P = PowerState


class Operation(StrEnum):
    """What can be done to a machine, as far as its power state matters."""

    START = "start"
    SHUTDOWN = "shut down"
    POWER_OFF = "power off"
    DISCARD_SAVED_STATE = "discard the saved state of"
    RESET = "reset"
    PAUSE = "pause"
    RESUME = "resume"
    SAVE_STATE = "save the state of"
    CONSOLE = "use the console of"  # screen, keys, text
    TAKE_SNAPSHOT = "take a snapshot of"
    RESTORE_SNAPSHOT = "restore a snapshot of"
    DELETE_SNAPSHOT = "delete a snapshot of"
    CLONE = "clone"
    EXPORT = "export"
    DELETE = "delete"
    CHANGE_HARDWARE = "change the hardware of"
    CHANGE_NAME_NOTES = "rename or change the notes of"


STOPPED = frozenset({P.OFF, P.ABORTED})
OFFLINE = STOPPED | {P.SAVED}  # no process runs
LIVE = frozenset({P.RUNNING, P.PAUSED})
SETTLED = OFFLINE | LIVE  # not in the middle of a transition

#: The states in which each operation is allowed.
ALLOWED: dict[Operation, frozenset[PowerState]] = {
    Operation.START: OFFLINE,
    Operation.SHUTDOWN: frozenset({P.RUNNING}),
    # power_off() of a SAVED machine discards the saved state: that is DISCARD_SAVED_STATE,
    # which the app asks about first.
    Operation.POWER_OFF: LIVE | {P.STARTING, P.STOPPING},
    Operation.DISCARD_SAVED_STATE: frozenset({P.SAVED}),
    Operation.RESET: LIVE,
    Operation.PAUSE: frozenset({P.RUNNING}),
    Operation.RESUME: frozenset({P.PAUSED}),
    Operation.SAVE_STATE: LIVE,
    Operation.CONSOLE: LIVE,
    Operation.TAKE_SNAPSHOT: SETTLED,
    # Live only where the snapshot holds memory (the backend says when it cannot).
    Operation.RESTORE_SNAPSHOT: SETTLED,
    Operation.DELETE_SNAPSHOT: SETTLED,
    Operation.CLONE: STOPPED,
    Operation.EXPORT: STOPPED,
    Operation.DELETE: OFFLINE,  # never UNKNOWN: an unreadable state may be a running machine
    # The saved memory belongs to the old hardware: resuming it on other hardware fails.
    Operation.CHANGE_HARDWARE: STOPPED,
    Operation.CHANGE_NAME_NOTES: SETTLED,
}

#: What to do instead, when the state is wrong.
_ADVICE: dict[Operation, str] = {
    Operation.START: "it is already running",
    Operation.SHUTDOWN: "it is not running",
    Operation.POWER_OFF: "it is not running",
    Operation.DISCARD_SAVED_STATE: "it has no saved state",
    Operation.RESET: "start it first",
    Operation.PAUSE: "it is not running",
    Operation.RESUME: "it is not paused",
    Operation.SAVE_STATE: "start it first",
    Operation.CONSOLE: "start it first",
    Operation.TAKE_SNAPSHOT: "wait until it has started or stopped",
    Operation.RESTORE_SNAPSHOT: "wait until it has started or stopped",
    Operation.DELETE_SNAPSHOT: "wait until it has started or stopped",
    Operation.CLONE: "shut it down first",
    Operation.EXPORT: "shut it down first",
    Operation.DELETE: "power it off first",
    Operation.CHANGE_HARDWARE: "shut it down first (a saved state must be discarded: its memory "
                               "belongs to the old hardware)",
    Operation.CHANGE_NAME_NOTES: "wait until it has started or stopped",
}


def allowed(operation: Operation, state: PowerState) -> bool:
    """Whether `operation` may be done to a machine in `state`."""
    return state in ALLOWED[operation]


def require(operation: Operation, state: PowerState, name: str) -> None:
    """InvalidState, in words, unless `operation` may be done to `name` in `state`."""
    if not allowed(operation, state):
        if state is P.UNKNOWN:
            raise InvalidState(f"Cannot {operation.value} {name}: its state cannot be read "
                               "(it may be running), so DesktopVM will not risk it")
        raise InvalidState(f"Cannot {operation.value} {name} while it is {state.value}: "
                           f"{_ADVICE[operation]}")
