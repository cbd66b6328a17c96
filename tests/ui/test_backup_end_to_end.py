"""End to end on real QEMU (TCG) through the main window: Back up… a machine, see the set in
the Backups window, restore it as a new machine (the name clash offers a free name), change
the original's hardware, then restore over it (asked, default Cancel) and get it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from desktopvm.jobs import Job, JobRunner, JobState
from desktopvm.model import ControllerKind, defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.registry import KNOWN_BACKENDS, Registry
from desktopvm.settings import Settings
from desktopvm.ui.backup.backup_dialog import BackUpDialog
from desktopvm.ui.backup.restore_dialog import RestoreDialog
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.widget_lists import top_level_widgets

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def dialog_of(window: MainWindow, kind):
    return next((d for d in window.operations.open_dialogs if isinstance(d, kind)), None)


def confirm_box() -> QMessageBox | None:
    return next((w for w in top_level_widgets() if isinstance(w, QMessageBox)
                 and w.objectName() == "confirm-dialog" and w.isVisible()), None)


def finished_jobs(runner: JobRunner, title_start: str) -> list[Job]:
    return [j for j in runner.jobs if j.title.startswith(title_start) and j.state.is_done]


@pytest.fixture
def window(qtbot, tmp_path: Path):
    qemu = next(k for k in KNOWN_BACKENDS if k.name == "qemu")
    registry = Registry(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg",
                                 refresh_interval_s=3600), known=(qemu,))
    runner = JobRunner()
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    yield window
    runner.cancel_all()
    runner.wait_for_done(60_000)
    backend = registry.open("qemu")
    for machine in backend.list_machines():
        backend.delete(machine.id, delete_disks=True, progress=no_progress, cancel=CancelToken())
    registry.close()


def test_back_up_list_restore_as_new_and_over_the_original(qtbot, window, tmp_path: Path):
    backend = window.registry.open("qemu")
    spec = defaults_for("other-linux", backend.capabilities(), name="web")
    spec = spec.model_copy(update={"memory": spec.memory.model_copy(update={"size_mib": 128})})
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window.model.machine_count() == 1 and "qemu" in window.facts,
                    timeout=30_000)
    window.select(("localhost", "qemu", machine_id))
    qtbot.waitUntil(window.machine_actions["backup"].isEnabled, timeout=5000)

    folder = tmp_path / "backups"
    folder.mkdir()
    window.machine_actions["backup"].trigger()
    dialog = dialog_of(window, BackUpDialog)
    assert dialog is not None
    dialog.folder.setText(str(folder))
    dialog.ok.click()
    qtbot.waitUntil(lambda: bool(finished_jobs(window.runner, "Back up web")), timeout=60_000)
    [job] = finished_jobs(window.runner, "Back up web")
    assert job.state is JobState.SUCCEEDED, job.error
    assert job.result.kind == "full" and job.result.path.is_dir()

    backups = window.backups.show_backups()  # File → Backups…, the folder used last
    qtbot.waitUntil(lambda: backups.table.topLevelItemCount() == 1, timeout=10_000)
    backups.select(job.result.id)
    backups.restore_button.click()
    restore = dialog_of(window, RestoreDialog)
    assert restore is not None and restore.as_new.isChecked()
    assert not restore.ok.isEnabled()  # "web" is taken on QEMU
    restore.name.use_suggestion.click()
    assert restore.chosen_name() == "web-2"
    restore.ok.click()
    qtbot.waitUntil(lambda: bool(finished_jobs(window.runner, "Restore web-2")), timeout=60_000)
    [made] = finished_jobs(window.runner, "Restore web-2")
    assert made.state is JobState.SUCCEEDED, made.error
    restored = backend.get_machine(str(made.result))
    assert restored.spec.name == "web-2" and len(restored.files) == 1

    # The original's memory changes; restoring over it brings the backup's back.
    info = backend.get_machine(machine_id)
    changed = info.spec.model_copy(update={"memory": info.spec.memory.model_copy(
        update={"size_mib": 256})})
    backend.update(machine_id, info.spec, changed, progress=no_progress, cancel=CancelToken())
    window.refresh(with_facts=False)
    qtbot.waitUntil(lambda: window.model.machine_count() == 2, timeout=10_000)
    backups.select(job.result.id)
    backups.restore_button.click()
    over = dialog_of(window, RestoreDialog)
    assert over is not None and over.over.isEnabled()
    # A job reads the original's snapshots (none): "over" stays offered.
    qtbot.waitUntil(lambda: over.snapshots == 0, timeout=10_000)
    assert over.over.isEnabled()
    over.over.setChecked(True)
    over.ok.click()
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=5000)
    box = confirm_box()
    assert box is not None and box.defaultButton().text() == "Cancel"
    next(b for b in box.buttons() if b.text() == "Restore over it").click()
    qtbot.waitUntil(lambda: bool(finished_jobs(window.runner, "Restore web from")),
                    timeout=60_000)
    [back] = finished_jobs(window.runner, "Restore web from")
    assert back.state is JobState.SUCCEEDED, back.error
    assert backend.get_machine(machine_id).spec.memory.size_mib == 128
    backups.close()


def test_move_to_shows_the_real_mapping_report_first_then_moves(qtbot, tmp_path: Path):
    """QEMU to VirtualBox (the VBoxManage double): the report plan_copy makes, in the dialog,
    with nothing made on VirtualBox until OK; then, asked and answered, the move completes."""
    from desktopvm.testing.doubles.virtualbox.double import FakeVBox
    from desktopvm.ui.backup.transfer_dialog import TransferDialog

    vbox = FakeVBox(tmp_path / "vbox", "7.1")
    known = tuple(k for k in KNOWN_BACKENDS if k.name in ("qemu", "virtualbox"))
    registry = Registry(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg",
                                 refresh_interval_s=3600,
                                 vboxmanage_path=str(vbox.executable)), known=known)
    runner = JobRunner()
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    backend = registry.open("qemu")
    spec = defaults_for("other-linux", backend.capabilities(), name="web")
    # Its disks on SATA: OVF carries no VirtIO bus, so VirtualBox's import (and the stand-in's)
    # puts a VirtIO disk on SATA, and the restore does not move it back yet (reported).
    spec = spec.model_copy(update={"storage": tuple(
        c.model_copy(update={"kind": ControllerKind.SATA, "name": "SATA"})
        if c.kind is ControllerKind.VIRTIO else c for c in spec.storage)})
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    try:
        window.refresh(with_facts=True)
        qtbot.waitUntil(lambda: window.model.machine_count() == 1 and
                        {"qemu", "virtualbox"} <= set(window.facts), timeout=30_000)
        window.select(("localhost", "qemu", machine_id))
        qtbot.waitUntil(window.machine_actions["move_to"].isEnabled, timeout=5000)
        window.machine_actions["move_to"].trigger()
        dialog = dialog_of(window, TransferDialog)
        assert dialog is not None and dialog.chosen() is not None
        assert dialog.chosen().name == "virtualbox"  # the source's own connection is no target
        qtbot.waitUntil(lambda: dialog.fitting is not None, timeout=30_000)
        whats = [dialog.report.topLevelItem(i).text(0)
                 for i in range(dialog.report.topLevelItemCount())]
        assert "disk 1 format" in whats
        assert dialog.ok.isEnabled() and dialog.ok.text() == "Move"
        assert json.loads((vbox.folder / "state.json").read_text())["vms"] == {}
        # OK asks (default Cancel); yes moves it: the stand-in imports the restored OVF, the
        # copy's disk is compared with the backup, then the original is deleted.
        dialog.ok.click()
        qtbot.waitUntil(lambda: confirm_box() is not None, timeout=5000)
        box = confirm_box()
        assert box is not None and box.defaultButton().text() == "Cancel"
        next(b for b in box.buttons() if b.text() == "Move").click()
        qtbot.waitUntil(lambda: bool(finished_jobs(runner, "Move")), timeout=120_000)
        job = finished_jobs(runner, "Move")[0]
        assert job.state is JobState.SUCCEEDED, job.error
        assert backend.list_machines() == []
        vms = json.loads((vbox.folder / "state.json").read_text())["vms"]
        assert [vm["name"] for vm in vms.values()] == ["web"]
        qtbot.waitUntil(lambda: window.model.machine_count() == 1, timeout=30_000)
    finally:
        runner.cancel_all()
        runner.wait_for_done(60_000)
        if any(m.id == machine_id for m in backend.list_machines()):
            backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())
        registry.close()
