"""The conformance suite against a real VirtualBox: `pytest -m live_virtualbox` on a host with it.

Deselected by default (pyproject's addopts). The suite's own test functions are collected
here with this module's `harness` fixture, so nothing of tests/conformance is duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.virtualbox.harness import virtualbox_live_harness
from tests.conformance import test_conformance as suite
from tests.conformance.harness import Harness

pytestmark = [pytest.mark.live_virtualbox, pytest.mark.slow]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """A real VirtualBox; every machine the test made is removed afterwards."""
    with virtualbox_live_harness(tmp_path) as live:
        yield live
        suite._remove_all(live.backend)


globals().update({name: test for name, test in vars(suite).items()
                  if name.startswith("test_") and callable(test)})
