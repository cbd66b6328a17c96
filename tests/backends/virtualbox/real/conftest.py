"""Fixtures for the real VirtualBox 7.2: the root (per session), a private VirtualBox per test.

Every test here is marked `real_virtualbox`. Without the root (a machine without apt, or
before `.ci/virtualbox-root` ran) they skip with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from tests.backends.virtualbox.real.realvbox import RealVBox, root_problem

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `real_virtualbox`."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.real_virtualbox)


@pytest.fixture(scope="session")
def vbox_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RealVBox]]:
    """The root is usable (else skip); at session end no VBoxSVC of ours is left running."""
    problem = root_problem()
    if problem:
        pytest.skip(problem)
    started: list[RealVBox] = []
    yield started
    for vbox in started:
        vbox.stop()


@pytest.fixture
def real_vbox(vbox_session: list[RealVBox], tmp_path: Path, tmp_path_factory:
              pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[RealVBox]:
    """A private real VirtualBox for this test, its environment set for the backend's door."""
    vbox = RealVBox(tmp_path / "real-vbox", tmp_path_factory.getbasetemp())
    for name, value in vbox.environment().items():
        monkeypatch.setenv(name, value)
    vbox_session.append(vbox)
    vbox.start()
    yield vbox
    vbox.stop()
    vbox_session.remove(vbox)


@pytest.fixture
def real_backend(real_vbox: RealVBox) -> VirtualBoxBackend:
    """The backend over the real VBoxManage 7.2."""
    return real_vbox.backend()
