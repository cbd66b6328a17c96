"""Plain-Python hand-off from a console's worker thread to the GUI thread (no Qt in here)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

Item = tuple[Any, ...]


class Inbox:
    """What one worker thread reports, in order: ("data", bytes) items and events.

    The worker never calls Qt: it only appends here, and a timer on the GUI thread takes the
    items (`take`, which never waits). Data items wait while `limit` bytes are not yet taken,
    so a guest that prints faster than the screen can follow is slowed down (its UART stalls,
    as on real hardware) instead of piling up without bound in memory.
    """

    def __init__(self, limit: int = 256 * 1024) -> None:
        self.limit = limit
        self._items: deque[Item] = deque()
        self._size = 0  # bytes in data items not yet taken
        self._open = True
        self._changed = threading.Condition()

    @property
    def is_open(self) -> bool:
        """False once the GUI side closed it (the worker should stop)."""
        return self._open

    def put(self, data: bytes) -> bool:
        """Worker: queue bytes, waiting while the inbox is full. False: it was closed."""
        with self._changed:
            while self._open and self._size >= self.limit:
                self._changed.wait()
            if not self._open:
                return False
            self._items.append(("data", data))
            self._size += len(data)
            return True

    def post(self, *event: Any) -> None:
        """Worker: queue an event (never waits; dropped once closed)."""
        with self._changed:
            if self._open:
                self._items.append(event)

    def take(self) -> list[Item]:
        """GUI thread: everything queued so far, in order (never waits on the worker)."""
        with self._changed:
            items = list(self._items)
            self._items.clear()
            self._size = 0
            self._changed.notify_all()
        return items

    def close(self) -> None:
        """GUI thread: stop accepting items and wake a worker waiting in `put`."""
        with self._changed:
            self._open = False
            self._items.clear()
            self._size = 0
            self._changed.notify_all()
