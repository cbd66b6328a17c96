"""The conformance harness for VMware: the real backend and door over the vmrun stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from desktopvm.model import MachineSpec, defaults_for
from desktopvm.testing.doubles.vmware.standin import FakeVMware

if TYPE_CHECKING:
    from tests.conformance.harness import Harness


@contextmanager
def vmware_standin_harness(folder: Path) -> Iterator[Harness]:
    """Machines live under `folder` (the fake user's home); the stand-in's own files too. Each
    start brings up the stand-in's picture VNC server, which records the keys it gets."""
    from tests.conformance.harness import Harness

    fake = FakeVMware(folder / "fake-vmware")
    backend = fake.backend()

    def make_spec(name: str) -> MachineSpec:
        return defaults_for("other-linux", backend.capabilities(), name=name)

    def delivered() -> int:  # key presses that reached the machine's VNC server (fakevnc.py)
        return sum(1 for event in fake.vnc_keys() if event["down"])

    try:
        yield Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None,
                      state_timeout=10.0, owned=(fake.home,), keys_delivered=delivered)
    finally:
        fake.close()
