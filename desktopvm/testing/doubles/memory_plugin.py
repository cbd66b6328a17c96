"""The memory backend as a registry plug-in (detect / open_backend), for CLI and app tests."""

from __future__ import annotations

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings
from desktopvm.testing.doubles.memory_backend import MemoryBackend


def detect(settings: Settings) -> ProbeResult:
    """Always there."""
    return ProbeResult("memory", True, version="1.0")


def open_backend(settings: Settings) -> MemoryBackend:
    """A fresh in-memory backend keeping its disk files in the library folder."""
    return MemoryBackend(settings.library())
