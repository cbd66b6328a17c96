"""The connections of this app: local backends found here, remote hosts the user added.

Each backend lives in `backends/<name>/`. Its package `__init__` must stay light: it
offers `detect(settings) -> ProbeResult` (is the tool there? no heavy imports) and
`open_backend(settings) -> Backend` (imports the real code); a kind that can be a remote host
also offers `open_remote(host, settings) -> Backend`, which connects nothing until first used.
A backend package that is not part of this build is reported as such without importing
anything. Each connection has a `Status` (connections.State) kept in a `ConnectionMonitor`
that outlives registries rebuilt for new settings.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from dataclasses import dataclass
from types import ModuleType

from desktopvm.connections import Check, Diagnosis, HostConfig, is_remote, kind_of
from desktopvm.monitor import ConnectionMonitor
from desktopvm.protocol import (
    Backend,
    BackendError,
    BackendUnavailable,
    MachineNotFound,
    MachineSummary,
    ProbeResult,
)
from desktopvm.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KnownBackend:
    """A backend DesktopVM knows of, present in this build or not."""

    name: str
    display_name: str
    package: str


KNOWN_BACKENDS = (
    KnownBackend("qemu", "QEMU", "backends.qemu"),
    KnownBackend("virtualbox", "VirtualBox", "backends.virtualbox"),
    KnownBackend("hyperv", "Hyper-V", "backends.hyperv"),
    KnownBackend("vmware", "VMware Workstation", "backends.vmware"),
    KnownBackend("esxi", "VMware ESXi", "backends.esxi"),
)


class Registry:
    """The connections of this app. Thread-safe; backends are opened once and reused."""

    def __init__(self, settings: Settings | None = None,
                 known: tuple[KnownBackend, ...] = KNOWN_BACKENDS,
                 monitor: ConnectionMonitor | None = None) -> None:
        self.settings = settings or Settings()
        self._known = {k.name: k for k in known}
        self._opened: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self.monitor = monitor or ConnectionMonitor()

    def with_settings(self, settings: Settings) -> Registry:
        """A new registry of the same backends that opens them with `settings` (the
        connection states carry over)."""
        return Registry(settings, tuple(self._known.values()), self.monitor)

    def close(self) -> None:
        """Close the opened backends that hold something open (Hyper-V's PowerShell sessions)
        and forget them all. May block: never call it on the GUI thread."""
        with self._lock:
            opened, self._opened = list(self._opened.values()), {}
        for backend in opened:
            close = getattr(backend, "close", None)  # optional: most backends hold nothing
            if not callable(close):
                continue
            try:
                close()
            except Exception:  # one backend failing to close must not keep the others open
                log.exception("closing the %s backend failed", backend.name)

    def names(self) -> list[str]:
        """Every connection id: the known local backends, then the hosts the user added."""
        return list(self._known) + [host.id for host in self.settings.hosts]

    def hosts(self) -> list[HostConfig]:
        """The remote hosts the user added, in their order."""
        return list(self.settings.hosts)

    def display_name(self, connection_id: str) -> str:
        """'QEMU', or 'hv01.lab.example (Hyper-V)' for a remote host."""
        host = self.settings.host(connection_id)
        if host is not None:
            return host.display_name
        known = self._known.get(kind_of(connection_id))
        return known.display_name if known else connection_id

    def known(self) -> list[KnownBackend]:
        """All known backends, present in this build or not."""
        return list(self._known.values())

    def _package(self, name: str) -> ModuleType | None:
        known = self._known[name]
        try:
            if importlib.util.find_spec(known.package) is None:
                return None
        except ModuleNotFoundError:
            return None
        return importlib.import_module(known.package)

    def probe(self, name: str) -> ProbeResult:
        """Whether backend `name` is usable here (cheap: the package's detect()); for a
        remote host, whether this build can talk to its kind (it is not contacted)."""
        if is_remote(name):
            return self._probe_remote(name)
        known = self._known.get(name)
        if known is None:
            return ProbeResult(name, False, reason=f"unknown backend {name!r}")
        package = self._package(name)
        if package is None:
            return ProbeResult(name, False, reason=f"the {known.display_name} backend is not "
                               "part of this build of DesktopVM yet")
        try:
            result: ProbeResult = package.detect(self.settings)
        except Exception as error:  # a broken probe must not break discovery of the others
            log.exception("probing %s failed", name)
            return ProbeResult(name, False, reason=f"probe failed: {error}")
        return result

    def _probe_remote(self, name: str) -> ProbeResult:
        if self.settings.host(name) is None:
            return ProbeResult(name, False, reason=f"no host {name!r} has been added")
        package = self._package(kind_of(name)) if kind_of(name) in self._known else None
        if package is None or not hasattr(package, "open_remote"):
            return ProbeResult(name, False, reason=f"this build of DesktopVM cannot connect to "
                               f"{kind_of(name)} hosts")
        return ProbeResult(name, True)

    def probe_all(self) -> list[ProbeResult]:
        """Probe every known backend (cheaply)."""
        return [self.probe(name) for name in self._known]

    def probe_thoroughly(self, name: str) -> ProbeResult:
        """Like probe(), and for a backend that is there, ask the backend itself (runs its
        tool: version, permissions)."""
        result = self.probe(name)
        if not result.available:
            return result
        try:
            return self.open(name).probe()
        except BackendError as error:
            return ProbeResult(name, False, reason=error.summary,
                               install_hint=getattr(error, "install_hint", ""))

    def open(self, name: str) -> Backend:
        """The backend `name`, opened once; BackendUnavailable says why not and how to fix it."""
        with self._lock:
            if name in self._opened:
                return self._opened[name]
        result = self.probe(name)
        if not result.available:
            raise BackendUnavailable(f"{self.display_name(name)} is not available: "
                                     f"{result.reason}", install_hint=result.install_hint)
        package = self._package(kind_of(name))
        assert package is not None  # probe() said it is there
        host = self.settings.host(name)
        backend: Backend = (package.open_backend(self.settings) if host is None
                            else package.open_remote(host, self.settings))
        with self._lock:
            return self._opened.setdefault(name, backend)

    def forget(self, name: str) -> Backend | None:
        """Stop reusing the opened backend of `name` (after its host's settings changed or
        the user disconnected); the caller closes what is returned, off the GUI thread."""
        with self._lock:
            return self._opened.pop(name, None)

    def test_host(self, host: HostConfig, password: str | None = None) -> Diagnosis:
        """"Test connection": reach `host` step by step (DNS, TCP, TLS, authentication, the
        hypervisor, the user's rights) and say which step failed and how to fix it. With no
        `password`, the keyring's is used. Contacts the host: never on the GUI thread."""
        package = self._package(host.kind) if host.kind in self._known else None
        if package is None or not hasattr(package, "test_connection"):
            raise BackendUnavailable(f"This build of DesktopVM cannot connect to {host.kind} "
                                     "hosts")
        diagnosis: Diagnosis = package.test_connection(host, self.settings, password)
        return diagnosis

    def doctor(self, name: str) -> list[Check]:
        """`desktopvm-cli doctor`: what is wrong with connection `name` and how to fix it (the
        package's doctor_checks; for a remote host, Test connection's steps first). Runs tools
        and contacts hosts: never on the GUI thread."""
        host = self.settings.host(name)
        package = self._package(kind_of(name)) if kind_of(name) in self._known else None
        if package is None or not hasattr(package, "doctor_checks"):
            return []
        if host is None:
            return list(package.doctor_checks(self.settings))
        diagnosis = self.test_host(host)
        checks = list(diagnosis.checks)
        return checks + list(package.doctor_checks(self.settings, self.open(name))) \
            if diagnosis.ok else checks

    def list_machines(self, name: str) -> list[MachineSummary]:
        """The machines of one connection, recording its state; a host that is waiting out a
        back-off, or that the user disconnected, is not contacted (its failure is raised)."""
        if self.monitor.disconnected(name):
            raise BackendUnavailable(f"{self.display_name(name)}: disconnected; connect "
                                     "again to see its machines")
        if not is_remote(name):  # a local tool is asked every time: no back-off to wait out
            return self.open(name).list_machines()
        return self.monitor.guarded(name, lambda: self.open(name).list_machines())

    def list_everything(self) -> Listing:
        """Every connection's machines (the local backends that are here, every host added
        but not disconnected), one host's failure never stopping the others. May block."""
        machines: dict[str, list[MachineSummary]] = {}
        failures: dict[str, BackendError] = {}
        for name in self.names():
            if not is_remote(name) and not self.probe(name).available:
                continue
            if self.monitor.disconnected(name):
                continue
            try:
                machines[name] = self.list_machines(name)
            except BackendError as error:
                failures[name] = error
        return Listing(machines, failures)

    def available(self) -> list[Backend]:
        """Every local backend usable here and every added host the user has not
        disconnected (a remote host is not contacted: its backend may fail when used)."""
        result = []
        for name in self.names():
            if self.monitor.disconnected(name):
                continue
            try:
                result.append(self.open(name))
            except BackendUnavailable:
                continue
        return result


def split_reference(reference: str, backend_names: list[str]) -> tuple[str, str]:
    """'qemu:web' -> ('qemu', 'web'); 'hyperv@hv01:web' -> ('hyperv@hv01', 'web');
    'web' -> ('', 'web'). Only known connection ids count as a prefix (the longest wins:
    a host id may itself hold a ':' for its port)."""
    for prefix in sorted(backend_names, key=len, reverse=True):
        if reference.startswith(prefix + ":") and len(reference) > len(prefix) + 1:
            return prefix, reference[len(prefix) + 1:]
    return "", reference


@dataclass(frozen=True)
class Listing:
    """One inventory pass over every connection: machines per connection that answered,
    the failure of each that did not (skipped ones included, with why)."""

    machines: dict[str, list[MachineSummary]]
    failures: dict[str, BackendError]


def resolve_machine(registry: Registry, reference: str) -> tuple[Backend, MachineSummary]:
    """Find a machine by id or name, optionally prefixed 'BACKEND:'.

    An exact id wins over a name; a name that several backends share is ambiguous and the
    error lists the `BACKEND:NAME` forms to use.
    """
    wanted_backend, key = split_reference(reference, registry.names())
    backends = [registry.open(wanted_backend)] if wanted_backend else registry.available()
    by_id: list[tuple[Backend, MachineSummary]] = []
    by_name: list[tuple[Backend, MachineSummary]] = []
    failures: list[str] = []
    for backend in backends:
        try:
            machines = backend.list_machines()
        except BackendError as error:
            failures.append(f"{backend.display_name}: {error.summary}")
            continue
        by_id += [(backend, m) for m in machines if m.id == key]
        by_name += [(backend, m) for m in machines if m.name == key]
    matches = by_id or by_name
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        choices = ", ".join(f"{b.name}:{m.id}" for b, m in matches)
        raise MachineNotFound(f"{reference!r} is ambiguous; say which: {choices}")
    where = f" ({'; '.join(failures)})" if failures else ""
    if not backends:
        raise MachineNotFound(f"No machine {reference!r}: no backend is available here")
    raise MachineNotFound(f"No machine {reference!r}{where}")
