"""End to end on real QEMU (TCG): wizard -> start -> running -> snapshot -> shut down -> delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard

from desktopvm.jobs import JobRunner
from desktopvm.model import Firmware
from desktopvm.protocol import PowerState
from desktopvm.registry import KNOWN_BACKENDS, Registry
from desktopvm.settings import Settings
from desktopvm.testing.qemu_guest import PROMPT, SerialReader
from desktopvm.ui.dialogs import DeleteDialog, SnapshotDialog
from desktopvm.ui.editors import FirmwareEditor, IdentityEditor, OpticalEditor
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.wizard import NewVmWizard, PageId
from desktopvm.ui.wizard.spec_page import SpecPage

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


@pytest.fixture(scope="module")
def guest_iso() -> Path:
    from desktopvm.testing.guest.build_iso import build_test_iso

    return build_test_iso()


def editor(wizard: NewVmWizard, kind):
    page = wizard.currentPage()
    assert isinstance(page, SpecPage)
    return next(e for e in page.editors if isinstance(e, kind))


def dialog_of(window: MainWindow, kind):
    return next((d for d in window.operations.open_dialogs if isinstance(d, kind)), None)


def state_of(window: MainWindow) -> PowerState | None:
    machine = window.current_machine()
    return machine.state if machine else None


def test_create_start_snapshot_shutdown_delete_through_the_window(qtbot, tmp_path, guest_iso):
    qemu = next(k for k in KNOWN_BACKENDS if k.name == "qemu")
    registry = Registry(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg",
                                 refresh_interval_s=1), known=(qemu,))
    runner = JobRunner()
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.new_action.isEnabled() and "qemu" in window.facts,
                    timeout=30_000)

    window.new_action.trigger()
    wizard = dialog_of(window, NewVmWizard)
    assert wizard is not None
    assert wizard.currentId() == PageId.IDENTITY  # QEMU is the only backend: no page for it
    editor(wizard, IdentityEditor).name.setText("e2e guest")
    editor(wizard, OpticalEditor).iso.set_path(str(guest_iso))
    wizard.next()
    editor(wizard, FirmwareEditor).bios.setChecked(True)  # the test ISO boots with isolinux
    while wizard.currentId() < PageId.SUMMARY:
        before = wizard.currentId()
        wizard.next()
        assert wizard.currentId() != before
    assert wizard.spec.firmware.kind is Firmware.BIOS
    with qtbot.waitSignal(wizard.created, timeout=60_000):
        wizard.button(QWizard.WizardButton.FinishButton).click()

    qtbot.waitUntil(lambda: window.current_machine() is not None, timeout=30_000)
    machine = window.current_machine()
    assert machine is not None and machine.name == "e2e guest"
    window.machine_actions["start"].trigger()
    qtbot.waitUntil(lambda: state_of(window) is PowerState.RUNNING, timeout=60_000)
    reader = SerialReader(registry.open("qemu"), machine.id)
    reader.wait_for(PROMPT, poke=True)
    reader.close()

    window.machine_actions["snapshot"].trigger()
    qtbot.waitUntil(lambda: dialog_of(window, SnapshotDialog) is not None, timeout=5000)
    snapshot_dialog = dialog_of(window, SnapshotDialog)
    snapshot_dialog.name.setText("booted")
    snapshot_dialog.accept()
    qtbot.waitUntil(lambda: window.details.snapshot_tree.topLevelItemCount() == 1,
                    timeout=60_000)

    window.machine_actions["shutdown"].trigger()
    qtbot.waitUntil(lambda: state_of(window) is PowerState.OFF, timeout=60_000)

    disks = [Path(p) for p in registry.open("qemu").get_machine(machine.id).files]
    window.machine_actions["delete"].trigger()
    qtbot.waitUntil(lambda: dialog_of(window, DeleteDialog) is not None, timeout=10_000)
    delete_dialog = dialog_of(window, DeleteDialog)
    delete_dialog.delete_disks.setChecked(True)
    delete_dialog.delete_button.click()
    qtbot.waitUntil(lambda: window.model.machine_count() == 0, timeout=30_000)
    assert disks and not any(p.exists() for p in disks)
    window.close()
    runner.cancel_all()
    assert runner.wait_for_done(30_000)
