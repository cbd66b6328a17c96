"""The one table of which operations each power state allows, as backends and the app use it."""

from __future__ import annotations

import pytest

from desktopvm.protocol import InvalidState, MachineSummary, PowerState
from desktopvm.protocol.states import ALLOWED, Operation, allowed, require
from desktopvm.ui.actions import MACHINE_ACTIONS

P = PowerState


def test_every_operation_has_a_rule_and_unknown_allows_nothing():
    assert set(ALLOWED) == set(Operation)
    assert not any(allowed(op, P.UNKNOWN) for op in Operation)


@pytest.mark.parametrize(("operation", "state", "ok"), [
    (Operation.START, P.SAVED, True), (Operation.START, P.RUNNING, False),
    (Operation.DELETE, P.SAVED, True), (Operation.DELETE, P.PAUSED, False),
    (Operation.CHANGE_HARDWARE, P.SAVED, False), (Operation.CHANGE_HARDWARE, P.ABORTED, True),
    (Operation.CHANGE_NAME_NOTES, P.RUNNING, True), (Operation.POWER_OFF, P.SAVED, False),
    (Operation.DISCARD_SAVED_STATE, P.SAVED, True), (Operation.EXPORT, P.SAVED, False),
])
def test_rules(operation: Operation, state: PowerState, ok: bool):
    assert allowed(operation, state) is ok


def test_refusals_say_what_to_do():
    with pytest.raises(InvalidState, match="Cannot delete web while it is running: power it off"):
        require(Operation.DELETE, P.RUNNING, "web")
    with pytest.raises(InvalidState, match="its state cannot be read"):
        require(Operation.DELETE, P.UNKNOWN, "web")
    require(Operation.DELETE, P.OFF, "web")


ACTION_OPERATIONS = {
    "start": Operation.START, "shutdown": Operation.SHUTDOWN, "poweroff": Operation.POWER_OFF,
    "save": Operation.SAVE_STATE, "reset": Operation.RESET, "clone": Operation.CLONE,
    "delete": Operation.DELETE, "snapshot": Operation.TAKE_SNAPSHOT,
}


@pytest.mark.parametrize("key", sorted(ACTION_OPERATIONS))
def test_the_app_enables_an_action_exactly_where_the_backends_allow_it(key: str):
    from desktopvm.model import generic_capabilities

    action = next(a for a in MACHINE_ACTIONS if a.key == key)
    caps = generic_capabilities()
    enabled = {state for state in PowerState
               if action.enabled([(MachineSummary("memory", "id", "m", state), caps)])}
    assert enabled == ALLOWED[ACTION_OPERATIONS[key]]
