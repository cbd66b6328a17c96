"""`SpecEditor`, the base of every hardware editor, and `FieldScope`, the fields one owns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from desktopvm.model import Capabilities, LiveChange, MachineSpec, Problem
from desktopvm.protocol import HostInfo, PowerState
from desktopvm.protocol.states import LIVE, Operation, allowed

_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class FieldScope:
    """Problem fields an editor answers for: prefixes like 'firmware' or 'storage[].optical'.

    Indexes in a field are ignored ('network[2].mac' is under 'network[].mac'); a prefix
    covers itself and everything below it.
    """

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def covers(self, field: str) -> bool:
        """Whether a problem on `field` belongs to this scope."""
        shape = _INDEX.sub("[]", field)
        return (any(_under(shape, p) for p in self.include)
                and not any(_under(shape, p) for p in self.exclude))


def _under(shape: str, prefix: str) -> bool:
    return not prefix or shape == prefix or shape.startswith((prefix + ".", prefix + "["))


EVERYTHING = FieldScope(("",))  # the empty prefix covers every field


class SpecEditor(QWidget):
    """Edits one part of a MachineSpec.

    `set_spec` loads the editor without emitting `changed`; `apply(spec)` returns an edited
    copy of `spec` with this editor's part replaced, or `spec` itself while the user has
    touched nothing (so a settings dialog never sends a change nobody made). In a power state
    where the hardware cannot change (`set_state`: running, paused, saved; the protocol's
    state table decides), its controls are disabled with the reason; what the backend changes
    live stays editable while the machine runs, and name and notes wherever the table allows.

    Signals:
        changed()  -- the user changed something
    """

    changed = Signal()
    scope = FieldScope(())

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.capabilities = capabilities
        self.host_info = host_info
        self._loading = False
        self._state = PowerState.OFF
        self._locked: set[QWidget] = set()
        self.touched = False

    # -- for users of an editor ------------------------------------------------------------
    def set_spec(self, spec: MachineSpec) -> None:
        """Show `spec` (without emitting `changed`)."""
        self._loading = True
        try:
            self._load(spec)
        finally:
            self._loading = False
        self.touched = False
        self._refresh()

    def apply(self, spec: MachineSpec) -> MachineSpec:
        """A copy of `spec` with this editor's fields as the user set them."""
        return self._apply(spec) if self.touched else spec

    def own_problems(self) -> list[Problem]:
        """What the model cannot check: half-typed input (a MAC), host-specific advice."""
        return []

    def set_state(self, state: PowerState) -> None:
        """Disable what cannot change in `state` (see `editable`)."""
        self._state = state
        self._refresh()

    def set_guest_os(self, os_id: str) -> None:
        """The guest OS changed elsewhere: update hints that depend on it."""

    def needs_shutdown(self) -> bool:
        """Whether any of this editor's controls is locked by the machine's power state."""
        return bool(self._locked)

    # -- for subclasses ----------------------------------------------------------------------
    def _load(self, spec: MachineSpec) -> None:
        raise NotImplementedError

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        raise NotImplementedError

    def _refresh(self) -> None:
        """Recompute enabled states and hints from the controls' values."""

    def _user_changed(self) -> None:
        """Connect controls' change signals here."""
        if self._loading:
            return
        self.touched = True
        self._refresh()
        self.changed.emit()

    def editable(self, live: LiveChange | None) -> bool:
        """Whether a field may change in the machine's state: the state table allows hardware
        changes; or the field is the name or notes and the table allows those (live only where
        the backend can); or the machine runs and the backend changes the field live."""
        state = self._state
        if allowed(Operation.CHANGE_HARDWARE, state):
            return True
        live_ok = live is not None and live in self.capabilities.live_changes
        if live in (LiveChange.NAME, LiveChange.NOTES):
            return allowed(Operation.CHANGE_NAME_NOTES, state) and (state not in LIVE or live_ok)
        return state in LIVE and live_ok

    def locked_reason(self, live: LiveChange | None = None) -> str:
        """Why a locked control cannot change in the machine's state, and what to do.

        For a field some backends change live (`live`), a running machine's reason names
        the backend that cannot, so nobody thinks it is DesktopVM's choice.
        """
        if self._state in LIVE and live is not None and live not in (LiveChange.NAME,
                                                                     LiveChange.NOTES):
            cannot = self.tr("%s cannot change this while the machine runs.") % \
                self.capabilities.backend
            if self._state is PowerState.PAUSED:
                return cannot + " " + self.tr("Resume the machine and shut it down to change "
                                              "it.")
            return cannot + " " + self.tr("Shut down the machine to change it.")
        if self._state is PowerState.PAUSED:
            return self.tr("Resume the machine and shut it down to change this setting.")
        if self._state in LIVE:
            return self.tr("Shut down the machine to change this setting.")
        if self._state is PowerState.SAVED:
            return self.tr("The machine has a saved state, and its saved memory belongs to "
                           "this hardware. Discard the saved state (Machine menu) to change "
                           "this setting.")
        return self.tr("Wait until the machine has started or stopped to change this setting.")

    def offer(self, widget: QWidget, possible: bool, reason: str,
               live: LiveChange | None = None) -> None:
        """Enable `widget` when `possible` and editable now; the tooltip says why not."""
        if not self.editable(live):
            self._locked.add(widget)
            widget.setEnabled(False)
            widget.setToolTip(self.locked_reason(live))
        else:
            self._locked.discard(widget)
            widget.setEnabled(possible)
            widget.setToolTip("" if possible else reason)
