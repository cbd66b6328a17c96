"""Typing into a machine (PutUsbScanCodes, vSphere 6.5+); the graphical console is not built.

The WebMKS console (AcquireTicket("webmks"): RFB 3.8 over a WebSocket) and screenshots
(CreateScreenshot_Task) are what a console needs here; both are still to come, and say so.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from backends.esxi import inventory
from backends.esxi.keys import combo_event, event
from backends.esxi.session import Session, vim
from desktopvm.protocol import UnsupportedOperation, states
from desktopvm.protocol.keys import UnknownKey, text_to_combos
from desktopvm.protocol.states import Operation

#: Key events per PutUsbScanCodes call: a long text goes in several calls.
BATCH = 64
CONSOLE_MISSING = ("The ESXi console (WebMKS) is not in DesktopVM yet; open the machine in "
                   "the host's web client or VMware Remote Console")


def _send(session: Session, machine_id: str, events: list[object]) -> None:
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    states.require(Operation.CONSOLE, inventory.state_of(values.get("runtime.powerState")),
                   str(values.get("name", machine_id)))
    for start in range(0, len(events), BATCH):
        spec = vim.UsbScanCodeSpec(keyEvents=events[start:start + BATCH])
        session.run(functools.partial(_put, machine_id=machine_id, batch=spec), "Typing")


def _put(si: Any, machine_id: str, batch: Any) -> int:
    return int(inventory.vm(si, machine_id).PutUsbScanCodes(batch))


def send_keys(session: Session, machine_id: str, combos: Sequence[str]) -> None:
    """Each combination ('ctrl-alt-delete', 'enter') as one key event; one the host cannot
    send refuses them all before any is sent."""
    try:
        events = [combo_event(combo) for combo in combos]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    _send(session, machine_id, events)


def type_text(session: Session, machine_id: str, text: str) -> None:
    """Text typed on a US layout, one key event per character (checked whole first)."""
    try:
        events = [event(combo) for combo in text_to_combos(text, "ESXi")]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    _send(session, machine_id, events)


def unsupported_console() -> UnsupportedOperation:
    """What console() and screenshot() say until WebMKS is built."""
    return UnsupportedOperation(CONSOLE_MISSING)
