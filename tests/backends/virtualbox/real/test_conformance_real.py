"""The whole conformance suite against the real VBoxManage 7.2 (marker `real_virtualbox`).

The suite's own test functions are collected here with this module's `harness` fixture, as
test_live.py does for a host with VirtualBox. What needs a running VM skips at the moment the
real `startvm` fails for want of the kernel driver (naming the live_virtualbox suite); every
step before it ran against the real tool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.model import MachineSpec, defaults_for
from desktopvm.protocol import BackendError, CancelToken, StartMode, no_progress
from tests.backends.virtualbox.real.realvbox import LIVE_REASON, RealVBox
from tests.conformance import test_conformance as suite
from tests.conformance.harness import Harness


class OfflineVirtualBox(VirtualBoxBackend):
    """The real backend; a start VirtualBox cannot do here skips the test instead of failing."""

    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        try:
            super().start(machine_id, mode=mode)
        except BackendError as error:
            if "vboxdrv" not in error.summary:
                raise  # any other failure is a finding
            pytest.skip(f"{LIVE_REASON} ({error.summary})")


@pytest.fixture
def harness(real_vbox: RealVBox, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The real VBoxManage 7.2; machines are removed afterwards, then VBoxSVC is ended."""
    suite.apply_known_defects(request, "virtualbox-real")
    backend = OfflineVirtualBox(real_vbox.backend().settings)

    def make_spec(name: str) -> MachineSpec:
        return defaults_for("other-linux", backend.capabilities(), name=name)

    real = Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None,
                   state_timeout=10.0)
    if "owned" in {f.name for f in dataclasses.fields(Harness)}:
        # where VirtualBox makes this test's machines and disks (not its settings folder,
        # where VBoxSVC keeps logs and registry backups)
        real = dataclasses.replace(real, owned=(real_vbox.machine_folder,))
    yield real
    remove_all(backend)  # every machine of this private VirtualBox is the test's own


def remove_all(backend: VirtualBoxBackend) -> None:
    """Delete every machine with its disks (the real tool's delete path, at every teardown);
    newest first, so linked clones go before the machine whose disk they hang from."""
    for machine in reversed(backend.list_machines()):
        backend.delete(machine.id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())


globals().update({name: test for name, test in vars(suite).items()
                  if name.startswith("test_") and callable(test)})
