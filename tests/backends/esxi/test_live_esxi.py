"""The conformance suite against a real ESXi host or vCenter, for anyone who has one.

Opt-in twice over, because it creates and deletes machines on that host:

    DESKTOPVM_ESXI_HOST=esx01.lab.example DESKTOPVM_ESXI_PASSWORD=... \\
        .venv/bin/python -m pytest --live-esxi -m live_esxi tests/backends/esxi

`-m live_esxi` selects it and `--live-esxi` lets it run (tests/conftest.py); without both it
is skipped. The host is given by environment variables (never on the command line's history
for the password if you export it from a file or a prompt):

- DESKTOPVM_ESXI_HOST (required), DESKTOPVM_ESXI_PORT (default 443),
  DESKTOPVM_ESXI_USER (default root), DESKTOPVM_ESXI_PASSWORD (required);
- trust: DESKTOPVM_ESXI_CA_FILE (a PEM CA file) or DESKTOPVM_ESXI_SHA256 (the certificate's
  SHA-256 to pin, as the app's fingerprint dialog does); neither: the system trust store;
- DESKTOPVM_ESXI_NETWORK: the port group the tests' machines use (default: the first).

The tests name their machines with the prefix (`--live-prefix`, default `dvmtest-`) and delete
only the machines they made; a host with other machines is refused unless `--live-prefix` says
which prefix is the tests' (tests/conformance/live.py). docs/esxi.md has the steps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backends.esxi import open_remote
from desktopvm.connections import HostConfig
from desktopvm.model import MachineSpec, defaults_for
from tests.backends.esxi.test_conformance_vcsim import SKIPS
from tests.conformance import test_conformance as suite
from tests.conformance.harness import Harness
from tests.conformance.live import live_options, live_session

pytestmark = [pytest.mark.live_esxi, pytest.mark.slow]
#: What a real host cannot show with the suite's machines (no guest OS, so no VMware Tools),
#: and the tests that look for leftover files in folders on this computer: a real host's
#: datastore is not one (on vcsim, whose datastore is, test_conformance_vcsim.py runs them).
NOT_LOCAL = ("it checks what an operation leaves in folders on this computer; a real host's "
             "datastore is not one (test_conformance_vcsim.py runs it, on vcsim's datastore)")
LIVE_SKIPS = {**SKIPS,
              "test_acpi_shutdown_reaches_off": "guest shutdown needs VMware Tools, and the "
                                                "suite's machines run no guest OS on ESXi",
              **dict.fromkeys((
                  "test_clone_cancelled_midway_leaves_nothing_behind",
                  "test_create_cancelled_before_start",
                  "test_create_cancelled_midway_leaves_nothing_behind",
                  "test_every_operation_on_an_unknown_machine_is_machine_not_found",
                  "test_import_cancelled_midway_leaves_nothing_behind",
                  "test_linked_clone_cancelled_midway_leaves_nothing_and_the_source_as_it_was",
                  "test_what_it_cannot_do_is_unsupported_and_makes_nothing"), NOT_LOCAL)}


def live_host() -> tuple[HostConfig, str]:
    """The host the environment names, and its password (skips when none is named)."""
    address = os.environ.get("DESKTOPVM_ESXI_HOST", "")
    password = os.environ.get("DESKTOPVM_ESXI_PASSWORD", "")
    if not address or not password:
        pytest.skip("no live ESXi host: set DESKTOPVM_ESXI_HOST and DESKTOPVM_ESXI_PASSWORD "
                    "(docs/esxi.md, 'Running the suite on a real host')")
    host = HostConfig(kind="esxi", address=address,
                      port=int(os.environ.get("DESKTOPVM_ESXI_PORT", "0") or 0),
                      username=os.environ.get("DESKTOPVM_ESXI_USER", "root"),
                      ca_file=os.environ.get("DESKTOPVM_ESXI_CA_FILE", ""),
                      pinned_sha256=os.environ.get("DESKTOPVM_ESXI_SHA256", "").lower())
    return host, password


@pytest.fixture
def harness(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The real host; only the machines the test made are removed afterwards."""
    reason = LIVE_SKIPS.get(getattr(request.node, "originalname", ""))
    if reason:
        pytest.skip(reason)
    suite.apply_known_defects(request, "esxi-live")
    host, password = live_host()
    backend = open_remote(host, password=password)
    try:
        probe = backend.probe()
        if not probe.available:
            pytest.fail(f"{host.address}: {probe.reason}", pytrace=False)
        if backend.read_only:
            pytest.skip(f"{host.address} is on the free licence: it refuses every change")
        facts = backend.facts()
        network = os.environ.get("DESKTOPVM_ESXI_NETWORK", "") or next(iter(facts.networks))

        def make_spec(name: str) -> MachineSpec:
            spec = defaults_for("other-linux", backend.capabilities(), name=name)
            return spec.model_copy(update={"network": tuple(
                a.model_copy(update={"network": network}) for a in spec.network)})

        harness = Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None,
                          state_timeout=120.0)
        with live_session(harness, live_options(pytestconfig)) as guarded:
            yield guarded
    finally:
        backend.close()


globals().update({name: test for name, test in vars(suite).items()
                  if name.startswith("test_") and callable(test)})
