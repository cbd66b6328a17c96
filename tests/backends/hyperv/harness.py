"""Conformance harnesses for Hyper-V: replay (the real backend over the PowerShell double), and
live (a real Hyper-V host, guarded by tests/conformance/live.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.locate import find_powershell
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import MachineSpec, defaults_for
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost, environment
from tests.conformance.harness import Harness
from tests.conformance.live import LiveOptions, live_session


@contextmanager
def hyperv_replay_harness(folder: Path) -> Iterator[Harness]:
    """HyperVBackend driving the fake Hyper-V through real PowerShell sessions (the double)."""
    host = FakeHost(folder / "hyperv-host")
    with environment(host):
        backend = HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                                metadata=MetadataStore("localhost", folder / "hyperv-metadata"))

        def make_spec(name: str) -> MachineSpec:
            return defaults_for("debian12", backend.capabilities(), name=name)

        try:
            yield Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None,
                          state_timeout=10.0)
        finally:
            backend.close()


@contextmanager
def hyperv_live_harness(options: LiveOptions, *, backend: HyperVBackend | None = None
                        ) -> Iterator[Harness]:
    """A real Hyper-V host (tests marked live_hyperv, run with --live-hyperv), guarded: refused
    on a host with machines the tests did not make unless --live-prefix names theirs; afterwards
    only the machines the test made (named with the prefix) are removed.

    `backend` replaces the real host (the guard's own test passes one over the double).
    """
    if backend is None:
        if sys.platform != "win32" and not os.environ.get("DESKTOPVM_POWERSHELL"):
            pytest.skip("needs Windows with Hyper-V")
        executable = find_powershell()
        assert executable, "no PowerShell found"
        backend = HyperVBackend(lambda: LocalProcessChannel(executable))
        probe = backend.probe()
        assert probe.available, f"{probe.reason} ({probe.install_hint})"
    live = backend

    def make_spec(name: str) -> MachineSpec:
        return defaults_for("other-linux", live.capabilities(), name=name)

    harness = Harness(live, make_spec, wait_until_guest_ready=lambda machine_id: None,
                      state_timeout=120.0)
    try:
        with live_session(harness, options) as guarded:
            yield guarded
    finally:
        live.close()
