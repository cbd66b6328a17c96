"""Live state (beyond the module map): WaitForUpdatesEx tells when the machine list changed.

Instead of listing every few seconds, a caller waits here: `Watch.wait(token)` blocks in
WaitForUpdatesEx until a machine's summary changed on the host (made, removed, renamed,
powered on or off — also by another client) or the time is up, and returns a token. A token
different from the one passed in means "list again" (one RetrievePropertiesEx); the same token
means nothing changed. The first call (token "") returns at once with a starting token.

The wait has a property collector of its own (CreatePropertyCollector) with one filter over a
container view of its own, so a blocking wait never holds up or disturbs the session's
listing and reading. After a new login (an expired session) the collector is made again and
the token changes, so the caller lists once more: a change made meanwhile is never lost.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from backends.esxi.session import Session, vim, vmodl
from desktopvm.protocol import BackendError, CancelToken, OperationCancelled

PC = vmodl.query.PropertyCollector
#: How long close() waits for the wait and its cancel to return before logging out.
SETTLE_SECONDS = 5.0
#: What a MachineSummary shows: a change to any of these is a change of the list (the host:
#: on a vCenter a machine moved by DRS or vMotion changes its place in the tree).
WATCHED = ["name", "runtime.powerState", "runtime.host", "config.guestId",
           "config.hardware.numCPU", "config.hardware.memoryMB", "config.template"]


class Watch:
    """Waits for changes of one session's machine list."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._collector: tuple[Any, Any] | None = None  # (the login it belongs to, collector)
        self._changes = 0  # counts update sets: some hosts (vcsim) never change the version
        # Calls in flight (waits and their cancels): a logout waits for them, as a call that
        # returns after the session's sockets were dropped would leave its socket open.
        self._calls = 0
        self._settled = threading.Condition()

    def _made(self, si: Any) -> Any:
        """This login's collector with its filter, made on first use."""
        with self._lock:
            if self._collector is not None and self._collector[0] is si:
                return self._collector[1]
        content = self.session.content(si)
        collector = content.propertyCollector.CreatePropertyCollector()
        view = content.viewManager.CreateContainerView(content.rootFolder,
                                                       [vim.VirtualMachine], True)
        collector.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[PC.TraversalSpec(
                name="view", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=WATCHED)]),
            partialUpdates=True)
        with self._lock:
            self._collector = (si, collector)
        return collector

    def wait(self, token: str = "", *, seconds: int = 30,
             cancel: CancelToken | None = None) -> str:
        """Block until the machine list changed since `token`, at most `seconds`; the token to
        wait from next (different from `token` exactly when something changed)."""
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()

        def call(si: Any) -> str:
            collector = self._made(si)
            mine, _, rest = token.partition("|")
            version = rest.rpartition("|")[0] if mine == collector._moId else ""
            # Shorter than the connection's socket timeout, or a quiet wait would look like a
            # dropped connection and end the session.
            longest = max(1, min(seconds, int(self.session.timeout) - 5))
            options = PC.WaitOptions(maxWaitSeconds=0 if not version else longest)

            def stop() -> None:
                # Cancel runs on the canceller's thread (maybe the GUI's): never block it.
                self._calling(+1)  # now: a close() right after must wait for it
                threading.Thread(target=self._cancel_wait, args=(collector,), daemon=True).start()

            unregister = cancel.on_cancel(stop)
            self._calling(+1)
            try:
                cancel.raise_if_cancelled()
                result = collector.WaitForUpdatesEx(version, options)
            except vmodl.fault.RequestCanceled as error:
                raise OperationCancelled("Stopped waiting for changes") from error
            finally:
                self._calling(-1)
                unregister()
            if result is None:  # the time was up: nothing changed
                return token
            if version and result.filterSet:
                with self._lock:
                    self._changes += 1
            with self._lock:
                changes = self._changes
            return f"{collector._moId}|{result.version}|{changes}"

        return self.session.run(call, "Waiting for changes")

    def stop(self) -> None:
        """End a wait in progress and let it return, before the session logs out: a host may
        keep a logged-out session's wait until its time is up (vcsim 0.24's Logout does),
        holding its caller."""
        with self._lock:
            made = self._collector
        with self._settled:
            waiting = self._calls > 0  # else no call: a host that is gone is not asked twice
        if made is not None and waiting:
            # On a thread of its own, as a wait's own cancel is: a host that is gone would
            # hold this caller (the app's exit, maybe on the GUI thread) for the session's
            # whole timeout. The wait below is bounded either way.
            self._calling(+1)
            threading.Thread(target=self._cancel_wait, args=(made[1],), daemon=True).start()
        with self._settled:
            self._settled.wait_for(lambda: self._calls == 0, timeout=SETTLE_SECONDS)

    def _calling(self, step: int) -> None:
        with self._settled:
            self._calls += step
            self._settled.notify_all()

    def _cancel_wait(self, collector: Any) -> None:
        """End a wait in progress (its call then raises RequestCanceled)."""
        try:
            with contextlib.suppress(BackendError, vmodl.MethodFault, OSError):
                collector.CancelWaitForUpdates()
        finally:
            self._calling(-1)
