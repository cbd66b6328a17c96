"""What the conformance suite needs from a backend under test, and the registry of harnesses.

A backend issue plugs in by adding a factory to HARNESSES (with its markers): the factory
yields a Harness around a fresh backend whose machines live under the given folder.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktopvm.model import MachineSpec
from desktopvm.protocol import Backend, PowerState
from desktopvm.testing.doubles.memory_backend import MemoryBackend


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
    # The folders the backend under test makes its files in (machines, disks, scratch): after
    # a cancelled or refused operation nothing new may be left there (owned_files()).
    owned: tuple[Path, ...] = ()
    # How many keyboard deliveries (key combinations or text runs) reached the hypervisor so
    # far, where the harness can see them; None where it cannot (real QEMU: QMP only).
    keys_delivered: Callable[[], int] | None = None
    # Names of files the backend keeps for itself wherever it works and never removes on its
    # own (QEMU's empty lock files, which must stay for flock to be safe): not leftovers.
    bookkeeping: tuple[str, ...] = ()

    def owned_files(self) -> set[Path]:
        """Every file and folder under the harness's owned folders (fails if it names none)."""
        assert self.owned, ("the harness names no folders it owns (Harness.owned): the suite "
                            "could not see what an operation leaves behind")
        found: set[Path] = set()
        for root in self.owned:
            if root.exists():
                found.update(p for p in root.rglob("*") if p.name not in self.bookkeeping)
        return found

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

    yield Harness(backend, make_spec, wait_until_guest_ready=lambda machine_id: None,
                  owned=(folder,), keys_delivered=lambda: len(backend.typed))


@contextmanager
def qemu_harness(folder: Path) -> Iterator[Harness]:
    """Real QEMU (TCG) booting the test guest ISO."""
    from backends.qemu.backend import QemuBackend
    from desktopvm.settings import Settings
    from desktopvm.testing.guest.build_iso import build_test_iso
    from desktopvm.testing.qemu_guest import guest_spec, wait_until_ready

    iso = build_test_iso()
    library = folder / "library"
    library.mkdir()  # the library folder stays once made, like a hypervisor's machine folder
    backend = QemuBackend(Settings(library_dir=str(library), qemu_accel="tcg"))
    yield Harness(backend, lambda name: guest_spec(name, iso),
                  wait_until_guest_ready=lambda machine_id: wait_until_ready(backend, machine_id),
                  state_timeout=60.0, owned=(folder,), bookkeeping=(".lock",))


@contextmanager
def hyperv_replay_harness(folder: Path) -> Iterator[Harness]:
    """Hyper-V over the PowerShell double (replay mode)."""
    from tests.backends.hyperv.harness import hyperv_replay_harness as factory

    state_file = folder / "hyperv-host" / "hyperv-state.json"  # doubles/hyperv/double.py

    def delivered() -> int:
        return len(json.loads(state_file.read_text("utf-8"))["typed"])

    with factory(folder) as harness:
        # A Hyper-V host has its default folders for machines and disks before any machine.
        host = json.loads(state_file.read_text("utf-8"))["host"]
        for key in ("VirtualMachinePath", "VirtualHardDiskPath"):
            Path(host[key]).mkdir(parents=True, exist_ok=True)
        yield dataclasses.replace(harness, owned=(folder,), keys_delivered=delivered)


@contextmanager
def hyperv_remote_harness(folder: Path) -> Iterator[Harness]:
    """Hyper-V on a remote host added as a connection: the Registry opens it from a HostConfig
    (password in a file keyring, TLS validated against the host's CA) and it talks WinRM over
    HTTPS to the loopback WS-Man server, which runs the PowerShell double. The backend is the
    connection `hyperv@127.0.0.1:PORT`, so the suite proves every operation per connection."""
    import os

    from desktopvm import credentials
    from desktopvm.connections import HostConfig
    from desktopvm.model import defaults_for
    from desktopvm.registry import Registry
    from desktopvm.settings import Settings
    from desktopvm.testing.doubles.certs import make_tls
    from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
    from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running
    from tests.keyring_fixture import temporary_keyring

    fake = FakeHost(folder / "hyperv-host")
    tls = make_tls(folder / "tls")
    password = "conformance 'pa$$'"
    server = WinRMTestServer(auth="basic", user="tester", password=password,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key), env=fake.environment)
    saved = os.environ.get("DESKTOPVM_WINRM_TIMEOUTS")
    os.environ["DESKTOPVM_WINRM_TIMEOUTS"] = "2,10"
    try:
        with temporary_keyring(folder / "keyring"), running(server):
            host = HostConfig("hyperv", "127.0.0.1", port=server.port, username="tester",
                              auth="basic", ca_file=str(tls.ca))
            credentials.store_password(host, password)
            registry = Registry(Settings().with_host(host))
            backend = registry.open(host.id)
            state = fake.state()["host"]
            for key in ("VirtualMachinePath", "VirtualHardDiskPath"):
                Path(state[key]).mkdir(parents=True, exist_ok=True)

            def make_spec(name: str) -> MachineSpec:
                return defaults_for("debian12", backend.capabilities(), name=name)

            def delivered() -> int:
                return len(fake.state()["typed"])

            try:
                yield Harness(backend, make_spec, wait_until_guest_ready=lambda _id: None,
                              state_timeout=10.0, owned=(fake.folder,),
                              keys_delivered=delivered)
            finally:
                registry.close()
    finally:
        if saved is None:
            os.environ.pop("DESKTOPVM_WINRM_TIMEOUTS", None)
        else:
            os.environ["DESKTOPVM_WINRM_TIMEOUTS"] = saved


@contextmanager
def virtualbox_replay_harness(folder: Path) -> Iterator[Harness]:
    """VirtualBox over the VBoxManage double (replay mode)."""
    from tests.backends.virtualbox.harness import virtualbox_replay_harness as factory

    calls = folder / "fake-virtualbox" / "calls.jsonl"  # doubles/virtualbox/double.py
    keyboard = {"keyboardputscancode", "keyboardputstring"}

    def delivered() -> int:
        lines = calls.read_text("utf-8").splitlines() if calls.exists() else []
        return sum(1 for line in lines if keyboard & set(json.loads(line)["argv"]))

    with factory(folder) as harness:
        # VirtualBox's default machine folder is there before the first machine (and stays).
        (folder / "fake-virtualbox" / "VirtualBox VMs").mkdir(parents=True, exist_ok=True)
        yield dataclasses.replace(harness, owned=(folder,), keys_delivered=delivered)


@contextmanager
def vmware_standin_harness(folder: Path) -> Iterator[Harness]:
    """VMware Workstation over the vmrun stand-in, with its VNC server (picture + key log)."""
    from tests.backends.vmware.harness import vmware_standin_harness as factory

    with factory(folder) as harness:
        yield harness


# name -> (factory, marks). Backends add themselves here.
HARNESSES: dict[str, tuple[HarnessFactory, list[pytest.MarkDecorator]]] = {
    "memory": (memory_harness, []),
    "qemu": (qemu_harness, [pytest.mark.qemu, pytest.mark.slow]),
    "hyperv-replay": (hyperv_replay_harness, []),
    "hyperv-remote": (hyperv_remote_harness, [pytest.mark.slow]),
    "virtualbox-replay": (virtualbox_replay_harness, []),
    # ~40 tests at 1-4 s each (a vmrun process per call, a VNC server per start)
    "vmware-standin": (vmware_standin_harness, [pytest.mark.slow]),
}
