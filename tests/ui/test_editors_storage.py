"""Storage in the settings dialog: grow a disk (never shrink), attach a disk file, detach
(asks, keeps the file), change or eject the ISO while running where the backend can."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from desktopvm.model import LiveChange, defaults_for
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    DiskInfo,
    Progress,
    no_progress,
)
from desktopvm.testing.doubles.memory_backend import CAPABILITIES
from desktopvm.ui.settings_dialog import SettingsDialog
from tests.ui.test_settings_dialog import (  # noqa: F401 (fixtures)
    RecordingBackend,
    iso,
    ok_button,
    open_settings,
    wait_for_disk_sizes,
)

GIB = 1024**3


class RecordingResizes(RecordingBackend):
    """Remembers every resize and the order of resizes and updates."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.calls: list[str] = []

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken):
        self.calls.append(f"resize {path.name} {size_bytes // GIB}")
        return super().resize_disk(path, size_bytes, progress=progress, cancel=cancel)

    def update(self, machine_id, old, new, *, progress, cancel) -> None:
        self.calls.append("update")
        super().update(machine_id, old, new, progress=progress, cancel=cancel)


class GrownOutside(RecordingBackend):
    """Its disks are 24 GiB, grown by a tool outside DesktopVM: the record says less."""

    def disk_info(self, path: Path) -> DiskInfo:
        return DiskInfo(path=str(path), format="qcow2", virtual_size=24 * GIB, actual_size=0)


class Unreadable(RecordingBackend):
    """Cannot read its disks, as when the file is locked or its permissions forbid."""

    def disk_info(self, path: Path) -> DiskInfo:
        raise CommandFailed(f"Cannot read the disk image {path.name}: permission denied")


class HeldRead(RecordingBackend):
    """Answers disk_info only when the test lets it (a slow remote host, say)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.release = threading.Event()

    def disk_info(self, path: Path) -> DiskInfo:
        self.release.wait(10)
        return super().disk_info(path)


class BrokenRead(RecordingBackend):
    """The read of the sizes fails as a whole, by a bug rather than a backend's error."""

    def disk_info(self, path: Path) -> DiskInfo:
        raise RuntimeError("the backend was closed under the dialog")


def disk_file(dialog) -> Path:
    [(_, disk)] = dialog.info.spec.all_disks()
    return Path(disk.path)


def select_disk(qtbot, dialog, shown: str = "20 GiB") -> None:
    """Select the disk and wait until its size, as read off the GUI thread, starts `shown`."""
    dialog.storage.select("disk")
    qtbot.waitUntil(lambda: dialog.storage.disk_details.current.text().startswith(shown),
                    timeout=5000)


def storage_problems(dialog) -> list[str]:
    texts: list[str] = dialog.tab_problems[dialog.tabs.indexOf(
        dialog.storage.parentWidget())].texts()
    return texts


def test_a_disk_grows_on_ok_before_the_update(open_settings, qtbot):  # noqa: F811
    dialog, backend = open_settings(RecordingResizes)
    select_disk(qtbot, dialog)
    spin = dialog.storage.disk_details.new_size
    assert spin.isEnabled() and spin.value() == 20
    spin.setValue(32)
    assert dialog.storage.resizes() == [(str(disk_file(dialog)), 32 * GIB)]
    assert dialog.storage.tree.currentItem().text(1).endswith("grows to 32 GiB on OK")
    assert dialog.changed_groups() == {"storage"}  # the spec records the new size
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert backend.calls == [f"resize {disk_file(dialog).name} 32", "update"]
    assert backend.disk_info(disk_file(dialog)).virtual_size == 32 * GIB
    [(_, disk)] = backend.get_machine(dialog.info.summary.id).spec.all_disks()
    assert disk.size_bytes == 32 * GIB


def test_back_to_the_size_shown_is_no_resize(open_settings, qtbot):  # noqa: F811
    dialog, _ = open_settings()
    select_disk(qtbot, dialog)
    dialog.storage.disk_details.new_size.setValue(30)
    dialog.storage.disk_details.new_size.setValue(20)
    assert dialog.storage.resizes() == [] and dialog.edited_spec() == dialog.info.spec


def test_shrinking_is_refused_in_words_from_the_size_read(open_settings, qtbot):  # noqa: F811
    """The disk really is 24 GiB (grown outside, the record still says 20): the floor is the
    size read from the file, not the one recorded."""
    dialog, _ = open_settings(GrownOutside)
    select_disk(qtbot, dialog, "24 GiB")
    dialog.storage.disk_details.new_size.setValue(22)
    assert not ok_button(dialog).isEnabled()
    assert storage_problems(dialog) == [
        "Disks only grow: 22 GiB is less than the disk's current 24 GiB. To shrink one, "
        "shrink its partitions in the guest and copy them to a new, smaller disk."]
    assert "cannot shrink to 22 GiB" in dialog.storage.tree.currentItem().text(1)


def test_a_size_past_the_backends_limit_is_refused(open_settings, qtbot):  # noqa: F811
    dialog, _ = open_settings(max_disk_bytes=40 * GIB)
    select_disk(qtbot, dialog)
    dialog.storage.disk_details.new_size.setValue(64)  # the spin box does not clamp it
    assert dialog.storage.disk_details.new_size.value() == 64
    assert storage_problems(dialog) == ["Memory allows at most 40 GiB per disk."]
    assert not ok_button(dialog).isEnabled()
    dialog.storage.disk_details.new_size.setValue(40)
    assert storage_problems(dialog) == [] and ok_button(dialog).isEnabled()


def test_a_disk_whose_size_cannot_be_read_cannot_grow(open_settings, qtbot):  # noqa: F811
    dialog, _ = open_settings(Unreadable)
    select_disk(qtbot, dialog, "Cannot read the disk image")
    spin = dialog.storage.disk_details.new_size
    assert not spin.isEnabled()
    assert spin.toolTip().startswith("Cannot grow the disk: its size could not be read")
    assert "permission denied" in spin.toolTip()


def test_a_failed_read_of_the_sizes_says_why_no_disk_can_grow(open_settings, qtbot):  # noqa: F811
    dialog, _ = open_settings(BrokenRead)
    select_disk(qtbot, dialog, "the backend was closed under the dialog")
    spin = dialog.storage.disk_details.new_size
    assert not spin.isEnabled() and "closed under the dialog" in spin.toolTip()


def test_a_size_not_read_yet_cannot_grow_until_it_is(runner, make_facts, qtbot, tmp_path):
    """A disk attached from outside has no recorded size: until the read comes back, the
    dialog says it is reading and offers no size to grow to."""
    backend = HeldRead(tmp_path / "machines")
    spec = defaults_for("debian12", CAPABILITIES, name="held")
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    info = backend.get_machine(machine_id)
    unrecorded = [c.model_copy(update={"disks": tuple(
        d.model_copy(update={"size_bytes": 0}) for d in c.disks)}) for c in info.spec.storage]
    info = replace(info, spec=info.spec.model_copy(update={"storage": tuple(unrecorded)}))
    dialog = SettingsDialog(make_facts(backend), info, runner, lambda name: backend)
    qtbot.addWidget(dialog)
    dialog.storage.select("disk")
    spin = dialog.storage.disk_details.new_size
    assert dialog.storage.disk_details.current.text() == "Reading the disk's size…"
    assert not spin.isEnabled() and "not known yet" in spin.toolTip()
    backend.release.set()
    wait_for_disk_sizes(qtbot, dialog)
    assert dialog.storage.disk_details.current.text() == "20 GiB" and spin.isEnabled()


def test_a_running_machine_cannot_grow_disks(open_settings, qtbot):  # noqa: F811
    dialog, _ = open_settings(running=True)
    select_disk(qtbot, dialog)
    spin = dialog.storage.disk_details.new_size
    assert not spin.isEnabled() and "Shut down the machine" in spin.toolTip()


def test_attach_a_disk_file_says_it_will_be_checked(open_settings, qtbot, tmp_path):  # noqa: F811
    dialog, backend = open_settings()
    outside = tmp_path / "data.qcow2"
    outside.write_text(json.dumps({"format": "qcow2", "size": 8 * GIB}))
    dialog.storage.attach_button.click()
    add = dialog.storage.add_dialog
    assert add is not None and add.windowTitle() == "Attach a disk file"
    assert add.editor.mode_existing.isChecked()
    assert "checked" in add.editor.checked_hint.text()
    assert "refers to other files" in add.editor.checked_hint.text()
    add.editor.path.set_path(str(outside))
    attach = add.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert attach.text() == "Attach" and attach.isEnabled()
    attach.click()
    disks = [d for _, d in dialog.edited_spec().all_disks()]
    assert [(d.path, d.existing) for d in disks][-1] == (str(outside), True)
    assert dialog.storage.tree.currentItem().text(1) != "data.qcow2, attached on OK"
    dialog.storage.select("disk", 1)
    assert dialog.storage.tree.currentItem().text(1) == "data.qcow2, attached on OK"
    details = dialog.storage.disk_details
    assert details.current.text() == "Checked and attached on OK; it can grow after that."
    assert not details.form.isRowVisible(details.new_size)
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    paths = [d.path for _, d in backend.get_machine(dialog.info.summary.id).spec.all_disks()]
    assert str(outside) in paths


def test_detach_asks_and_cancel_keeps_the_disk(open_settings, qtbot):  # noqa: F811
    dialog, _ = open_settings()
    dialog.storage.select("disk")
    dialog.storage.detach_button.click()
    question = dialog.storage.detach_question
    assert question is not None and question.isVisible()
    assert question.defaultButton() is question.button(QMessageBox.StandardButton.Cancel)
    assert str(disk_file(dialog)) in question.informativeText()
    question.button(QMessageBox.StandardButton.Cancel).click()
    assert dialog.edited_spec() == dialog.info.spec
    assert disk_file(dialog).exists()


def test_eject_while_running_where_the_backend_can(open_settings):  # noqa: F811
    live = frozenset({LiveChange.NOTES, LiveChange.OPTICAL_MEDIA})
    dialog, _ = open_settings(running=True, live_changes=live)
    optical = dialog.storage.optical
    assert optical is not None and not optical.eject.isHidden() and optical.eject.isEnabled()
    assert not optical.locked_hint.isVisible()
    assert not dialog.storage.add_button.isEnabled()  # the rest of storage stays locked
    optical.eject.click()
    assert optical.path() == "" and not optical.eject.isEnabled()
    assert dialog.edited_spec().all_optical()[0][1].iso == ""
    assert dialog.changed_groups() == {"storage"}
    assert dialog.storage.tree.currentItem().text(1) == "Empty"


def test_the_iso_is_greyed_while_running_with_the_reason_shown(open_settings):  # noqa: F811
    dialog, _ = open_settings(running=True)  # the memory double changes no media live
    optical = dialog.storage.optical
    assert optical is not None
    assert not optical.iso.isEnabled() and not optical.eject.isEnabled()
    assert not optical.locked_hint.isHidden()
    assert optical.locked_hint.text() == ("Memory cannot change this while the machine runs. "
                                          "Shut down the machine to change it.")
