"""Show files (issue 13): QEMU machines live in library/<id> on purpose; the Machine menu and
the context menu open a local machine's folder in the file manager instead of renaming it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, MachineSummary, PowerState, no_progress
from desktopvm.settings import Settings
from desktopvm.ui.actions import MACHINE_ACTIONS
from tests.ui.test_main_window import add, backend, refreshed, select, window

__all__ = ["window"]  # the fixture, used by name


@pytest.fixture
def opened(monkeypatch):
    urls: list[str] = []
    from PySide6.QtGui import QDesktopServices

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: urls.append(url.toLocalFile()))
    return urls


def test_show_files_opens_the_folder_the_backend_reports(qtbot, window, opened, tmp_path):
    machine_id = add(window, "web")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    mem = backend(window)
    folder = tmp_path / "library" / machine_id
    folder.mkdir(parents=True)
    real = mem.get_machine
    mem.get_machine = lambda i: dataclasses.replace(real(i), folder=str(folder))
    action = window.machine_actions["files"]
    assert action.isEnabled()
    menu_actions = window.menuBar().actions()
    assert any(action in m.menu().actions() for m in menu_actions if m.menu())
    action.trigger()
    qtbot.waitUntil(lambda: opened == [str(folder)], timeout=3000)


def test_a_machine_without_a_folder_says_so_and_opens_nothing(qtbot, window, opened):
    machine_id = add(window, "db")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    window.machine_actions["files"].trigger()
    qtbot.waitUntil(lambda: "keeps no folder" in window.statusBar().currentMessage(),
                    timeout=3000)
    assert opened == []


def test_show_files_is_for_one_machine_on_this_computer():
    rule = next(a for a in MACHINE_ACTIONS if a.key == "files").enabled
    local = MachineSummary("qemu", "m1", "web", PowerState.OFF)
    remote = MachineSummary("hyperv", "m2", "db", PowerState.OFF, host="hv01.lab.example")
    assert rule([(local, None)])
    assert not rule([(remote, None)])
    assert not rule([(local, None), (local, None)])


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_the_qemu_backend_reports_each_machines_folder(tmp_path: Path):
    qemu = QemuBackend(Settings(library_dir=str(tmp_path / "lib")))
    machine_id = qemu.create(defaults_for("debian12", qemu.capabilities(), name="web"),
                             progress=no_progress, cancel=CancelToken())
    folder = Path(qemu.get_machine(machine_id).folder)
    assert folder == tmp_path / "lib" / machine_id  # named by id: ids and clones rely on it
    assert (folder / "machine.json").is_file()


def test_virtualbox_and_vmware_report_the_folder_of_their_machine_files(tmp_path: Path):
    from desktopvm.testing.doubles.virtualbox.double import FakeVBox
    from desktopvm.testing.doubles.vmware.standin import FakeVMware

    vbox = FakeVBox(tmp_path / "vbox", "7.0").backend()
    machine_id = vbox.create(defaults_for("debian12", vbox.capabilities(), name="web"),
                             progress=no_progress, cancel=CancelToken())
    info = vbox.get_machine(machine_id)
    [settings_file] = [f for f in info.files if f.endswith(".vbox")]
    assert info.folder == str(Path(settings_file).parent)
    fake = FakeVMware(tmp_path / "vmware")
    try:
        vmware = fake.backend()
        machine_id = vmware.create(defaults_for("other-linux", vmware.capabilities(), name="db"),
                                   progress=no_progress, cancel=CancelToken())
        info = vmware.get_machine(machine_id)
        [vmx] = [f for f in info.files if f.endswith(".vmx")]
        assert info.folder == str(Path(vmx).parent) and Path(info.folder).is_dir()
    finally:
        fake.close()
