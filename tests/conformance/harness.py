"""What the conformance suite needs from a backend under test, and the registry of harnesses.

A backend issue plugs in by adding a factory to HARNESSES (with its markers): the factory
yields a Harness around a fresh backend whose machines live under the given folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktopvm.model import MachineSpec
from desktopvm.protocol import Backend, PowerState
from tests.doubles.memory_backend import MemoryBackend


@dataclass
class Harness:
    """A backend under test plus what the suite needs to drive it."""

    backend: Backend
    make_spec: Callable[[str], MachineSpec]  # a spec this backend can create (and boot)
    wait_until_guest_ready: Callable[[str], None]  # the guest reacts to ACPI after this
    state_timeout: float = 30.0
    # Every machine a test makes is named with this prefix (tests/conformance/live.py): a live
    # run deletes only machines that carry it.
    prefix: str = "dvmtest-"

    def name(self, label: str) -> str:
        """The name of a machine a test makes: the harness prefix, then `label`."""
        return self.prefix + label

    def wait_for_state(self, machine_id: str, wanted: PowerState,
                       timeout: float | None = None) -> None:
        """Poll the backend until the machine reaches `wanted` (fails the test on timeout)."""
        deadline = time.monotonic() + (timeout or self.state_timeout)
        state = self.backend.get_machine(machine_id).state
        while state is not wanted:
            if time.monotonic() > deadline:
                pytest.fail(f"machine {machine_id} stayed {state.value}, expected {wanted.value}")
            time.sleep(0.05)
            state = self.backend.get_machine(machine_id).state


HarnessFactory = Callable[[Path], AbstractContextManager[Harness]]


@contextmanager
def memory_harness(folder: Path) -> Iterator[Harness]:
    """The in-memory reference backend (checks the suite itself)."""
    from desktopvm.model import defaults_for

    backend = MemoryBackend(folder)

    def make_spec(name: str) -> MachineSpec:
        return defaults_for("other-linux", backend.capabilities(), name=name)

    yield Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None)


@contextmanager
def qemu_harness(folder: Path) -> Iterator[Harness]:
    """Real QEMU (TCG) booting the test guest ISO."""
    from backends.qemu.backend import QemuBackend
    from desktopvm.settings import Settings
    from tests.backends.qemu.guest import guest_spec, wait_until_ready
    from tests.guest.build_iso import build_test_iso

    iso = build_test_iso()
    backend = QemuBackend(Settings(library_dir=str(folder / "library"), qemu_accel="tcg"))
    yield Harness(backend, lambda name: guest_spec(name, iso),
                  wait_until_guest_ready=lambda machine_id: wait_until_ready(backend, machine_id),
                  state_timeout=60.0)


@contextmanager
def hyperv_replay_harness(folder: Path) -> Iterator[Harness]:
    """Hyper-V over the PowerShell double (replay mode)."""
    from tests.backends.hyperv.harness import hyperv_replay_harness as factory

    with factory(folder) as harness:
        yield harness


@contextmanager
def virtualbox_replay_harness(folder: Path) -> Iterator[Harness]:
    """VirtualBox over the VBoxManage double (replay mode)."""
    from tests.backends.virtualbox.harness import virtualbox_replay_harness as factory

    with factory(folder) as harness:
        yield harness


# name -> (factory, marks). Backends add themselves here.
HARNESSES: dict[str, tuple[HarnessFactory, list[pytest.MarkDecorator]]] = {
    "memory": (memory_harness, []),
    "qemu": (qemu_harness, [pytest.mark.qemu, pytest.mark.slow]),
    "hyperv-replay": (hyperv_replay_harness, []),
    "virtualbox-replay": (virtualbox_replay_harness, []),
}
