"""A stand-in remote kind for the host tree tests: `open_remote` gives an in-memory backend named
by the host's connection id, which a test can take down (every request fails) or make hang.

Registered as the "hyperv" kind (`KNOWN`), so HostConfig(kind="hyperv") hosts open through it;
there is no local Hyper-V here (`detect` says so).
"""

from __future__ import annotations

import threading
from pathlib import Path

from desktopvm.connections import HostConfig
from desktopvm.protocol import BackendError, BackendUnavailable, MachineSummary, ProbeResult
from desktopvm.registry import KnownBackend
from desktopvm.settings import Settings
from desktopvm.testing.doubles.memory_backend import MemoryBackend

KNOWN = KnownBackend("hyperv", "Hyper-V", "desktopvm.testing.doubles.fake_hosts")
OPENED: dict[str, RemoteMemory] = {}  # connection id -> the backend opened last


class RemoteMemory(MemoryBackend):
    """A memory backend on a "remote host": `down` fails every request with that error;
    `hang` makes list_machines wait until it is set; `slow_answer` makes it read the machines
    first and answer only once it is set (a reply that left the host before a change)."""

    display_name = "Hyper-V"

    def __init__(self, folder: Path, host: HostConfig) -> None:
        super().__init__(folder)
        self.name = host.id
        self.host = host.address
        self.down: BackendError | None = None
        self.hang: threading.Event | None = None
        self.slow_answer: threading.Event | None = None
        self.read = threading.Event()  # set each time list_machines has read the machines

    def list_machines(self) -> list[MachineSummary]:
        if self.hang is not None:
            self.hang.wait(30)
        if self.down is not None:
            raise self.down
        machines = super().list_machines()
        self.read.set()
        if self.slow_answer is not None:
            self.slow_answer.wait(30)
        return machines


def detect(settings: Settings) -> ProbeResult:
    """No Hyper-V on this computer."""
    return ProbeResult("hyperv", False, reason="Hyper-V needs Windows")


def open_backend(settings: Settings) -> MemoryBackend:
    """Never called: detect says it is not here."""
    raise BackendUnavailable("Hyper-V needs Windows")


def open_remote(host: HostConfig, settings: Settings) -> RemoteMemory:
    """The host's backend; machines made on an earlier one (before a new registry) stay."""
    previous = OPENED.get(host.id)
    backend = RemoteMemory(settings.library() / host.id, host)
    if previous is not None:
        backend._machines = previous._machines
        backend.down, backend.hang = previous.down, previous.hang
    OPENED[host.id] = backend
    return backend
