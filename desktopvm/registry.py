"""Finds which backends this machine has, opens them, and resolves machine names to backends.

Each backend lives in `backends/<name>/`. Its package `__init__` must stay light: it
offers `detect(settings) -> ProbeResult` (is the tool there? no heavy imports) and
`open_backend(settings) -> Backend` (imports the real code). A backend package that is not
part of this build is reported as such without importing anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from dataclasses import dataclass
from types import ModuleType

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
)


class Registry:
    """The backends of this machine. Thread-safe; backends are opened once and reused."""

    def __init__(self, settings: Settings | None = None,
                 known: tuple[KnownBackend, ...] = KNOWN_BACKENDS) -> None:
        self.settings = settings or Settings()
        self._known = {k.name: k for k in known}
        self._opened: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def with_settings(self, settings: Settings) -> Registry:
        """A new registry of the same backends that opens them with `settings`."""
        return Registry(settings, tuple(self._known.values()))

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
        """Names of all known backends."""
        return list(self._known)

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
        """Whether backend `name` is usable here (cheap: the package's detect())."""
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
            display = self._known[name].display_name if name in self._known else name
            raise BackendUnavailable(f"{display} is not available: {result.reason}",
                                     install_hint=result.install_hint)
        package = self._package(name)
        assert package is not None  # probe() said it is there
        backend: Backend = package.open_backend(self.settings)
        with self._lock:
            return self._opened.setdefault(name, backend)

    def available(self) -> list[Backend]:
        """Every backend that is usable here."""
        result = []
        for name in self._known:
            try:
                result.append(self.open(name))
            except BackendUnavailable:
                continue
        return result


def split_reference(reference: str, backend_names: list[str]) -> tuple[str, str]:
    """'qemu:web' -> ('qemu', 'web'); 'web' -> ('', 'web'). Only known names count as a prefix."""
    prefix, sep, rest = reference.partition(":")
    if sep and prefix in backend_names and rest:
        return prefix, rest
    return "", reference


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
