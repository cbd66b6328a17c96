"""Values that cross the backend protocol: states, summaries, snapshots, host facts, endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    from desktopvm.model.machine import MachineSpec


class PowerState(StrEnum):
    """One power-state vocabulary for every backend."""

    OFF = "off"
    RUNNING = "running"
    PAUSED = "paused"
    SAVED = "saved"
    STARTING = "starting"
    STOPPING = "stopping"
    ABORTED = "aborted"  # the VM process died unexpectedly
    UNKNOWN = "unknown"

    @property
    def is_active(self) -> bool:
        """Whether the machine occupies host resources (a process exists)."""
        return self in (PowerState.RUNNING, PowerState.PAUSED, PowerState.STARTING,
                        PowerState.STOPPING)


class StartMode(StrEnum):
    """How to start: without a window, or with the hypervisor's own window."""

    HEADLESS = "headless"
    GUI = "gui"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Is the backend usable here, which version, and if not, why and how to fix it."""

    name: str
    available: bool
    version: str = ""
    reason: str = ""
    install_hint: str = ""


@dataclass(frozen=True, slots=True)
class MachineSummary:
    """One row of the inventory: cheap to list for all machines at once."""

    backend: str
    id: str
    name: str
    state: PowerState
    host: str = "localhost"
    os: str = ""
    cpus: int = 0
    memory_mib: int = 0
    # Why the machine cannot be read (its record is damaged), in words; "" when it can. Such
    # a machine is listed in state UNKNOWN so it does not vanish from the user's list.
    problem: str = ""
    # Where the machine runs inside its host, from outside in, e.g. ("Datacenter A",
    # "Cluster 1", "esx-3.example") on a vCenter; () where there is nothing to group by (every
    # other backend, a standalone ESXi host). The inventory nests the machine under these.
    location: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across backends and hosts."""
        return (self.host, self.backend, self.id)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot and its children (the tree the user sees)."""

    id: str
    name: str
    description: str = ""
    created: str = ""  # ISO 8601
    has_memory: bool = False
    children: tuple[Snapshot, ...] = ()

    def walk(self) -> list[Snapshot]:
        """This snapshot and all below it, depth first."""
        result = [self]
        for child in self.children:
            result.extend(child.walk())
        return result


@dataclass(frozen=True, slots=True)
class MachineInfo:
    """Everything about one machine: its spec, state and snapshot tree."""

    summary: MachineSummary
    spec: MachineSpec
    snapshots: tuple[Snapshot, ...] = ()
    current_snapshot: str = ""  # id of the snapshot the current state derives from
    guest_addresses: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # the machine's files on disk (for "delete also removes …")
    log: str = ""  # the hypervisor's own messages about this machine (why it stopped), if any
    # The folder holding the machine's own files on its host ("" if it has none of its own):
    # what "Show files" opens. QEMU's is library/<id>, named by id on purpose.
    folder: str = ""

    @property
    def state(self) -> PowerState:
        """Shortcut to the summary's state."""
        return self.summary.state


@dataclass(frozen=True, slots=True)
class HostNetwork:
    """Something an adapter can attach to: a host interface, a switch, a named network."""

    attachment: str  # a NetworkAttachment value
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class HostInfo:
    """Facts about the host a backend runs VMs on."""

    hostname: str
    cpus: int
    memory_mib: int
    os: str = ""
    networks: tuple[HostNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class DiskInfo:
    """What a disk image file is."""

    path: str
    format: str
    virtual_size: int
    actual_size: int
    backing_file: str = ""
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VncEndpoint:
    """Where to reach a machine's graphical console over RFB: a host and port, a Unix socket,
    or an `opener` the backend hands over when the way in is its own (ESXi's WebMKS: a
    WebSocket behind a one-time ticket). The opener blocks, so it is called off the GUI
    thread, once per connection; it raises OSError or BackendError when it cannot connect."""

    host: str = ""
    port: int = 0
    unix_socket: str = ""
    password: str = field(default="", repr=False)  # a secret: never in a log line
    # Left out of ==, hash and repr: it may hold a session or hand out tickets.
    opener: Callable[[], socket.socket] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SerialEndpoint:
    """Where to reach a machine's serial console (a stream of bytes)."""

    unix_socket: str = ""
    pipe: str = ""
    host: str = ""
    port: int = 0


@dataclass(frozen=True, slots=True)
class ConsoleEndpoints:
    """The ways into a running machine's console."""

    vnc: VncEndpoint | None = None
    serial: SerialEndpoint | None = None
    native_viewer: tuple[str, ...] = ()  # argv of the hypervisor's own viewer
