"""The live suites cannot hurt anyone: they run only when asked, refuse a host with the user's
machines unless told their prefix, and delete only the machines they made.

Proved on the live harnesses themselves, pointed at the VBoxManage and PowerShell doubles
holding a user's machines (with their disks), and on `pytest` run as a user would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import MachineSpec, defaults_for
from desktopvm.protocol import Backend, CancelToken, no_progress
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost, environment
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from tests.backends.hyperv.harness import hyperv_live_harness
from tests.backends.virtualbox.harness import virtualbox_live_harness
from tests.conformance import test_conformance as suite
from tests.conformance.harness import Harness
from tests.conformance.live import DEFAULT_PREFIX, LiveOptions
from tests.conftest import REPO

USERS_MACHINES = ["My Windows", f"{DEFAULT_PREFIX}mine"]  # the second even carries the prefix


def make(backend: Backend, name: str) -> tuple[str, list[Path]]:
    """A machine of the user's on the double: its id and disk files."""
    spec = defaults_for("other-linux", backend.capabilities(), name=name)
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    disks = [Path(d.path) for _, d in backend.get_machine(machine_id).spec.all_disks()]
    assert disks and all(path.exists() for path in disks)
    return machine_id, disks


def users_machines(backend: Backend) -> dict[str, list[Path]]:
    return dict(make(backend, name) for name in USERS_MACHINES)


def assert_untouched(backend: Backend, machines: dict[str, list[Path]]) -> None:
    present = {m.id for m in backend.list_machines()}
    for machine_id, disks in machines.items():
        assert machine_id in present, "the live clean-up deleted a machine of the user's"
        assert all(path.exists() for path in disks), "the live clean-up deleted a user's disk"


def run_some_of_the_suite(live: Harness) -> None:
    """Conformance tests that make machines (create, clone, rename) on the guarded harness."""
    suite.test_create_lists_the_machine_off_with_its_hardware(live)
    suite.test_full_clone_is_a_new_machine(live)
    suite.test_rename_refuses_every_name_the_rule_refuses(live)
    made = [m.name for m in live.backend.list_machines()
            if m.name.startswith(live.prefix) and m.name not in USERS_MACHINES]
    assert len(made) >= 3, made


# -- VirtualBox, over the VBoxManage double ---------------------------------------------------

@pytest.fixture
def vbox(tmp_path: Path) -> FakeVBox:
    return FakeVBox(tmp_path / "vbox")


def replay_spec(fake: FakeVBox) -> Callable[[str], MachineSpec]:
    """Specs the double can create (the real live harness boots a test guest instead)."""
    backend = fake.backend()
    return lambda name: defaults_for("other-linux", backend.capabilities(), name=name)


def test_live_virtualbox_refuses_a_host_with_the_users_machines(vbox: FakeVBox, tmp_path: Path):
    backend = vbox.backend()
    mine = users_machines(backend)
    before = backend.list_machines()
    with pytest.raises(pytest.fail.Exception, match="refusing to run live tests") as refused, \
            virtualbox_live_harness(tmp_path, LiveOptions(), backend=vbox.backend()):
        pytest.fail("the live harness ran on a host with the user's machines")
    assert "My Windows" in str(refused.value) and "--live-prefix" in str(refused.value)
    assert backend.list_machines() == before
    assert_untouched(backend, mine)


def test_live_virtualbox_removes_only_what_it_made(vbox: FakeVBox, tmp_path: Path):
    backend = vbox.backend()
    mine = users_machines(backend)
    options = LiveOptions(DEFAULT_PREFIX, prefix_given=True)
    with virtualbox_live_harness(tmp_path, options, backend=vbox.backend(),
                                 make_spec=replay_spec(vbox)) as live:
        run_some_of_the_suite(live)
    assert sorted(m.name for m in backend.list_machines()) == sorted(USERS_MACHINES)
    assert_untouched(backend, mine)


# -- Hyper-V, over the PowerShell double -------------------------------------------------------

@pytest.fixture
def hyperv(tmp_path: Path) -> Iterator[tuple[FakeHost, Path]]:
    host = FakeHost(tmp_path / "hyperv-host")
    with environment(host):
        yield host, tmp_path / "hyperv-metadata"


def hyperv_backend(metadata: Path) -> HyperVBackend:
    return HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                         metadata=MetadataStore("localhost", metadata))


def test_live_hyperv_refuses_a_host_with_the_users_machines(hyperv: tuple[FakeHost, Path]):
    backend = hyperv_backend(hyperv[1])
    try:
        mine = users_machines(backend)
        with pytest.raises(pytest.fail.Exception, match="refusing to run live tests"), \
                hyperv_live_harness(LiveOptions(), backend=hyperv_backend(hyperv[1])):
            pytest.fail("the live harness ran on a host with the user's machines")
        assert sorted(m.name for m in backend.list_machines()) == sorted(USERS_MACHINES)
        assert_untouched(backend, mine)
    finally:
        backend.close()


def test_live_hyperv_removes_only_what_it_made(hyperv: tuple[FakeHost, Path]):
    backend = hyperv_backend(hyperv[1])
    try:
        mine = users_machines(backend)
        options = LiveOptions(DEFAULT_PREFIX, prefix_given=True)
        with hyperv_live_harness(options, backend=hyperv_backend(hyperv[1])) as live:
            run_some_of_the_suite(live)
        assert sorted(m.name for m in backend.list_machines()) == sorted(USERS_MACHINES)
        assert_untouched(backend, mine)
    finally:
        backend.close()


def test_a_host_with_only_the_tests_leftovers_runs_without_being_told(vbox: FakeVBox,
                                                                       tmp_path: Path):
    backend = vbox.backend()
    leftover = dict([make(backend, f"{DEFAULT_PREFIX}mine")])  # an earlier run's, say
    with virtualbox_live_harness(tmp_path, LiveOptions(), backend=vbox.backend(),
                                 make_spec=replay_spec(vbox)) as live:
        suite.test_full_clone_is_a_new_machine(live)
    assert [m.name for m in backend.list_machines()] == [f"{DEFAULT_PREFIX}mine"]
    assert_untouched(backend, leftover)


# -- pytest as a user runs it -------------------------------------------------------------------

def run_pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *args],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, **(env or {})})


@pytest.mark.parametrize("selection", ["slow", "live_virtualbox", "live_hyperv",
                                       "live_virtualbox or live_hyperv or slow"])
def test_live_tests_are_skipped_without_their_option_whatever_m_says(selection: str):
    result = run_pytest("-m", selection, "tests/backends/virtualbox/test_live.py",
                        "tests/backends/hyperv/test_live_hyperv.py")
    output = result.stdout + result.stderr
    assert result.returncode in (0, 5), output  # 5: nothing selected
    assert " passed" not in output and " failed" not in output and "error" not in output, output
    if "skipped" in output:
        assert "run it only on purpose, with --live-" in output, output


def test_pytest_live_virtualbox_on_a_host_with_the_users_machine_refuses(vbox: FakeVBox):
    mine = users_machines(vbox.backend())
    result = run_pytest("--live-virtualbox", "-m", "live_virtualbox", "-x",
                        "tests/backends/virtualbox/test_live.py",
                        env={"DESKTOPVM_VBOXMANAGE": str(vbox.executable)})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "refusing to run live tests on VirtualBox" in output, output
    assert_untouched(vbox.backend(), mine)


def test_an_unsafe_prefix_is_a_usage_error():
    for prefix in ("", "  ", "bad\x1b["):
        result = run_pytest(f"--live-prefix={prefix}", "--collect-only",
                            "tests/conformance/test_live_guard.py")
        assert result.returncode == 4, result.stdout + result.stderr  # usage error
        assert "--live-prefix" in result.stderr
