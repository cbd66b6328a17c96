"""The settings dialog: only changes are sent, one job; running machines; storage; errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QPushButton

from desktopvm.model import (
    LiveChange,
    MachineSpec,
    NetworkAttachment,
    changed_groups,
    defaults_for,
)
from desktopvm.protocol import CancelToken, CommandFailed, PowerState, Progress, no_progress
from desktopvm.testing.doubles.memory_backend import CAPABILITIES, MemoryBackend
from desktopvm.ui.editors import AddDiskDialog
from desktopvm.ui.settings_dialog import SettingsDialog

GIB = 1024**3


class RecordingBackend(MemoryBackend):
    """Remembers every update call's old and new spec."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.updates: list[tuple[str, MachineSpec, MachineSpec]] = []

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *,
               progress: Progress, cancel: CancelToken) -> None:
        self.updates.append((machine_id, old, new))
        super().update(machine_id, old, new, progress=progress, cancel=cancel)


class FailingUpdate(RecordingBackend):
    """Update fails as a real tool would."""

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *,
               progress: Progress, cancel: CancelToken) -> None:
        raise CommandFailed("VBoxManage modifyvm failed", command=["VBoxManage", "modifyvm"],
                            exit_code=1, stderr="VBOX_E_INVALID_VM_STATE")


@pytest.fixture
def iso(tmp_path: Path) -> Path:
    path = tmp_path / "debian-12.iso"
    path.write_bytes(b"")
    return path


@pytest.fixture
def open_settings(qtbot, runner, make_facts, tmp_path, iso):
    """Create a machine on a recording backend and open its settings."""
    def open_(backend_class=RecordingBackend, running=False, iso_vanished=False, saved=False,
              **capability_changes):
        backend = backend_class(tmp_path / "machines")
        spec = defaults_for("debian12", CAPABILITIES, name="builder", iso=str(iso))
        machine_id = backend.create(spec.model_copy(update={"notes": "CI"}),
                                    progress=no_progress, cancel=CancelToken())
        if running or saved:
            backend.start(machine_id)
        if saved:
            backend.save_state(machine_id, progress=no_progress, cancel=CancelToken())
        if iso_vanished:
            iso.unlink()
        info = backend.get_machine(machine_id)
        dialog = SettingsDialog(make_facts(backend, **capability_changes), info, runner,
                                lambda name: backend)
        qtbot.addWidget(dialog)
        dialog.show()
        wait_for_disk_sizes(qtbot, dialog)
        return dialog, backend
    return open_


def wait_for_disk_sizes(qtbot, dialog: SettingsDialog) -> None:
    """Let the dialog's background read of the disk sizes end, and its job be deleted.

    A background job deletes itself (deleteLater) when it ends; one that ended while the
    per-test runner was torn down crashed the next test's first event processing (a bus
    error in ~QObject), so each test waits for its own read here.
    """
    job = dialog.sizes_job
    if job is not None:
        qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def foreground_jobs(dialog: SettingsDialog):
    """The jobs the user sees (reading the disk sizes runs in the background)."""
    return [job for job in dialog.runner.jobs if not job.background]


def ok_button(dialog: SettingsDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_only_the_changed_groups_are_sent_in_one_job(open_settings, qtbot):
    dialog, backend = open_settings()
    dialog.resources.cpus.spin.setValue(4)
    dialog.resources.memory.spin.setValue(3072)
    dialog.notes.notes.setPlainText("CI runner, nightly")
    assert dialog.changed_groups() == {"cpu", "memory", "notes"}
    with qtbot.waitSignal(dialog.applied, timeout=5000) as applied:
        ok_button(dialog).click()
    machine_id = dialog.info.summary.id
    assert applied.args == [machine_id]
    [(called_id, old, new)] = backend.updates
    assert called_id == machine_id and old == dialog.info.spec
    assert changed_groups(old, new) == {"cpu", "memory", "notes"}
    [job] = foreground_jobs(dialog)
    assert job.machine_key == dialog.info.summary.key
    spec = backend.get_machine(machine_id).spec
    assert (spec.cpu.count, spec.memory.size_mib, spec.notes) == (4, 3072, "CI runner, nightly")
    assert not dialog.isVisible()


def test_ok_without_changes_just_closes(open_settings):
    dialog, backend = open_settings()
    dialog.resources.cpus.spin.setValue(5)
    dialog.resources.cpus.spin.setValue(dialog.info.spec.cpu.count)  # and back again
    ok_button(dialog).click()
    assert not dialog.isVisible()
    assert backend.updates == [] and foreground_jobs(dialog) == []


def test_loading_a_machine_changes_nothing(open_settings):
    dialog, _ = open_settings()
    assert dialog.edited_spec() == dialog.info.spec
    assert all(not view.problems for view in dialog.tab_problems)


def test_a_running_machine_locks_offline_fields_and_keeps_notes_editable(open_settings, qtbot):
    dialog, backend = open_settings(running=True)
    assert dialog.banner.isVisible()
    assert "Shut down the machine to change these settings" in dialog.banner.text()
    assert not dialog.resources.cpus.isEnabled()
    assert not dialog.resources.memory.isEnabled()
    assert not dialog.firmware.uefi.isEnabled() and not dialog.firmware.bios.isEnabled()
    assert not dialog.identity.os.isEnabled()
    assert not dialog.storage.add_button.isEnabled()
    assert not dialog.network.add_button.isEnabled()
    assert "Shut down the machine" in dialog.resources.cpus.toolTip()
    assert dialog.notes.notes.isEnabled()
    dialog.notes.notes.setPlainText("still running")
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert backend.get_machine(dialog.info.summary.id).spec.notes == "still running"


def test_live_changes_stay_editable_while_running(open_settings):
    live = frozenset({LiveChange.NOTES, LiveChange.CPU_COUNT, LiveChange.OPTICAL_MEDIA})
    dialog, _ = open_settings(running=True, live_changes=live)
    assert dialog.resources.cpus.isEnabled()
    assert not dialog.resources.memory.isEnabled()
    assert dialog.storage.optical is not None and dialog.storage.optical.iso.isEnabled()


def test_a_saved_machine_locks_the_hardware_and_says_why(open_settings, qtbot):
    """Issue 13, must fix 3: a saved state's memory belongs to the hardware, so the dialog
    must not take hardware changes the backend would refuse; name and notes stay editable."""
    live = frozenset({LiveChange.NOTES, LiveChange.NAME, LiveChange.CPU_COUNT,
                      LiveChange.OPTICAL_MEDIA, LiveChange.MEMORY_SIZE})
    dialog, backend = open_settings(saved=True, live_changes=live)
    assert dialog.info.state is PowerState.SAVED
    assert dialog.banner.isVisible()
    assert "has a saved state" in dialog.banner.text()
    assert "Discard saved state" in dialog.banner.text()
    # live changes are for a running machine: a saved one has no process to change
    assert not dialog.resources.cpus.isEnabled() and not dialog.resources.memory.isEnabled()
    assert not dialog.firmware.uefi.isEnabled() and not dialog.identity.os.isEnabled()
    assert not dialog.storage.add_button.isEnabled()
    assert dialog.storage.optical is None or not dialog.storage.optical.iso.isEnabled()
    assert not dialog.network.add_button.isEnabled()
    assert "saved state" in dialog.resources.memory.toolTip()
    assert dialog.identity.name.isEnabled() and dialog.notes.notes.isEnabled()
    dialog.notes.notes.setPlainText("saved, with notes")
    dialog.identity.name.setText("builder-2")
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    [(_, old, new)] = backend.updates
    assert changed_groups(old, new) == {"name", "notes"}


def test_a_paused_machine_says_paused(open_settings, qtbot):
    dialog, backend = open_settings(running=True)
    backend.pause(dialog.info.summary.id)
    paused = SettingsDialog(dialog.facts, backend.get_machine(dialog.info.summary.id),
                            dialog.runner, lambda name: backend)
    qtbot.addWidget(paused)
    wait_for_disk_sizes(qtbot, paused)
    assert "is paused" in paused.banner.text() and "Resume" in paused.resources.cpus.toolTip()
    assert not paused.resources.cpus.isEnabled() and paused.notes.notes.isEnabled()


def test_a_stopped_machine_shows_no_banner(open_settings):
    dialog, _ = open_settings()
    assert not dialog.banner.isVisible()
    assert dialog.resources.cpus.isEnabled() and dialog.firmware.uefi.isEnabled()


def test_a_failing_update_shows_the_error_and_stays_open(open_settings, qtbot,
                                                         find_error_dialogs):
    dialog, _ = open_settings(FailingUpdate)
    dialog.notes.notes.setPlainText("changed")
    ok_button(dialog).click()
    assert not ok_button(dialog).isEnabled() and not dialog.tabs.isEnabled()
    qtbot.waitUntil(lambda: bool(find_error_dialogs()))
    [error] = find_error_dialogs()
    assert error.text() == "VBoxManage modifyvm failed"
    assert "VBOX_E_INVALID_VM_STATE" in error.detailedText()
    assert dialog.isVisible() and ok_button(dialog).isEnabled() and dialog.tabs.isEnabled()
    error.accept()


def test_change_the_iso_of_an_optical_drive(open_settings, qtbot, tmp_path):
    dialog, backend = open_settings()
    other = tmp_path / "rescue.iso"
    assert dialog.storage.optical is not None  # the optical drive is selected first
    dialog.storage.optical.iso.set_path(str(other))  # looked at by a worker
    qtbot.waitUntil(lambda: any("does not exist" in m for m in dialog.tab_problems[3].texts()))
    assert not ok_button(dialog).isEnabled()  # the file is not there
    other.write_bytes(b"")
    dialog.storage.optical.iso.set_path("")
    dialog.storage.optical.iso.set_path(str(other))
    qtbot.waitUntil(ok_button(dialog).isEnabled)
    assert dialog.changed_groups() == {"storage"}
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    spec = backend.get_machine(dialog.info.summary.id).spec
    assert spec.all_optical()[0][1].iso == str(other)


def test_problems_in_untouched_parts_do_not_block_ok(open_settings, qtbot):
    dialog, _ = open_settings(iso_vanished=True)  # deleted since the machine was created
    qtbot.waitUntil(lambda: any("does not exist" in m for m in dialog.tab_problems[3].texts()))
    assert not dialog.tabs.tabIcon(3).isNull()
    dialog.notes.notes.setPlainText("edited")
    assert ok_button(dialog).isEnabled()


def test_add_a_new_disk(open_settings, qtbot):
    dialog, backend = open_settings()
    dialog.storage.add_button.click()
    add = dialog.storage.add_dialog
    assert isinstance(add, AddDiskDialog) and add.isVisible()
    add.editor.size_spin.setValue(8)
    add.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    spec = dialog.edited_spec()
    assert [d.size_bytes for _, d in spec.all_disks()][-1] == 8 * GIB
    assert dialog.changed_groups() == {"storage"}
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert len(backend.get_machine(dialog.info.summary.id).spec.all_disks()) == 2


def test_an_added_existing_disk_must_exist(open_settings, tmp_path):
    dialog, _ = open_settings()
    dialog.storage.add_button.click()
    add = dialog.storage.add_dialog
    assert add is not None
    add.editor.mode_existing.click()
    add.editor.path.set_path(str(tmp_path / "missing.vdi"))
    assert not add.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    add.reject()
    assert dialog.edited_spec() == dialog.info.spec


def test_detach_a_disk_keeps_its_file(open_settings, qtbot):
    dialog, backend = open_settings()
    [(_, disk)] = dialog.info.spec.all_disks()
    disk_item = next(i for i in dialog.storage._device_items()
                     if dialog.storage._slot_of(i)[0] == "disk")
    dialog.storage.tree.setCurrentItem(disk_item)
    assert dialog.storage.detach_button.isEnabled()
    dialog.storage.detach_button.click()
    question = dialog.storage.detach_question
    assert question is not None and "never deletes it" in question.informativeText()
    assert dialog.edited_spec().all_disks() != []  # asked first: nothing detached yet
    question.findChild(QPushButton, "confirm-detach").click()
    assert dialog.edited_spec().all_disks() == []
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert backend.get_machine(dialog.info.summary.id).spec.all_disks() == []
    assert Path(disk.path).exists()


def test_add_and_remove_network_adapters(open_settings, qtbot):
    dialog, backend = open_settings()
    network = dialog.network
    assert network.adapters.count() == 1
    network.add_button.click()
    assert network.adapters.count() == 2 and network.adapters.currentRow() == 1
    attachment = network.adapter_editor.attachment
    attachment.setCurrentIndex(attachment.findData(NetworkAttachment.NONE))
    assert network.adapters.item(1).text() == "Adapter 2: Not connected"
    network.adapters.setCurrentRow(0)
    network.remove_button.click()
    assert [a.attachment for a in dialog.edited_spec().network] == [NetworkAttachment.NONE]
    assert dialog.changed_groups() == {"network"}
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    spec = backend.get_machine(dialog.info.summary.id).spec
    assert [a.attachment for a in spec.network] == [NetworkAttachment.NONE]


def test_a_mistyped_mac_blocks_ok(open_settings):
    dialog, _ = open_settings()
    dialog.network.adapter_editor.mac.setText("zz:54:00:12:34:56")
    assert not ok_button(dialog).isEnabled()
    assert any("is not a MAC address" in m for m in dialog.tab_problems[4].texts())
    dialog.network.adapter_editor.mac.setText("52:54:00:12:34:56")
    assert ok_button(dialog).isEnabled()


def test_an_empty_name_blocks_ok(open_settings):
    dialog, _ = open_settings()
    dialog.identity.name.clear()
    assert not ok_button(dialog).isEnabled()
    assert "Give the machine a name." in dialog.tab_problems[0].texts()
