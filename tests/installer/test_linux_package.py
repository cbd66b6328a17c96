"""The Linux package: the frozen app runs offscreen; apt installs, runs and removes the .deb."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.installer.conftest import LinuxBuild

pytestmark = [pytest.mark.installer, pytest.mark.slow, pytest.mark.timeout(1800)]
OFFSCREEN = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=OFFSCREEN, timeout=600,
                          stdin=subprocess.DEVNULL, check=False, **kwargs)


def test_frozen_app_runs_offscreen(linux_build: LinuxBuild) -> None:
    from desktopvm import __version__

    bundle = linux_build.bundle
    version = run([str(bundle / "desktopvm-cli"), "--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"DesktopVM {__version__}"
    gui = run([str(bundle / "desktopvm"), "--self-test"])
    assert gui.returncode == 0, gui.stderr
    oses = run([str(bundle / "desktopvm-cli"), "spec", "os-list"])  # the shipped OS catalog
    assert oses.returncode == 0 and "windows11" in oses.stdout, oses.stdout + oses.stderr
    backends = run([str(bundle / "desktopvm-cli"), "backends"])  # imported by name
    assert backends.returncode == 0, backends.stderr
    for name in ("qemu", "virtualbox", "hyperv"):
        assert name in backends.stdout


def test_bundle_carries_resources_and_scripts_but_no_dropped_qt_parts(
        linux_build: LinuxBuild) -> None:
    internal = linux_build.bundle / "_internal"
    assert (internal / "resources" / "os_catalog.json").is_file()
    assert (internal / "resources" / "icons" / "app.svg").is_file()
    assert len(list((internal / "backends" / "hyperv" / "scripts").glob("*.ps1"))) > 10
    assert not list(internal.rglob("*.qm")), "Qt translations should be trimmed"
    assert not list(internal.rglob("libqeglfs.so"))
    assert list(internal.rglob("libqxcb.so")) and list(internal.rglob("libqsvg.so"))
    assert not (internal / "mypy").exists() and not (internal / "hypothesis").exists()
    for needed in ("numpy", "cryptography", "pydantic_core"):  # run-time dependencies
        assert (internal / needed).is_dir(), needed


def test_deb_lays_out_commands_desktop_entry_and_icon(linux_build: LinuxBuild) -> None:
    listing = subprocess.run(["dpkg-deb", "--contents", str(linux_build.deb)], check=True,
                             capture_output=True, text=True).stdout
    for path in ("./usr/bin/desktopvm -> /opt/desktopvm/desktopvm",
                 "./usr/bin/desktopvm-cli -> /opt/desktopvm/desktopvm-cli",
                 "./usr/share/applications/desktopvm.desktop",
                 "./usr/share/icons/hicolor/scalable/apps/desktopvm.svg",
                 "./opt/desktopvm/_internal/resources/os_catalog.json"):
        assert path in listing
    fields = subprocess.run(["dpkg-deb", "--field", str(linux_build.deb)], check=True,
                            capture_output=True, text=True).stdout
    assert "Recommends: qemu-system-x86, qemu-utils" in fields


def _apt_usable() -> str | None:
    if shutil.which("apt-get") is None:
        return "no apt-get here"
    if os.geteuid() != 0:
        return "installing a .deb needs root (CI runs as root)"
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "desktopvm"],
                            capture_output=True, text=True, check=False)
    if "installed" in status.stdout and "not-installed" not in status.stdout:
        return "a desktopvm package is already installed here; not touching it"
    return None


def test_apt_installs_runs_and_removes_the_package(linux_build: LinuxBuild) -> None:
    reason = _apt_usable()
    if reason:
        pytest.skip(reason)
    apt_env = {**OFFSCREEN, "DEBIAN_FRONTEND": "noninteractive"}
    installed = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                                str(linux_build.deb.resolve())], capture_output=True, text=True,
                               env=apt_env, timeout=600, check=False)
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        files = subprocess.run(["dpkg", "-L", "desktopvm"], check=True, capture_output=True,
                               text=True).stdout.split()
        assert shutil.which("desktopvm") == "/usr/bin/desktopvm"
        assert shutil.which("desktopvm-cli") == "/usr/bin/desktopvm-cli"
        version = run(["desktopvm-cli", "--version"])
        assert version.returncode == 0 and version.stdout.startswith("DesktopVM "), version
        gui = run(["desktopvm", "--self-test"])
        assert gui.returncode == 0, gui.stderr
        removed = subprocess.run(["apt-get", "remove", "-y", "-q", "desktopvm"],
                                 capture_output=True, text=True, env=apt_env, timeout=600,
                                 check=False)
        assert removed.returncode == 0, removed.stdout + removed.stderr
        leftovers = [path for path in files
                     if path.startswith(("/opt/desktopvm", "/usr/bin/desktopvm",
                                         "/usr/share/applications/desktopvm",
                                         "/usr/share/icons/hicolor/"))
                     and "desktopvm" in path and os.path.lexists(path)]
        assert leftovers == []
        assert not Path("/opt/desktopvm").exists()
        assert shutil.which("desktopvm") is None and shutil.which("desktopvm-cli") is None
    finally:
        subprocess.run(["dpkg", "--purge", "desktopvm"], capture_output=True, env=apt_env,
                       timeout=600, check=False)
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "desktopvm"],
                            capture_output=True, text=True, check=False)
    assert "installed" not in status.stdout.replace("not-installed", "")
