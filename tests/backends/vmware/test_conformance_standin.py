"""The shared conformance suite against the VMware backend over the vmrun stand-in.

The suite's own test functions are collected here with this module's `harness` fixture (as
tests/backends/virtualbox/real/test_conformance_real.py does), so nothing of
tests/conformance is duplicated. What the stand-in cannot prove is a strict xfail or a skip
that names why (STANDIN_LIMITS).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.vmware.harness import vmware_standin_harness
from tests.conformance import test_conformance as suite
from tests.conformance.harness import Harness
from tests.conformance.live import remove_own

HARNESS_NAME = "vmware-standin"

#: Tests the stand-in cannot make meaningful, with the reason (a strict xfail each).
STANDIN_LIMITS: dict[str, str] = {}


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    suite.apply_known_defects(request, HARNESS_NAME)
    limit = STANDIN_LIMITS.get(getattr(request.node, "originalname", ""))
    if limit:
        request.applymarker(pytest.mark.xfail(strict=True, reason=limit))
    with vmware_standin_harness(tmp_path) as harness:
        before = {m.id for m in harness.backend.list_machines()}
        yield harness
        strays = [m.name for m in harness.backend.list_machines()
                  if m.id not in before and not m.name.startswith(harness.prefix)]
        remove_own(harness.backend, harness.prefix, before)
        assert not strays, f"the test made machines without the harness prefix: {strays}"


globals().update({name: test for name, test in vars(suite).items()
                  if name.startswith("test_") and callable(test)})
