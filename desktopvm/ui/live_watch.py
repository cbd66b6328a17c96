"""Live inventory: a background watcher per connection whose backend says when it changed.

A connection whose backend is `ChangeWatching` (ESXi and vCenter: WaitForUpdatesEx) gets
one thread of its own that loops `token = backend.wait_for_changes(token)`; each new token
asks the refresher, on the GUI thread, to list that connection again, so a machine powered
off in another client shows within a second. The threads are not the JobRunner's: a watcher
waits for as long as the connection lives, and in either pool it would hold a thread the
user's operations (or, in the waits pool, their shutdown watches) need; nor is it a job the
operations dock could list.

A watcher starts once its connection was listed and the listing found its backend can
watch (so no thread is started for the local backends, which cannot), and stops — its wait
ends at once through the cancel token — when the connection leaves the connected state
(disconnected by the user, unreachable, refused), when the registry is replaced (new
preferences, a host added, edited or removed) and when the window closes; the next listing
that succeeds starts it again. A wait that fails does not spin: the watcher rests 5, 10, 20 …
seconds (at most five minutes) and asks for one listing, which goes through the connection
monitor and so shows the host's state as every refresh does; nothing shows a dialog.
While a watcher is healthy the refresh timer leaves its connection alone but for every tenth
tick, which stays as a safety net.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from desktopvm.connections import State, Status, is_remote
from desktopvm.protocol import CancelToken, ChangeWatching, OperationCancelled
from desktopvm.registry import Registry
from desktopvm.ui import gui_relay

if TYPE_CHECKING:
    from desktopvm.ui.refresher import Refresher

log = logging.getLogger(__name__)

WAIT_S = 30  # one wait's longest; the backend keeps it under the connection's timeout
FIRST_REST_S = 5.0  # after a failed wait, then doubled
LONGEST_REST_S = 300.0
QUICK_S = 1.0  # a wait that returns sooner did not wait


def rest(cancel: CancelToken, seconds: float) -> None:
    """Sleep before trying again, waking at once when the watcher is stopped."""
    cancel.wait(seconds)


def rest_after(failures: int) -> float:
    """How long to rest after this many failed waits in a row: 5, 10, 20 … 300 s."""
    return min(FIRST_REST_S * 2.0 ** min(failures - 1, 16), LONGEST_REST_S)


class Watcher:
    """One connection's watching thread (started by `LiveWatch`)."""

    def __init__(self, live: LiveWatch, registry: Registry, name: str) -> None:
        self.live = live
        self.registry = registry
        self.name = name
        self.cancel = CancelToken()
        self.watching = False  # the backend turned out ChangeWatching
        self.healthy = False  # the last call ended normally: changes arrive through it
        self.waits = 0  # calls of wait_for_changes, for the tests
        self.thread = threading.Thread(target=self._run, name=f"live-watch {name}",
                                       daemon=True)

    def stop(self) -> None:
        """End the watcher: a wait in progress ends at once (the thread is not waited for)."""
        self.healthy = False
        self.cancel.cancel()

    def _tell(self, news: str) -> None:
        # Through the application's relay, never a signal of the window's own: the window
        # may be deleted on the GUI thread while this thread emits (a crash, not an error).
        # A window that went (or closed) hears nothing, and its watcher stops.
        live = self.live

        def deliver() -> None:
            if live.closed:
                self.stop()
            else:
                (live.changed if news == "changed" else live.ended)(self)

        gui_relay.post(live, deliver, on_gone=self.stop)

    def _run(self) -> None:
        try:
            backend = self.registry.open(self.name)
        except Exception as error:  # opened by the listing just before; gone meanwhile
            log.info("no live updates for %s: %s", self.name, error)
            backend = None
        if not isinstance(backend, ChangeWatching):
            self._tell("ended")
            return
        self.watching = True
        token, failures = "", 0
        while not self.cancel.cancelled:
            if not self.registry.monitor.due(self.name):
                # Backing off, or waiting for the user (a wrong password is not tried again
                # by itself): the monitor's own retries list it; the watcher only waits.
                rest(self.cancel, FIRST_REST_S)
                continue
            try:
                self.waits += 1
                began = time.monotonic()
                new = backend.wait_for_changes(token, seconds=WAIT_S, cancel=self.cancel)
                quick = time.monotonic() - began < QUICK_S
            except Exception as error:  # a dropped connection, an expired session, a bug
                if self.cancel.cancelled:
                    break
                failures += 1
                self.healthy = False
                delay = rest_after(failures)
                level = logging.WARNING if failures == 1 else logging.INFO
                log.log(level, "live updates of %s: the wait failed (%s%s); trying again in "
                        "%.0f s", self.name, type(error).__name__,
                        "" if isinstance(error, OperationCancelled) else f": {error}", delay)
                self._tell("changed")  # one listing: it reports the host's state
                rest(self.cancel, delay)
                continue
            self.healthy = True
            # Only a wait that really waited proves the host well: after a new login a stale
            # token answers at once, and a connection that fails again after each of those
            # must still rest longer each time.
            if token and not quick:
                failures = 0
            if new != token and not self.cancel.cancelled:
                self._tell("changed")
            elif quick and token:
                rest(self.cancel, QUICK_S)  # "no change" at once: never a busy loop
            token = new
        self._tell("ended")


class LiveWatch(QObject):
    """The window's watchers, one per connection whose backend is `ChangeWatching`."""

    def __init__(self, refresher: Refresher) -> None:
        super().__init__(refresher)
        self.refresher = refresher
        gui_relay.relay()  # made here, on the GUI thread, before a watcher reports
        self.watchers: dict[str, Watcher] = {}
        self.cannot: set[str] = set()  # connections of this registry that cannot watch
        self.closed = False

    def watching(self, name: str) -> bool:
        """Whether changes of `name` arrive through a watcher that works."""
        watcher = self.watchers.get(name)
        return watcher is not None and watcher.healthy

    def listed(self, name: str, watchable: bool = True) -> None:
        """A listing of `name` succeeded: watch it, unless it is watched or cannot be
        (`watchable`: its backend is ChangeWatching, as the listing found: no thread is
        started for one that is not)."""
        registry = self.refresher.registry
        if not watchable or self.closed or name in self.watchers or name in self.cannot:
            return
        if is_remote(name) and registry.monitor.status(name).state is not State.CONNECTED:
            return  # a listing that answered just before the user disconnected
        watcher = Watcher(self, registry, name)
        self.watchers[name] = watcher
        watcher.thread.start()

    def stop(self, name: str) -> None:
        """Stop watching `name` (its wait ends at once)."""
        watcher = self.watchers.pop(name, None)
        if watcher is not None:
            watcher.stop()

    def status_changed(self, name: str, status: Status) -> None:
        """A connection that is no longer connected is not watched until listed again (a
        reconnect may bring a new backend object, so the old watcher is not kept)."""
        if status.state is not State.CONNECTED:
            self.stop(name)

    def registry_replaced(self) -> None:
        """New settings: every watcher uses the old registry's backends; stop them all."""
        for name in list(self.watchers):
            self.stop(name)
        self.cannot.clear()

    def close(self) -> None:
        """The window is closing."""
        self.closed = True
        self.registry_replaced()

    def changed(self, watcher: Watcher) -> None:
        """(GUI thread) The watcher's connection changed: list it again."""
        if self.watchers.get(watcher.name) is watcher and \
                watcher.registry is self.refresher.registry:
            self.refresher.refresh(only=watcher.name)

    def ended(self, watcher: Watcher) -> None:
        """(GUI thread) The watcher stopped, or its backend cannot watch."""
        if self.watchers.get(watcher.name) is watcher:
            del self.watchers[watcher.name]
            if not watcher.watching and watcher.registry is self.refresher.registry:
                self.cannot.add(watcher.name)
