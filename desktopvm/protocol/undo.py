"""`Undo`: what an operation made, removed again (newest first) if it fails or is cancelled."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)


class Undo:
    """Collects undo steps while an operation makes things; runs them only if it fails.

        with Undo() as undo:
            folder.mkdir(); undo.remove_tree(folder)
            make_disk(path); undo.remove_file(path)
            ...  # an exception (or a cancel) here removes both, newest first

    Every step runs even if an earlier one fails (each failure is logged, never raised over
    the operation's own error). `keep()` ends the undo's duty early: what was made stays.
    """

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, step: Callable[[], object]) -> None:
        """Run `step` (described as `what`) if the operation fails."""
        self._steps.append((what, step))

    def remove_file(self, path: Path) -> None:
        """Delete `path` if the operation fails."""
        self.add(f"remove {path}", lambda: path.unlink(missing_ok=True))

    def remove_tree(self, path: Path) -> None:
        """Delete the folder `path` and everything in it if the operation fails."""
        self.add(f"remove {path}", lambda: shutil.rmtree(path, ignore_errors=True))

    def keep(self) -> None:
        """The operation is done: keep everything it made."""
        self._steps.clear()

    def run(self) -> None:
        """Undo now, newest first (also what a failure does)."""
        while self._steps:
            what, step = self._steps.pop()
            try:
                step()
            except Exception as error:  # keep undoing; the operation's own error matters more
                log.warning("could not %s while undoing: %s", what, error)

    def __enter__(self) -> Undo:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.keep()
        else:
            self.run()
