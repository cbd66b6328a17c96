"""Fixtures for the VirtualBox tests: sample data, and the VBoxManage double per version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from tests.conftest import DATA

SAMPLES = DATA / "vboxmanage"


def sample(relative: str) -> str:
    """Text of tests/data/vboxmanage/<relative> (samples written for these tests)."""
    return (SAMPLES / relative).read_text(encoding="utf-8")


@pytest.fixture
def fake(tmp_path: Path) -> FakeVBox:
    """A fake VirtualBox 7.0."""
    return FakeVBox(tmp_path / "vbox", "7.0")


@pytest.fixture
def backend(fake: FakeVBox) -> Iterator[VirtualBoxBackend]:
    """The backend over the 7.0 double."""
    yield fake.backend()


@pytest.fixture(params=["6.1", "7.0", "7.1", "7.2"])
def versioned(request: pytest.FixtureRequest, tmp_path: Path) -> FakeVBox:
    """The double, once per supported VirtualBox series."""
    return FakeVBox(tmp_path / "vbox", request.param)
