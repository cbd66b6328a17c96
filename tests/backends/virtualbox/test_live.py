"""The conformance suite against a real VirtualBox, on a host with it:

    .venv/bin/python -m pytest --live-virtualbox -m live_virtualbox tests/backends/virtualbox

Skipped without --live-virtualbox whatever -m says (tests/conftest.py). The tests name their
machines with the prefix (--live-prefix, default dvmtest-) and delete only the machines they
made; a host with other machines is refused unless --live-prefix says which prefix is the
tests' (tests/conformance/live.py). The suite's own test functions are collected here with
this module's `harness` fixture, so nothing of tests/conformance is duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.virtualbox.harness import virtualbox_live_harness
from tests.conformance import test_conformance as suite
from tests.conformance.harness import Harness
from tests.conformance.live import live_options

pytestmark = [pytest.mark.live_virtualbox, pytest.mark.slow]


@pytest.fixture
def harness(tmp_path: Path, pytestconfig: pytest.Config) -> Iterator[Harness]:
    """A real VirtualBox; only the machines the test made are removed afterwards."""
    with virtualbox_live_harness(tmp_path, live_options(pytestconfig)) as live:
        yield live


globals().update({name: test for name, test in vars(suite).items()
                  if name.startswith("test_") and callable(test)})
