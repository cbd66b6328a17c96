"""The inventory refresh per connection, and how a host's connection state is shown.

Each connection is listed by its own job, so a slow or dead host never holds up the local
backends or the other hosts. The `ConnectionMonitor` reports state changes on whatever thread
saw them; `StatusBridge` carries them to the GUI thread as a Qt signal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from desktopvm import last_seen
from desktopvm.connections import REMOTE_KINDS, HostConfig, State, Status, is_remote
from desktopvm.monitor import ConnectionMonitor, classify
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    ChangeWatching,
    MachineSummary,
    Progress,
)
from desktopvm.registry import Registry
from desktopvm.ui import gui_relay
from desktopvm.ui.facts import BackendFacts, connection_facts

# Remote refreshes running at once: a host that hangs until its timeout holds one worker, and
# the pool (four) must keep room for the local backends and the user's own operations.
MAX_REMOTE_REFRESHES = 2
HOST_RANK = 100  # hosts come after the local backends, in the settings' order

STATE_WORDS = {
    State.CONNECTING: "Connecting…",
    State.CONNECTED: "Connected",
    State.AUTH_FAILED: "Authentication failed",
    State.UNTRUSTED: "Certificate not trusted",
    State.UNREACHABLE: "Unreachable",
    State.DISCONNECTED: "Disconnected",
}
STATE_ICONS = {
    State.CONNECTING: "state-busy", State.AUTH_FAILED: "error", State.UNTRUSTED: "error",
    State.UNREACHABLE: "error", State.DISCONNECTED: "state-off",
}


@dataclass(frozen=True)
class ConnectionListing:
    """What one connection's refresh found: its machines, or the failure it answered with.
    `facts` is set when they were gathered this time."""

    name: str
    machines: list[MachineSummary] | None = None
    error: BackendError | None = None
    facts: BackendFacts | None = None
    # A local backend that is unavailable: its machines as an earlier run listed them.
    last_seen: list[MachineSummary] | None = None
    # Its backend says when its machines change (ChangeWatching): watch it, do not poll.
    watchable: bool = False


def list_connection(registry: Registry, name: str, with_facts: bool, progress: Progress,
                    cancel: CancelToken) -> ConnectionListing:
    """Runs in a worker: one connection's machines (through the monitor), with its facts
    first for a local backend (an unusable one is not listed) and after a listing for a host
    (it answered, so asking what it can do is worth it)."""
    facts: BackendFacts | None = None
    remote = is_remote(name)
    if with_facts and not remote:
        facts = connection_facts(registry, name)
        if not facts.available:
            return ConnectionListing(name, facts=facts, last_seen=last_seen.recall(name))
    cancel.raise_if_cancelled()
    try:
        machines = registry.list_machines(name)
        if with_facts and remote:
            facts = connection_facts(registry, name)
        watchable = isinstance(registry.open(name), ChangeWatching)  # opened: no new call
    except BackendError as error:
        return ConnectionListing(name, error=error, facts=facts)
    if not remote:
        last_seen.remember(name, machines)
    # Seed discs whose first boot is over are taken out here (desktopvm/seeds.py; also on a
    # remote host that takes seeds, ESXi); imported here, in the worker: it brings the model,
    # which the first paint does without.
    from desktopvm import seeds

    if seeds.refusal(name) == "":
        seeds.observe(registry.settings, registry.open(name), machines)
    return ConnectionListing(name, machines, facts=facts, watchable=watchable)


def record_failure(registry: Registry, name: str, error: BackendError) -> None:
    """An operation on a host lost its connection: the host's node says so at once (and
    the refresh backs off). Any other failure is the operation's, not the host's."""
    if is_remote(name) and classify(error)[0] is not State.CONNECTED:
        registry.monitor.failed(name, error)


class StatusBridge(QObject):
    """Relays the monitor's reports (any thread) to the GUI thread.

    Signals:
        changed(connection_id: str, status: Status)
    """

    changed = Signal(str, object)

    def __init__(self, monitor: ConnectionMonitor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        gui_relay.relay()  # made here, on the GUI thread, before any worker reports
        self._unsubscribe: Callable[[], None] | None = monitor.subscribe(self._heard)

    def _heard(self, connection_id: str, status: Status) -> None:
        # From a worker: never emit on this object there (the window may be deleting it);
        # the relay emits on the GUI thread if it still exists, else stops listening.
        gui_relay.post(self, lambda: self.changed.emit(connection_id, status),
                       on_gone=self.close)

    def close(self) -> None:
        """Stop listening (the window is closing)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def host_label(host: HostConfig) -> str:
    """A host's group title: 'Hyper-V · hv01.lab.example', or its label."""
    return host.label or f"{REMOTE_KINDS[host.kind]} · {host.address}"


def host_note(status: Status, now: float | None = None) -> tuple[str, str]:
    """The error line under a host's node and its tooltip (the whole reason and the fix);
    empty when all is well."""
    state = status.state
    if state is State.CONNECTING or (state is State.CONNECTED and not status.reason):
        return "", ""
    if state is State.DISCONNECTED:
        return "Disconnected by you: choose Connect to see its machines", ""
    reason = status.reason or STATE_WORDS[state]
    tip = "\n".join(t for t in (reason, status.fix) if t)
    if state is State.UNREACHABLE:
        wait = status.retry_in(now)
        again = f"retrying in {wait:.0f} s" if wait >= 1 else "retrying now"
        return f"{reason} — {again}", tip
    if state in (State.AUTH_FAILED, State.UNTRUSTED) and status.fix:
        return f"{reason} — {status.fix}", tip
    return reason, tip


def host_icon(host: HostConfig, status: Status) -> str:
    """The icon of a host's node: its kind when connected, else its state."""
    return STATE_ICONS.get(status.state, f"backend-{host.kind}")
