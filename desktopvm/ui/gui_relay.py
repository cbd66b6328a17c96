"""`post`: run a call on the GUI thread, from any thread, only if its receiver still exists.

A worker thread must never emit a signal of an object the GUI thread may be deleting (a
window closed or deleted meanwhile): Qt reads the object while the GUI thread frees it, and
the process crashes — a segfault, not an exception. So every report from a thread goes
through one relay object that lives as long as the application, on the GUI thread; its slot
checks on the GUI thread that the receiver is still there before running the call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot


class GuiRelay(QObject):
    """The application's relay (see the module text). Made once, never deleted."""

    call = Signal(object, object, object)  # receiver, work, on_gone

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    @Slot(object, object, object)
    def _run(self, receiver: QObject, work: Callable[[], None],
             on_gone: Callable[[], None] | None) -> None:
        if shiboken6.isValid(receiver):
            work()
        elif on_gone is not None:
            on_gone()


_RELAY: list[GuiRelay] = []
_MADE = threading.Lock()


def relay() -> GuiRelay:
    """The relay, made on first use and handed to the application's (GUI) thread."""
    with _MADE:
        if not _RELAY:
            made = GuiRelay()
            app = QCoreApplication.instance()
            if app is not None and made.thread() is not app.thread():
                made.moveToThread(app.thread())  # an object may push itself to another
            _RELAY.append(made)
        return _RELAY[0]


def post(receiver: QObject, work: Callable[[], None],
         on_gone: Callable[[], None] | None = None) -> None:
    """Run `work()` on the GUI thread if `receiver` still exists then, else `on_gone()`.
    Safe from any thread; never touches `receiver` on the calling thread."""
    relay().call.emit(receiver, work, on_gone)
