"""What the UI knows about each connection (gathered off the GUI thread, then passed around)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktopvm.connections import REMOTE_KINDS, is_remote
from desktopvm.protocol import BackendError, HostInfo, ProbeResult
from desktopvm.registry import KnownBackend, Registry

if TYPE_CHECKING:
    from desktopvm.model import Capabilities


@dataclass(frozen=True)
class BackendFacts:
    """One connection as the UI sees it: whether it works, and what it can do. `name` is the
    connection id: a local backend's name, or a host's 'hyperv@hv01.lab.example'."""

    name: str
    display_name: str
    probe: ProbeResult
    capabilities: Capabilities | None = None
    host_info: HostInfo | None = None
    host: str = "localhost"

    @property
    def available(self) -> bool:
        return self.probe.available and self.capabilities is not None


def where(registry: Registry, connection: str) -> str:
    """Where a connection's machines run, for people: 'Hyper-V on hv01.lab.example',
    'QEMU on this computer'."""
    host = registry.settings.host(connection)
    if host is not None:
        return f"{REMOTE_KINDS[host.kind]} on {host.label or host.address}"
    return f"{registry.display_name(connection)} on this computer"


def local_facts(registry: Registry, known: KnownBackend) -> BackendFacts:
    """Probe one local backend and, when usable, ask it for capabilities and host info.

    Runs in a worker thread (it starts processes and may wait on them).
    """
    probe = registry.probe_thoroughly(known.name)
    if not probe.available:
        return BackendFacts(known.name, known.display_name, probe)
    try:
        backend = registry.open(known.name)
        return BackendFacts(known.name, known.display_name, probe, backend.capabilities(),
                            backend.host_info(), backend.host)
    except BackendError as error:
        failed = ProbeResult(known.name, False, probe.version, error.summary)
        return BackendFacts(known.name, known.display_name, failed)


def host_facts(registry: Registry, connection: str) -> BackendFacts:
    """Ask a remote host what it can do, through the connection monitor (a failure is
    recorded as the host's state and raised). Host info is fetched when the host is shown.

    Runs in a worker thread (it contacts the host).
    """
    backend = registry.open(connection)
    probe = registry.monitor.guarded(connection, backend.probe)
    title = where(registry, connection)
    if not probe.available:
        return BackendFacts(connection, title, probe, host=backend.host)
    capabilities = registry.monitor.guarded(connection, backend.capabilities)
    return BackendFacts(connection, title, probe, capabilities, None, backend.host)


def connection_facts(registry: Registry, connection: str) -> BackendFacts:
    """The facts of one connection, local or remote (may raise for a remote host)."""
    if is_remote(connection):
        return host_facts(registry, connection)
    known = next(k for k in registry.known() if k.name == connection)
    return local_facts(registry, known)
