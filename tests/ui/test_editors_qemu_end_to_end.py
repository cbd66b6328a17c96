"""End to end on real QEMU: boot order, serial, display and USB changed in the settings
dialog reach the backend's spec, and a disk grown there is bigger in qemu-img's eyes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktopvm.model import BootDevice, SerialMode, SerialPort, UsbSpec, UsbVersion, defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.settings_dialog import SettingsDialog
from tests.ui.test_settings_dialog import ok_button, wait_for_disk_sizes

pytestmark = [pytest.mark.qemu]
GIB = 1024**3


@pytest.fixture
def qemu(tmp_path: Path):
    from backends.qemu.backend import QemuBackend

    backend = QemuBackend(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))
    yield backend
    for machine in backend.list_machines():  # nothing here starts QEMU; the files go
        backend.delete(machine.id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())


def test_settings_change_a_real_qemu_machine(qtbot, runner, qemu, tmp_path):
    caps = qemu.capabilities()
    iso = tmp_path / "installer.iso"
    iso.write_bytes(b"")
    spec = defaults_for("debian12", caps, name="settings e2e", iso=str(iso))
    machine_id = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    info = qemu.get_machine(machine_id)
    [(_, disk)] = info.spec.all_disks()
    before = qemu.disk_info(Path(disk.path)).virtual_size
    facts = BackendFacts(qemu.name, qemu.display_name, qemu.probe(), caps, qemu.host_info())
    dialog = SettingsDialog(facts, info, runner, lambda name: qemu)
    qtbot.addWidget(dialog)
    dialog.show()
    wait_for_disk_sizes(qtbot, dialog)

    boot = dialog.boot_order
    assert boot.order() == info.spec.boot_order == (BootDevice.DISK, BootDevice.OPTICAL)
    boot.devices.setCurrentRow(1)
    boot.up_button.click()  # the installer first
    boot.devices.item(2).setCheckState(Qt.CheckState.Checked)  # then the network

    serial = dialog.serial
    serial.add_button.click()
    serial.mode.setCurrentIndex(serial.mode.findData(SerialMode.FILE))
    log = tmp_path / "com2.log"
    qtbot.keyClicks(serial.path, str(log))

    dialog.display.video_memory.spin.setValue(64)
    dialog.usb.buttons[UsbVersion.USB3].click()

    dialog.storage.select("disk")
    grown = before + 4 * GIB
    dialog.storage.disk_details.new_size.setValue(grown // GIB)
    assert dialog.blocking_problems() == []
    with qtbot.waitSignal(dialog.applied, timeout=60_000):
        ok_button(dialog).click()

    spec = qemu.get_machine(machine_id).spec
    assert spec.boot_order == (BootDevice.OPTICAL, BootDevice.DISK, BootDevice.NETWORK)
    assert spec.serial == (*info.spec.serial,
                           SerialPort(number=len(info.spec.serial) + 1, mode=SerialMode.FILE,
                                      path=str(log)))
    assert spec.display.video_memory_mib == 64
    assert spec.usb == UsbSpec(version=UsbVersion.USB3, tablet=info.spec.usb.tablet)
    [(_, disk_after)] = spec.all_disks()
    assert disk_after.path == disk.path and disk_after.size_bytes == grown
    assert qemu.disk_info(Path(disk.path)).virtual_size == grown  # qemu-img info
