"""Reads qemu-img's `-p` progress output (`    (12.34/100%)\\r`) into progress reports."""

from __future__ import annotations

import re

from desktopvm.protocol import Progress

_PROGRESS = re.compile(rb"\(\s*(\d+(?:\.\d+)?)/100%\)")
_SEGMENT_END = re.compile(rb"[\r\n]")


class ProgressParser:
    """Turns qemu-img's `    (12.34/100%)\\r` stream into increasing progress reports."""

    def __init__(self, progress: Progress, stage: str) -> None:
        self._progress = progress
        self._stage = stage
        self._pending = b""
        self.last = -1.0

    def feed(self, chunk: bytes) -> None:
        """Parse every complete segment of `chunk` (plus what was left over)."""
        *segments, self._pending = _SEGMENT_END.split(self._pending + chunk)
        for segment in segments:
            self._parse(segment)

    def finish(self) -> None:
        """Parse what is left after the stream ended."""
        self._parse(self._pending)
        self._pending = b""

    def report(self, fraction: float) -> None:
        """Pass on `fraction` if it is ahead of the last report."""
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction > self.last:
            self.last = fraction
            self._progress(fraction, self._stage)

    def _parse(self, segment: bytes) -> None:
        match = _PROGRESS.search(segment)
        if match:
            self.report(float(match.group(1)) / 100.0)
