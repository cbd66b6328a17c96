"""`desktopvm-cli doctor`: the real QEMU here, VirtualBox through the VBoxManage stand-in, Hyper-V
through the PowerShell double, and a remote host through the loopback HTTPS WinRM server."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.qemu import doctor as qemu_doctor
from desktopvm import credentials
from desktopvm.cli import main
from desktopvm.connections import HostConfig
from desktopvm.registry import KNOWN_BACKENDS, Registry
from desktopvm.settings import Settings
from desktopvm.testing.doubles.certs import TlsFiles, make_tls
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from tests.conftest import DATA
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)

KNOWN = {k.name: k for k in KNOWN_BACKENDS}
USER, PASSWORD = "tester", "Hv-s3cret-Pa55!"


def doctor(registry: Registry, *argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["doctor", *argv], registry=registry, out=out, err=err)
    assert err.getvalue() == ""
    return code, out.getvalue()


def only(name: str, settings: Settings | None = None) -> Registry:
    return Registry(settings or Settings(), known=(KNOWN[name],))


def checks_of(text: str, connection: str) -> dict[str, dict[str, Any]]:
    section = next(s for s in json.loads(text)["sections"] if s["connection"] == connection)
    return {c["name"]: c for c in section["checks"]}


# -- QEMU: the real one on this computer --------------------------------------------------------
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU is not installed")
def test_the_real_qemu_is_checked(tmp_path: Path):
    library = tmp_path / "library"
    code, text = doctor(only("qemu", Settings(library_dir=str(library))), "--json")
    found = checks_of(text, "qemu")
    assert {"QEMU", "Acceleration", "UEFI firmware", "qemu-img", "Machine library"} <= set(found)
    assert found["QEMU"]["ok"] and found["qemu-img"]["ok"]
    assert found["Machine library"]["detail"].startswith(f"{library}: ")
    assert code == (0 if all(c["ok"] for c in found.values()) else 1)
    _, plain = doctor(only("qemu", Settings(library_dir=str(library))))
    assert "QEMU\n  ok  QEMU: " in plain


def test_no_kvm_device_is_a_finding_with_its_fix(tmp_path: Path):
    if not sys.platform.startswith("linux"):
        pytest.skip("KVM is Linux's")
    check = qemu_doctor._acceleration({"kvm", "tcg"}, tmp_path / "kvm")
    assert not check.ok and "modprobe kvm_intel" in check.fix
    built_without = qemu_doctor._acceleration({"tcg"}, tmp_path / "kvm")
    assert not built_without.ok and "without KVM" in built_without.detail


# -- VirtualBox: the VBoxManage stand-in ---------------------------------------------------------
@pytest.fixture
def vbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def make(version: str) -> FakeVBox:
        fake = FakeVBox(tmp_path / f"vbox-{version}", version)
        monkeypatch.setenv("DESKTOPVM_VBOXMANAGE", str(fake.executable))
        return fake
    yield make


PACK = {"name": "Oracle VM VirtualBox Extension Pack", "version": "6.1.50r161033"}


def test_virtualbox_61_without_the_extension_pack_needs_fixing(vbox: Any):
    fake = vbox("6.1")
    code, text = doctor(only("virtualbox"), "--json")
    found = checks_of(text, "virtualbox")
    assert code == 1 and json.loads(text)["problems"] == 1
    assert found["VirtualBox version"]["detail"] == "6.1.50"
    assert not found["Extension Pack"]["ok"]
    assert "Extension Pack" in found["Extension Pack"]["fix"]
    assert found["Kernel driver (vboxdrv)"]["ok"]
    assert found["Default machine folder"]["ok"]
    fake.set(extpacks=[PACK])
    code, text = doctor(only("virtualbox"))
    assert code == 0 and "ok  Extension Pack: installed" in text


def test_virtualbox_7_needs_no_pack_but_a_mismatched_one_is_reported(vbox: Any):
    fake = vbox("7.0")
    code, text = doctor(only("virtualbox"), "--json")
    assert code == 0
    assert "built into VirtualBox 7" in checks_of(text, "virtualbox")["Extension Pack"]["detail"]
    fake.set(extpacks=[{**PACK, "version": "7.0.18r162988"}])
    code, text = doctor(only("virtualbox"), "--json")
    assert code == 1
    assert "7.0.18 installed, VirtualBox is 7.0.20" in \
        checks_of(text, "virtualbox")["Extension Pack"]["detail"]


def test_the_kernel_driver_warning_is_a_finding(vbox: Any):
    fake = vbox("7.0")
    fake.fault(["--version"], stdout=(DATA / "vboxmanage/7.0/version_driver_warning.txt")
               .read_text(encoding="utf-8"), exit=0)
    code, text = doctor(only("virtualbox"), "--json")
    driver = checks_of(text, "virtualbox")["Kernel driver (vboxdrv)"]
    assert code == 1 and not driver["ok"]
    assert "vboxdrv kernel module is not loaded" in driver["detail"]
    if sys.platform.startswith("linux"):
        assert "vboxconfig" in driver["fix"]


def test_virtualbox_not_installed_is_reported_but_is_no_problem(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DESKTOPVM_VBOXMANAGE", str(tmp_path / "no-such-VBoxManage"))
    monkeypatch.setenv("PATH", str(tmp_path))
    code, text = doctor(only("virtualbox"))
    assert code == 0
    assert "VirtualBox -- not installed here" in text and "fix: Install VirtualBox" in text


# -- Hyper-V: the PowerShell double --------------------------------------------------------------
@pytest.fixture
def hyperv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    host = FakeHost(tmp_path / "host")
    for key, value in host.environment.items():
        monkeypatch.setenv(key, value)
    return host


def test_a_healthy_hyperv_host_passes(hyperv: FakeHost):
    code, text = doctor(only("hyperv"), "--json")
    found = checks_of(text, "hyperv")
    assert code == 0, text
    assert set(found) >= {"Windows", "Hyper-V role", "Hyper-V PowerShell module",
                          "Virtual Machine Management service", "Virtualization in firmware",
                          "Rights", "Default folder for machines",
                          "Default folder for virtual disks"}
    assert "doctor" in hyperv.ops()


@pytest.mark.parametrize(("change", "name", "words"), [
    ({"HypervisorPresent": False}, "Virtualization in firmware", "UEFI/BIOS"),
    ({"HypervisorPresent": False, "VirtualizationFirmwareEnabled": True},
     "Virtualization in firmware", "hypervisorlaunchtype auto"),
    ({"HyperVFeature": "Disabled"}, "Hyper-V role", "Microsoft-Hyper-V-All"),
    ({"VmmsRunning": False}, "Virtual Machine Management service", "Start-Service vmms"),
    ({"FreeBytes": 3 * 1024**3}, "Default folder for virtual disks", "Set-VMHost"),
    ({"VirtualBoxVersion": "7.0.20"}, "VirtualBox next to Hyper-V", "hypervisorlaunchtype off"),
])
def test_each_hyperv_problem_comes_with_its_fix(hyperv: FakeHost, change: dict[str, Any],
                                                name: str, words: str):
    hyperv.update(lambda state: state.update(doctor=change))
    code, text = doctor(only("hyperv"), "--json")
    found = checks_of(text, "hyperv")
    assert code == 1
    assert not found[name]["ok"] and words in found[name]["fix"]
    failing = [n for n, c in found.items() if not c["ok"]]
    same_drive = ["Default folder for machines", "Default folder for virtual disks"]
    assert failing == (same_drive if name in same_drive else [name])  # nothing else fails


def test_missing_rights_name_the_hyperv_administrators_group(hyperv: FakeHost):
    hyperv.update(lambda state: state["probe"].update(can_manage=False))
    code, text = doctor(only("hyperv"))
    assert code == 1 and "FIX Rights: neither an administrator" in text
    assert "Hyper-V Administrators" in text


# -- a remote host: Test connection's steps, then its checks ------------------------------------
@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_a_remote_host_is_tested_then_checked(tmp_path: Path, tls: TlsFiles,
                                              monkeypatch: pytest.MonkeyPatch,
                                              test_keyring: TestKeyring):  # noqa: F811
    monkeypatch.setenv("DESKTOPVM_WINRM_TIMEOUTS", "2,5")
    fake = FakeHost(tmp_path / "remote")
    fake.update(lambda state: state.update(doctor={"VmmsRunning": False}))
    server = WinRMTestServer(auth="basic", user=USER, password=PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key), env=fake.environment)
    with running(server):
        host = HostConfig(kind="hyperv", address="127.0.0.1", port=server.port, username=USER,
                          auth="basic", https=True, ca_file=str(tls.ca))
        credentials.store_password(host, PASSWORD)
        registry = Registry(Settings().with_host(host), known=(KNOWN["hyperv"],))
        try:
            code, text = doctor(registry, "--json", "--host", host.id)
        finally:
            registry.close()
    found = checks_of(text, host.id)
    assert code == 1
    assert found["Authentication"]["ok"]  # Test connection's steps came first ...
    assert not found["Virtual Machine Management service"]["ok"]  # ... then the host's checks
    assert PASSWORD not in text
