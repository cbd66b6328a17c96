"""Suite-wide fixtures: an isolated DESKTOPVM_HOME per test, offscreen Qt, the fixtures folder,
and the options that alone let live tests (real hypervisors) run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never use KVM: on some hosts /dev/kvm opens but guests die after a minute.
os.environ.setdefault("DESKTOPVM_QEMU_ACCEL", "tcg")

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
DATA = Path(__file__).resolve().parent / "data"

# marker -> the option without which its tests are skipped (they create and delete machines in
# the user's own hypervisor: never by accident, whatever -m selects).
LIVE_OPTIONS = {"live_virtualbox": "--live-virtualbox", "live_hyperv": "--live-hyperv",
                "live_vmware": "--live-vmware", "live_esxi": "--live-esxi"}
LIVE_WHERE = {"live_virtualbox": "this computer's VirtualBox",
              "live_hyperv": "this computer's Hyper-V",
              "live_vmware": "this computer's VMware Workstation or Fusion",
              "live_esxi": "the ESXi host or vCenter named by DESKTOPVM_ESXI_HOST"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("live", "live tests (they create and delete machines in a real "
                                    "hypervisor; see tests/conformance/live.py)")
    group.addoption("--live-virtualbox", action="store_true", default=False,
                    help="run the live_virtualbox tests (with -m live_virtualbox)")
    group.addoption("--live-hyperv", action="store_true", default=False,
                    help="run the live_hyperv tests (with -m live_hyperv)")
    group.addoption("--live-vmware", action="store_true", default=False,
                    help="run the live_vmware tests (with -m live_vmware)")
    group.addoption("--live-esxi", action="store_true", default=False,
                    help="run the live_esxi tests (with -m live_esxi; docs/esxi.md)")
    group.addoption("--live-prefix", default=None, metavar="PREFIX",
                    help="the live tests name their machines PREFIX… (default dvmtest-) and "
                         "delete only those they made; giving it also lets them run on a host "
                         "that has other machines")


def pytest_configure(config: pytest.Config) -> None:
    prefix = config.getoption("--live-prefix")
    if prefix is not None:
        from tests.conformance.live import prefix_problem

        problem = prefix_problem(str(prefix))
        if problem:
            raise pytest.UsageError(f"--live-prefix={prefix!r}: {problem}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, option in LIVE_OPTIONS.items():
            if item.get_closest_marker(marker) and not config.getoption(option):
                item.add_marker(pytest.mark.skip(reason=(
                    f"live test: it creates and deletes machines in {LIVE_WHERE[marker]}; "
                    f"run it only on purpose, with {option} -m {marker}")))


@pytest.fixture(autouse=True)
def desktopvm_home(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty state root."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DESKTOPVM_HOME", str(home))
    return home


@pytest.fixture
def shared_fixtures() -> Path:
    """Real captured outputs from public projects (../shared/fixtures), or skip."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real captured outputs not found at {SHARED_FIXTURES} (../shared/fixtures)")
    return SHARED_FIXTURES
