"""Named, timed build steps: each prints its duration, and a summary comes at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StepTimer:
    """Times the steps of one build and prints them as they finish."""

    quiet: bool = False
    durations: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as the step `name`."""
        self._say(f"==> {name}")
        start = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.durations.append((name, elapsed))
            self._say(f"<== {name}: {elapsed:.1f} s")

    def summary(self) -> str:
        """One line per step and the total."""
        lines = [f"  {name:<44} {seconds:7.1f} s" for name, seconds in self.durations]
        total = sum(seconds for _, seconds in self.durations)
        lines.append(f"  {'total':<44} {total:7.1f} s")
        return "\n".join(lines)

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)  # noqa: T201 - a build tool talks to its user
