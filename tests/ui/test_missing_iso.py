"""Start with a deleted ISO: the error names it and offers "Eject and start" and "Choose
another…". On real QEMU (its start checks the files) and, for Choose another, the memory double
made to check them the same way."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton

from desktopvm.jobs import JobRunner
from desktopvm.model import Firmware, FirmwareSpec, OpticalDrive, StorageController, validate
from desktopvm.protocol import CancelToken, InvalidSpec, PowerState, no_progress
from desktopvm.protocol.errors import BackendError
from desktopvm.registry import KNOWN_BACKENDS, Registry
from desktopvm.settings import Settings
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.missing_media import missing_isos
from desktopvm.ui.widget_lists import top_level_widgets
from tests.ui.test_preferences_apply import window  # noqa: F401 (a fixture)


def the_box(qtbot) -> QMessageBox:
    qtbot.waitUntil(lambda: any(w.objectName() == "missing-iso-dialog" and w.isVisible()
                                for w in top_level_widgets()), timeout=30_000)
    return next(w for w in top_level_widgets()
                if isinstance(w, QMessageBox) and w.objectName() == "missing-iso-dialog"
                and w.isVisible())


def button(box: QMessageBox, name: str) -> QPushButton:
    return next(b for b in box.buttons()
                if isinstance(b, QPushButton) and b.objectName() == name)


def state_of(main: MainWindow, machine_id: str) -> PowerState | None:
    return next((m.state for m in main.model.machines_of("qemu") if m.id == machine_id), None)


def test_other_errors_are_not_taken_for_a_missing_iso():
    assert missing_isos(BackendError("boom")) == []
    assert missing_isos(InvalidSpec([])) == []


@pytest.mark.qemu
@pytest.mark.slow
def test_eject_and_start_on_real_qemu(qtbot, tmp_path):
    from desktopvm.testing.guest.build_iso import build_test_iso
    from desktopvm.testing.qemu_guest import guest_spec

    iso = tmp_path / "installer.iso"
    shutil.copy(build_test_iso(), iso)
    qemu = next(k for k in KNOWN_BACKENDS if k.name == "qemu")
    registry = Registry(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg",
                                 refresh_interval_s=3600), known=(qemu,))
    runner = JobRunner()
    main = MainWindow(registry, runner)
    qtbot.addWidget(main)
    main.show()
    backend = registry.open("qemu")
    machine_id = backend.create(guest_spec("lost disc", iso), progress=no_progress,
                                cancel=CancelToken())
    try:
        iso.unlink()  # the user deleted the downloaded installer
        main.start()
        qtbot.waitUntil(lambda: state_of(main, machine_id) is PowerState.OFF, timeout=30_000)
        main.select(("localhost", "qemu", machine_id))
        qtbot.waitUntil(main.machine_actions["start"].isEnabled, timeout=5000)
        main.machine_actions["start"].trigger()
        box = the_box(qtbot)
        assert "installer.iso does not exist" in box.text()
        assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
        button(box, "eject-and-start").click()
        qtbot.waitUntil(lambda: backend.get_machine(machine_id).state is PowerState.RUNNING,
                        timeout=60_000)
        assert [d.iso for _, d in backend.get_machine(machine_id).spec.all_optical()] == [""]
    finally:
        backend.power_off(machine_id) if backend.get_machine(machine_id).state.is_active \
            else None
        backend.delete(machine_id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())
        runner.cancel_all()
        runner.wait_for_done(10_000)


def test_choose_another_puts_the_new_disc_in_and_starts(qtbot, window, tmp_path):  # noqa: F811
    memory = window.registry.open("memory")
    real_start = memory.start

    def start_checking_files(machine_id, **kwargs):
        # QEMU's start checks the spec's files by the model's rule; the double does not.
        problems = [p for p in validate(memory.get_machine(machine_id).spec,
                                        memory.capabilities(), check_paths=True)
                    if p.field.endswith(".iso")]
        if problems:
            raise InvalidSpec(problems)
        real_start(machine_id, **kwargs)
    memory.start = start_checking_files
    from desktopvm.model import defaults_for

    spec = defaults_for("debian12", memory.capabilities(), name="web")
    spec = spec.model_copy(update={
        "firmware": FirmwareSpec(kind=Firmware.BIOS),
        "storage": (*spec.storage, StorageController(optical=(OpticalDrive(
            iso=str(tmp_path / "gone.iso")),)))})
    (tmp_path / "gone.iso").write_bytes(b"\0" * 2048)
    machine_id = memory.create(spec, progress=no_progress, cancel=CancelToken())
    (tmp_path / "gone.iso").unlink()
    other = tmp_path / "other.iso"
    other.write_bytes(b"\0" * 2048)
    window.operations.ask_iso_path = lambda: str(other)
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window._refreshing is None and window.model.machine_count() == 1,
                    timeout=5000)
    window.select(("localhost", "memory", machine_id))
    window.machine_actions["start"].trigger()
    box = the_box(qtbot)
    assert "gone.iso does not exist" in box.text()
    button(box, "choose-another-iso").click()
    qtbot.waitUntil(lambda: memory.get_machine(machine_id).state is PowerState.RUNNING,
                    timeout=5000)
    isos = [d.iso for _, d in memory.get_machine(machine_id).spec.all_optical()]
    assert isos == ["", str(other)]  # the drive that held the lost disc; the other untouched
