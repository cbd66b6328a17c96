"""The application's widgets as Python lists, taken with Python's cycle collector paused.

`QApplication.allWidgets()` copies Qt's list of raw widget pointers and then wraps them one
by one. Wrapping allocates, an allocation can start Python's cycle collector, and the
collector may free a parentless widget whose wrapper was garbage — deleting a C++ widget
whose pointer is still waiting in the copied list: the next wrap reads freed memory and the
process segfaults (seen in the test suite, in theme repaints and dialog searches). Paused,
the collector cannot run between the copy and the last wrap; once wrapped, the list's
references keep every widget in it alive.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6.QtWidgets import QApplication, QWidget


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _listed(read: Callable[[], list[QWidget]]) -> list[QWidget]:
    with _collector_paused():
        return list(read())


def all_widgets() -> list[QWidget]:
    """Every widget of the application (QApplication.allWidgets, safely)."""
    return _listed(QApplication.allWidgets)


def top_level_widgets() -> list[QWidget]:
    """The application's windows (QApplication.topLevelWidgets, safely)."""
    return _listed(QApplication.topLevelWidgets)
