"""What a backend offers that can say when its machine list changed (`wait_for_changes`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from desktopvm.protocol.progress import CancelToken


@runtime_checkable
class ChangeWatching(Protocol):
    """A backend that can wait for a change of its machine list instead of being polled.

    The app keeps one background watcher per such connection (desktopvm/ui/live_watch.py)
    and lists the connection again when the token changes; other backends are listed on the
    refresh interval. A watching backend must make the wait end promptly when `cancel` is
    cancelled (raising `OperationCancelled`), as the watcher is stopped that way when its
    connection is removed or disconnected.
    """

    def wait_for_changes(self, token: str = "", *, seconds: int = 30,
                         cancel: CancelToken | None = None) -> str:
        """Block until the machine list changed since `token`, at most `seconds`; returns
        the token to wait from next, different from `token` exactly when something changed
        (list the machines again). The first call, with "", returns a starting token at
        once."""
        ...
