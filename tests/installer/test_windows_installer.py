"""The Windows installer under wine: frozen app runs offscreen; setup /S installs; uninstall cleans.

Built on this Linux machine with a Windows CPython, PyInstaller under wine and NSIS; see
docs/installers.md for the wine traps these tests work around.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.wine import Wine, windows_path

pytestmark = [pytest.mark.installer, pytest.mark.slow, pytest.mark.timeout(1800)]
UNINSTALL_KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\DesktopVM"


def start_menu_links(wine: Wine) -> list[Path]:
    users = wine.drive_c() / "users"
    pattern = "*/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/DesktopVM.lnk"
    return sorted(users.glob(pattern))


def per_user_dir(wine: Wine) -> Path:
    matches = sorted((wine.drive_c() / "users").glob("*/AppData/Local/Programs/DesktopVM"))
    assert len(matches) <= 1, matches
    return matches[0] if matches else wine.drive_c() / "users" / "?" / "DesktopVM"


def test_frozen_windows_app_runs_offscreen_under_wine(windows_build) -> None:
    from desktopvm import __version__

    build, _ = windows_build
    code, output = build.wine.run([windows_path(build.bundle / "desktopvm-cli.exe"),
                                   "--version"], check=False)
    assert code == 0, output
    assert f"DesktopVM {__version__}" in output
    code, output = build.wine.run([windows_path(build.bundle / "desktopvm.exe"), "--self-test"],
                                  check=False)
    assert code == 0, output
    code, output = build.wine.run([windows_path(build.bundle / "desktopvm-cli.exe"), "spec",
                                   "os-list"], check=False)
    assert code == 0 and "windows11" in output, output
    internal = build.bundle / "_internal"
    assert len(list((internal / "backends" / "hyperv" / "scripts").glob("*.ps1"))) > 10
    assert not list(internal.rglob("*.qm"))
    for needed in ("numpy", "cryptography", "pydantic_core"):  # run-time dependencies
        assert (internal / needed).is_dir(), needed
    assert not [p for p in internal.rglob("*.dll")
                if p.name.lower() in {"icuuc.dll", "bcryptprimitives.dll", "opengl32sw.dll"}]


def test_setup_is_a_64_bit_windows_program(windows_build) -> None:
    _, setup = windows_build
    data = setup.read_bytes()[:4096]
    pe = int.from_bytes(data[0x3C:0x40], "little")
    assert data[pe:pe + 4] == b"PE\0\0"
    assert int.from_bytes(data[pe + 4:pe + 6], "little") == 0x8664  # IMAGE_FILE_MACHINE_AMD64


def test_silent_install_then_uninstall_per_user(windows_build) -> None:
    from desktopvm import __version__

    build, setup = windows_build
    wine: Wine = build.wine
    code, output = wine.run([windows_path(setup), "/S"], check=False)
    wine.wait()
    assert code == 0, output
    target = per_user_dir(wine)
    assert (target / "desktopvm.exe").is_file()
    assert (target / "desktopvm-cli.exe").is_file()
    assert (target / "uninstall.exe").is_file()
    assert (target / "_internal" / "resources" / "os_catalog.json").is_file()
    assert len(start_menu_links(wine)) == 1
    values = wine.reg_query(f"HKCU\\{UNINSTALL_KEY}")
    assert values is not None
    assert values["DisplayName"] == "DesktopVM"
    assert values["DisplayVersion"] == __version__
    assert values["Publisher"] == "The DesktopVM developers"
    assert values["DisplayIcon"].endswith("\\DesktopVM\\desktopvm.exe,0")
    assert values["UninstallString"].startswith('"C:\\users\\')
    assert "uninstall.exe" in values["UninstallString"]
    assert int(values["EstimatedSize"], 16) > 10_000  # KiB
    code, output = wine.run([str(target / "desktopvm-cli.exe"), "--version"], check=False)
    assert code == 0 and __version__ in output, output

    code, output = wine.run([windows_path(target / "uninstall.exe"), "/S"], check=False)
    wine.wait()  # the NSIS uninstaller copies itself to %TEMP% and returns at once
    assert code == 0, output
    assert not target.exists()
    assert start_menu_links(wine) == []
    assert wine.reg_query(f"HKCU\\{UNINSTALL_KEY}") is None


def test_silent_install_for_all_users_goes_to_program_files(windows_build) -> None:
    build, setup = windows_build
    wine: Wine = build.wine
    code, output = wine.run([windows_path(setup), "/S", "/AllUsers"], check=False)
    wine.wait()
    assert code == 0, output
    target = wine.drive_c() / "Program Files" / "DesktopVM"
    assert (target / "desktopvm.exe").is_file()
    values = wine.reg_query(f"HKLM\\{UNINSTALL_KEY}")
    assert values is not None and values["DisplayName"] == "DesktopVM"
    assert "/AllUsers" in values["QuietUninstallString"]
    assert wine.reg_query(f"HKCU\\{UNINSTALL_KEY}") is None
    links = list((wine.drive_c() / "ProgramData").glob(
        "Microsoft/Windows/Start Menu/Programs/DesktopVM.lnk"))
    assert len(links) == 1

    code, output = wine.run([windows_path(target / "uninstall.exe"), "/S", "/AllUsers"],
                            check=False)
    wine.wait()
    assert code == 0, output
    assert not target.exists()
    assert wine.reg_query(f"HKLM\\{UNINSTALL_KEY}") is None
    assert not links[0].exists()
