"""Screenshots on vcsim (main.go's CreateScreenshot_Task writes a PNG with a known pattern
beside the machine; the simulator's own /folder handler serves the datastore)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from backends.esxi.backend import EsxiBackend
from desktopvm.protocol import InvalidState, PowerState

pytestmark = pytest.mark.vcsim


def datastore_folder(backend: EsxiBackend) -> Path:
    store = backend.facts().datastore()
    return Path(backend.session.properties(store.ref, ["summary.url"])["summary.url"])


def test_a_screenshot_is_the_png_the_host_wrote_and_is_not_left_on_the_datastore(
        esx_backend: EsxiBackend) -> None:
    machine = next(m for m in esx_backend.list_machines() if m.state is PowerState.RUNNING)
    picture = QImage.fromData(esx_backend.screenshot(machine.id))
    assert (picture.width(), picture.height()) == (320, 200)
    assert picture.pixelColor(10, 20) == QColor(10, 20, 0x80)  # the pattern main.go drew
    assert not list(datastore_folder(esx_backend).rglob("*.png"))
    assert esx_backend.capabilities().screenshot


def test_a_machine_that_is_off_has_no_screen(esx_backend: EsxiBackend) -> None:
    machine = next(m for m in esx_backend.list_machines() if m.state is PowerState.RUNNING)
    esx_backend.power_off(machine.id)
    try:
        with pytest.raises(InvalidState, match="start it first"):
            esx_backend.screenshot(machine.id)
    finally:
        esx_backend.start(machine.id)


def test_the_console_is_the_web_client_without_vmrc_and_vmrc_with_it(
        esx_backend: EsxiBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    machine = next(m for m in esx_backend.list_machines() if m.state is PowerState.RUNNING)
    where = f"127.0.0.1:{esx_backend.session.host.effective_port}"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert esx_backend.console(machine.id).native_viewer == (
        "xdg-open", f"https://{where}/ui/#/host/vms/{machine.id}")
    vmrc = tmp_path / "vmrc"
    vmrc.write_text("#!/bin/sh\n")
    vmrc.chmod(0o755)
    assert esx_backend.console(machine.id).native_viewer == (
        str(vmrc), f"vmrc://root@{where}/?moid={machine.id}")


def test_a_vcenter_console_opens_its_web_client(vpx_backend: EsxiBackend,
                                               monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    machine = next(m for m in vpx_backend.list_machines() if m.state is PowerState.RUNNING)
    monkeypatch.setenv("PATH", str(tmp_path))
    port = vpx_backend.session.host.effective_port
    assert vpx_backend.console(machine.id).native_viewer == (
        "xdg-open", f"https://127.0.0.1:{port}/ui/")


def test_a_machine_that_is_off_has_no_console(esx_backend: EsxiBackend) -> None:
    machine = next(m for m in esx_backend.list_machines() if m.state is PowerState.RUNNING)
    esx_backend.power_off(machine.id)
    try:
        with pytest.raises(InvalidState, match="start it first"):
            esx_backend.console(machine.id)
    finally:
        esx_backend.start(machine.id)
