"""What the UI knows about each backend (gathered off the GUI thread, then passed around)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktopvm.protocol import BackendError, HostInfo, ProbeResult
from desktopvm.registry import Registry

if TYPE_CHECKING:
    from desktopvm.model import Capabilities


@dataclass(frozen=True)
class BackendFacts:
    """One backend as the UI sees it: whether it works here, and what it can do."""

    name: str
    display_name: str
    probe: ProbeResult
    capabilities: Capabilities | None = None
    host_info: HostInfo | None = None
    host: str = "localhost"

    @property
    def available(self) -> bool:
        return self.probe.available and self.capabilities is not None


def gather_facts(registry: Registry) -> list[BackendFacts]:
    """Probe every backend and ask the usable ones for capabilities and host info.

    Runs in a worker thread (it starts processes and may wait on them).
    """
    facts = []
    for known in registry.known():
        probe = registry.probe_thoroughly(known.name)
        if not probe.available:
            facts.append(BackendFacts(known.name, known.display_name, probe))
            continue
        try:
            backend = registry.open(known.name)
            facts.append(BackendFacts(known.name, known.display_name, probe,
                                      backend.capabilities(), backend.host_info(), backend.host))
        except BackendError as error:
            failed = ProbeResult(known.name, False, probe.version, error.summary)
            facts.append(BackendFacts(known.name, known.display_name, failed))
    return facts
