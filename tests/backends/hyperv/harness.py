"""The conformance harness for Hyper-V in replay mode: the real backend over the double."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import MachineSpec, defaults_for
from tests.backends.hyperv.double import FAKE_POWERSHELL, FakeHost, environment
from tests.conformance.harness import Harness


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
