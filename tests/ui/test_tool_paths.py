"""Missing tools: every missing piece said at once, "off PATH" told from "not installed", and
Preferences pointing at each tool with Browse…."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton

from backends import qemu, vmware
from desktopvm.settings import Settings
from desktopvm.ui.preferences_dialog import PreferencesDialog


def tool(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def no_qemu_anywhere(monkeypatch, tmp_path):
    """PATH without QEMU, and the usual folders pointing at an empty scratch folder."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("DESKTOPVM_QEMU", raising=False)
    monkeypatch.delenv("DESKTOPVM_QEMU_IMG", raising=False)
    usual = tmp_path / "usual"
    usual.mkdir()
    monkeypatch.setattr(qemu, "_USUAL_FOLDERS", (str(usual),))
    monkeypatch.setattr("sys.platform", "linux")
    return usual


def test_every_missing_qemu_piece_is_said_at_once(no_qemu_anywhere):
    found = qemu.detect(Settings())
    assert not found.available
    assert found.reason == ("qemu-system-x86_64 is not installed; qemu-img is not installed")
    assert "apt-get install" in found.install_hint


def test_off_path_is_told_from_not_installed(no_qemu_anywhere):
    tool(no_qemu_anywhere, "qemu-system-x86_64")
    found = qemu.detect(Settings())
    assert found.reason == (f"qemu-system-x86_64 is installed in {no_qemu_anywhere}, which is "
                            "not on PATH; qemu-img is not installed")
    assert f"add {no_qemu_anywhere} to PATH, or set the QEMU binary in Preferences" in \
        found.install_hint
    tool(no_qemu_anywhere, "qemu-img")
    found = qemu.detect(Settings())
    assert "not installed" not in found.reason
    assert "apt-get" not in found.install_hint  # nothing to install: only PATH


def test_a_qemu_binary_set_in_preferences_that_is_gone_is_named(no_qemu_anywhere, tmp_path):
    tool(tmp_path / "bin", "qemu-img")
    found = qemu.detect(Settings(qemu_binary=str(tmp_path / "gone" / "qemu")))
    assert found.reason == (f"the QEMU binary set in Preferences, {tmp_path / 'gone' / 'qemu'}, "
                            "was not found")
    good = tool(tmp_path / "mine", "qemu-system-x86_64")
    assert qemu.detect(Settings(qemu_binary=str(good))).available


def test_vmrun_set_in_preferences_is_used_and_a_wrong_one_named(monkeypatch, tmp_path):
    monkeypatch.delenv("DESKTOPVM_VMRUN", raising=False)
    vmrun = tool(tmp_path / "vmware", "vmrun")
    assert vmware.detect(Settings(vmrun_path=str(vmrun))).available
    from backends.vmware.locate import find_installation

    found = find_installation(vmrun=str(vmrun))
    assert found is not None and found.vmrun == str(vmrun)
    wrong = vmware.detect(Settings(vmrun_path=str(tmp_path / "nowhere" / "vmrun")))
    assert not wrong.available and "set in Preferences" in wrong.reason


@pytest.mark.parametrize(("button", "field", "setting"), [
    ("browse-qemu", "qemu", "qemu_binary"),
    ("browse-qemu-img", "qemu_img", "qemu_img_path"),
    ("browse-vboxmanage", "vboxmanage", "vboxmanage_path"),
    ("browse-powershell", "powershell", "powershell_path"),
    ("browse-vmrun", "vmrun", "vmrun_path"),
])
def test_preferences_browse_for_each_tool(qtbot, button, field, setting):
    dialog = PreferencesDialog(Settings(), [])
    qtbot.addWidget(dialog)
    asked: list[str] = []

    def ask(current: str) -> str:
        asked.append(current)
        return "/opt/tools/the-tool"

    dialog.ask_program = ask
    browse = dialog.findChild(QPushButton, button)
    assert browse is not None
    browse.click()
    assert getattr(dialog, field).text() == "/opt/tools/the-tool"
    assert getattr(dialog.edited(), setting) == "/opt/tools/the-tool"
    dialog.ask_program = lambda current: ""  # Cancel in the file dialog: no change
    browse.click()
    assert getattr(dialog.edited(), setting) == "/opt/tools/the-tool"


def test_qemu_img_beside_a_configured_qemu_binary_is_found(no_qemu_anywhere, tmp_path):
    from backends.qemu.qemu_img import find_qemu_img

    own = tmp_path / "qemu-8.2"  # a QEMU unpacked in its own folder, not on PATH
    binary = tool(own, "qemu-system-x86_64")
    assert not qemu.detect(Settings(qemu_binary=str(binary))).available  # no qemu-img yet
    img = tool(own, "qemu-img")
    assert qemu.detect(Settings(qemu_binary=str(binary))).available
    assert find_qemu_img(beside=str(binary)) == str(img)
    assert qemu.open_backend(Settings(qemu_binary=str(binary), library_dir=str(
        tmp_path / "lib"))).qemu_img.binary == str(img)


def test_a_qemu_img_set_in_preferences_is_used_and_a_wrong_one_named(no_qemu_anywhere,
                                                                      tmp_path):
    binary = tool(tmp_path / "bin", "qemu-system-x86_64")  # on PATH
    img = tool(tmp_path / "elsewhere", "qemu-img")
    found = qemu.detect(Settings())
    assert found.reason == "qemu-img is not installed"
    assert qemu.detect(Settings(qemu_img_path=str(img))).available
    assert qemu.open_backend(Settings(qemu_img_path=str(img), library_dir=str(
        tmp_path / "lib"))).qemu_img.binary == str(img)
    gone = tmp_path / "gone" / "qemu-img"
    wrong = qemu.detect(Settings(qemu_img_path=str(gone), qemu_binary=str(binary)))
    assert wrong.reason == f"the qemu-img set in Preferences, {gone}, was not found"


def test_the_hint_names_the_setting_of_the_piece_off_path(no_qemu_anywhere, tmp_path):
    tool(tmp_path / "bin", "qemu-system-x86_64")  # on PATH
    tool(no_qemu_anywhere, "qemu-img")  # installed, off PATH
    found = qemu.detect(Settings())
    assert found.reason == f"qemu-img is installed in {no_qemu_anywhere}, which is not on PATH"
    assert found.install_hint == f"add {no_qemu_anywhere} to PATH, or set qemu-img in Preferences"
    tool(no_qemu_anywhere, "qemu-system-x86_64")
    (tmp_path / "bin" / "qemu-system-x86_64").unlink()
    both = qemu.detect(Settings())
    assert both.install_hint == (f"add {no_qemu_anywhere} to PATH, or set the QEMU binary and "
                                 "qemu-img in Preferences")
