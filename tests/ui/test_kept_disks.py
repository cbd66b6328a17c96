"""Disks kept by a Delete are found again (review finding 15): the Delete's line in the
Operations panel links to their folder and stays until Clear finished; Settings → Storage →
Attach disk file… starts looking in the folder of the machines' folders (QEMU's library)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QLabel

from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.testing.doubles.memory_backend import CAPABILITIES, MemoryBackend
from desktopvm.ui.dialogs import DeleteDialog
from desktopvm.ui.jobs_panel import DETAILS
from desktopvm.ui.settings_dialog import SettingsDialog
from tests.ui.conftest import error_dialogs
from tests.ui.test_main_window import add, backend, refreshed, select, window
from tests.ui.test_settings_dialog import wait_for_disk_sizes

__all__ = ["window"]  # the fixture, used by name


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    folders: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        lambda url: folders.append(url.toLocalFile()))
    return folders


def delete(qtbot, window, machine_id: str, *, disks: bool):
    select(qtbot, window, machine_id)
    window.machine_actions["delete"].trigger()
    qtbot.waitUntil(lambda: any(isinstance(d, DeleteDialog) for d in
                                window.operations.open_dialogs), timeout=5000)
    dialog = next(d for d in window.operations.open_dialogs if isinstance(d, DeleteDialog))
    dialog.delete_disks.setChecked(disks)
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        dialog.delete_button.click()
    job = added.args[0]
    qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
    return job


def link_of(window, job) -> QLabel | None:
    panel = window.jobs_panel
    row = panel.model.row_of(job)
    widget = panel.view.indexWidget(panel.model.index(row, DETAILS)) if row >= 0 else None
    return widget if isinstance(widget, QLabel) else None


def test_kept_disks_are_a_show_files_link_that_stays(qtbot, window, opened):
    panel = window.jobs_panel
    panel.model.linger_ms = 0  # lines that ended well leave at once, unless they link
    gone_id, kept_id = add(window, "gone"), add(window, "kept")
    refreshed(qtbot, window, 2)
    files = [Path(p) for p in backend(window).get_machine(kept_id).files]
    with_disks = delete(qtbot, window, gone_id, disks=True)
    qtbot.waitUntil(lambda: panel.model.row_of(with_disks) < 0, timeout=3000)  # nothing kept
    job = delete(qtbot, window, kept_id, disks=False)
    qtbot.waitUntil(lambda: link_of(window, job) is not None, timeout=3000)
    label = link_of(window, job)
    assert label is not None and "Show files" in label.text()
    assert label.toolTip() == job.stage and str(files[0]) in job.stage
    assert job not in panel.model._leaving  # never timed to leave, as a failed line
    qtbot.wait(50)  # what lingers 0 ms has had its turn; a linking line is still there
    assert panel.model.row_of(job) >= 0
    label.linkActivated.emit("show-files")
    qtbot.waitUntil(lambda: opened == [str(files[0].parent)], timeout=3000)

    panel.model.clear_finished()  # the user's own Clear finished takes it away
    assert panel.model.row_of(job) < 0 and job not in panel.model.folders


def test_a_folder_gone_since_is_said_not_opened(qtbot, window, opened, tmp_path):
    folder = tmp_path / "moved-away"
    window.jobs_panel.show_folder(str(folder))
    qtbot.waitUntil(lambda: bool(error_dialogs()), timeout=3000)
    box = error_dialogs()[0]
    assert "no longer there" in box.text() and str(folder) in box.text()
    box.close()
    assert opened == []


def test_attach_disk_file_starts_in_the_library(qtbot, runner, make_facts, tmp_path,
                                               monkeypatch):
    memory = MemoryBackend(tmp_path / "machines")
    machine_id = memory.create(defaults_for("debian12", CAPABILITIES, name="web"),
                               progress=no_progress, cancel=CancelToken())
    library = tmp_path / "library"
    info = dataclasses.replace(memory.get_machine(machine_id), folder=str(library / machine_id))
    dialog = SettingsDialog(make_facts(memory), info, runner, lambda _name: memory)
    qtbot.addWidget(dialog)
    dialog.show()
    wait_for_disk_sizes(qtbot, dialog)
    looked: list[str] = []
    kept = library / "0d9d6d39" / "disk0.qcow2"  # a deleted machine's disk
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps({"format": "qcow2", "size": 1024**3}))

    def ask(_parent, _title, start, _filter):
        looked.append(start)
        return str(kept), ""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", ask)
    dialog.storage.attach_button.click()
    add_dialog = dialog.storage.add_dialog
    assert add_dialog is not None
    add_dialog.editor.path.browse.click()
    assert looked == [str(library)]
    assert add_dialog.editor.path.path() == str(kept)
    add_dialog.editor.path.browse.click()  # with a file chosen, Browse… starts from it
    assert looked[-1] == str(kept)
    add_dialog.reject()
