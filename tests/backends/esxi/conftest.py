"""Fixtures for the ESXi backend's tests: one simulator per kind per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backends.esxi import open_remote
from backends.esxi.backend import EsxiBackend
from desktopvm.testing.doubles.esxi import sim


def _started(tmp_path_factory: pytest.TempPathFactory, label: str, *options: str) \
        -> Iterator[sim.Sim]:
    reason = sim.missing_reason()
    if reason:
        pytest.skip(reason)
    running = sim.start(tmp_path_factory.mktemp(label), *options)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def esx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A standalone ESXi host (vcsim's ESX model: two machines, one datastore)."""
    yield from _started(tmp_path_factory, "vcsim-esx")


@pytest.fixture(scope="session")
def vpx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A vCenter (vcsim's VPX model: a cluster of three hosts and a standalone host, eight
    machines per resource pool)."""
    yield from _started(tmp_path_factory, "vcsim-vpx", "-vpx", "-vm", "8")


@pytest.fixture(scope="session")
def free_esx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A standalone ESXi host on the free licence: every change refused (RestrictedVersion)."""
    yield from _started(tmp_path_factory, "vcsim-free", "-free")


@pytest.fixture
def esx_backend(esx: sim.Sim) -> Iterator[EsxiBackend]:
    backend = open_remote(esx.host(), password=sim.PASSWORD)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def vpx_backend(vpx: sim.Sim) -> Iterator[EsxiBackend]:
    backend = open_remote(vpx.host(), password=sim.PASSWORD)
    try:
        yield backend
    finally:
        backend.close()
