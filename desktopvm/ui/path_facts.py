"""What the file system says about a spec's paths, asked on a worker for live validation.

Validation runs as the user types, on the GUI thread; an ISO or disk on a network share can
take seconds to answer `exists()`. `PathFacts.lookup` answers from what workers found and asks
again each time (one question per path at a time), saying `changed` when an answer differs
from the last one, so the form validates again. A stat is cheap; a stuck share only delays.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject, Signal

from desktopvm.jobs import JobRunner
from desktopvm.model.validation import PathFact, look_at_path
from desktopvm.protocol import CancelToken, Progress


class PathFacts(QObject):
    """Answers of the file system, by path, for `validate(path_facts=facts.lookup)`.

    Signals:
        changed(): an answer arrived; validate again.
    """

    changed = Signal()

    def __init__(self, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._known: dict[str, PathFact] = {}
        self._asking: set[str] = set()
        self._again: set[str] = set()

    def lookup(self, path: str) -> PathFact | None:
        """The last answer for `path` (None until one arrived); asks again, as a file may
        have come or gone since."""
        if path in self._asking:
            self._again.add(path)  # the answer on its way may be from before a change
        else:
            self._ask(path)
        return self._known.get(path)

    def _ask(self, path: str) -> None:
        self._asking.add(path)

        def work(_progress: Progress, _cancel: CancelToken) -> PathFact:
            return look_at_path(path)

        job = self.runner.submit(f"Look at {path}", work, background=True)
        job.succeeded.connect(lambda fact: self._answered(path, fact))
        job.failed.connect(lambda _error: self._unanswered(path))

    def _unanswered(self, path: str) -> None:
        self._asking.discard(path)
        self._again.discard(path)

    def _answered(self, path: str, fact: object) -> None:
        self._asking.discard(path)
        assert isinstance(fact, PathFact)
        if path in self._again:
            self._again.discard(path)
            self._ask(path)
        before = self._known.get(path)
        self._known[path] = fact
        if before != fact:
            with contextlib.suppress(RuntimeError):  # the form closed while a worker asked
                self.changed.emit()
