"""The backup dialogs and the Backups window offscreen: what they allow, what they ask, and
that every read and call runs as a job (the GUI thread never waits on the folder or a tool).

Sets are made by the real backup engine from the capturing double of tests/backup (real qcow2
files written by qemu-img); the memory backend stands in for connections."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QTreeWidget, QTreeWidgetItem

from desktopvm.backup import BackupSet, back_up, list_backups
from desktopvm.jobs import JobRunner, JobState
from desktopvm.model import MachineSpec
from desktopvm.model.porting import Change, Fitting
from desktopvm.protocol import CancelToken, MachineSummary, PowerState, no_progress
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from desktopvm.ui.actions import MACHINE_ACTIONS
from desktopvm.ui.backup import backups_window
from desktopvm.ui.backup.backup_dialog import BackUpDialog
from desktopvm.ui.backup.backups_window import BackupsWindow
from desktopvm.ui.backup.restore_dialog import RestoreDialog
from desktopvm.ui.backup.transfer_dialog import TransferDialog
from desktopvm.ui.widget_lists import top_level_widgets
from tests.backup.doubles import MIB, CaptureDouble


def summary(state: PowerState = PowerState.OFF, name: str = "web",
            backend: str = "memory") -> MachineSummary:
    return MachineSummary(backend=backend, id="m1", name=name, state=state)


def row(tree: QTreeWidget, index: int) -> QTreeWidgetItem:
    item = tree.topLevelItem(index)
    assert item is not None
    return item


def confirm_box() -> QMessageBox | None:
    return next((w for w in top_level_widgets() if isinstance(w, QMessageBox)
                 and w.objectName() == "confirm-dialog" and w.isVisible()), None)


def answer(qtbot, button_text: str) -> None:
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=3000)
    box = confirm_box()
    assert box is not None
    assert box.defaultButton().text() == "Cancel"  # the default keeps everything
    next(b for b in box.buttons() if b.text() == button_text).click()


# -- Back up… -------------------------------------------------------------------------------
def test_backup_action_follows_state_and_capabilities(memory_backend: MemoryBackend):
    rule = next(a for a in MACHINE_ACTIONS if a.key == "backup").enabled
    caps = memory_backend.capabilities()
    live = caps.model_copy(update={"backup_running": True})
    assert rule([(summary(PowerState.OFF), caps)])
    assert not rule([(summary(PowerState.RUNNING), caps)])
    assert rule([(summary(PowerState.RUNNING), live)])
    assert not rule([(summary(PowerState.STARTING), live)])
    assert not rule([(summary(), caps), (summary(), caps)])  # one machine at a time
    for key in ("copy_to", "move_to"):
        other = next(a for a in MACHINE_ACTIONS if a.key == key).enabled
        assert other([(summary(PowerState.OFF), caps)])
        assert not other([(summary(PowerState.RUNNING), live)])


def test_backup_dialog_needs_a_folder_and_a_state_that_allows_it(qtbot, memory_backend,
                                                                 tmp_path: Path):
    caps = memory_backend.capabilities().model_copy(update={"backup_incremental": True})
    dialog = BackUpDialog(summary(), caps, schedule_system="systemd user timer", folder="")
    qtbot.addWidget(dialog)
    assert not dialog.ok.isEnabled()
    dialog.folder.setText("relative/folder")
    assert not dialog.ok.isEnabled() and "full path" in dialog.problem.text()
    dialog.folder.setText(str(tmp_path))
    assert dialog.ok.isEnabled() and dialog.chosen_folder() == tmp_path
    assert dialog.incremental.isChecked() and dialog.compress.isChecked()
    dialog.schedule.setChecked(True)
    assert dialog.ok.text() == "Back up and schedule"
    dialog.at.setTime(dialog.at.time().fromString("22:15", "HH:mm"))
    assert (dialog.every_value(), dialog.at_value()) == ("daily", "22:15")

    running = BackUpDialog(summary(PowerState.RUNNING), caps, folder=str(tmp_path))
    qtbot.addWidget(running)
    assert not running.ok.isEnabled() and "shut it down first" in running.problem.text()
    assert not running.schedule.isEnabled()  # no scheduler named: nothing to offer
    live = BackUpDialog(summary(PowerState.RUNNING),
                        caps.model_copy(update={"backup_running": True}), folder=str(tmp_path))
    qtbot.addWidget(live)
    assert live.ok.isEnabled() and not live.note.isHidden()
    full_only = BackUpDialog(summary(), caps.model_copy(update={"backup_incremental": False}),
                             folder=str(tmp_path))
    qtbot.addWidget(full_only)
    assert full_only.full.isChecked() and not full_only.incremental.isEnabled()


def test_the_own_format_choice_names_the_format_and_makes_the_backup_full(
        qtbot, memory_backend, tmp_path):
    caps = memory_backend.capabilities().model_copy(update={"backup_incremental": True})
    dialog = BackUpDialog(summary(backend="hyperv@hv01"), caps, folder=str(tmp_path))
    qtbot.addWidget(dialog)
    assert "(VHDX)" in dialog.own_format.text() and not dialog.own_format.isChecked()
    assert dialog.incremental.isChecked() and dialog.compress.isEnabled()
    dialog.own_format.setChecked(True)
    assert dialog.full.isChecked() and not dialog.incremental.isEnabled()
    assert not dialog.compress.isEnabled()  # VHDX is not compressed
    dialog.own_format.setChecked(False)
    assert dialog.incremental.isEnabled() and dialog.compress.isEnabled()
    qemu = BackUpDialog(summary(backend="qemu"), caps, folder=str(tmp_path))
    qtbot.addWidget(qemu)
    qemu.own_format.setChecked(True)
    assert "(QCOW2)" in qemu.own_format.text() and qemu.compress.isEnabled()
    vbox = BackUpDialog(summary(backend="virtualbox"), caps, folder=str(tmp_path))
    qtbot.addWidget(vbox)
    assert "(VDI or VMDK)" in vbox.own_format.text()


# -- the Backups window ------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two sets of one machine (full, then incremental on it), made by the real engine."""
    machine = CaptureDouble(tmp_path / "machine", (2 * MIB,), name="db server")
    machine.write(0, 0, 4096, 0x11)
    destination = tmp_path / "backups"
    destination.mkdir()
    for _ in range(2):
        back_up(machine, "m1", destination, progress=no_progress,  # type: ignore[arg-type]
                cancel=CancelToken())
        machine.write(0, MIB, 4096, 0x22)
    return destination


def shown(qtbot, window: BackupsWindow) -> None:
    with qtbot.waitSignal(window.listed, timeout=5000):
        window.reload()


def test_backups_window_lists_sets_and_deletes_only_what_nothing_needs(qtbot, runner, folder):
    window = BackupsWindow(runner, folder=str(folder))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.table.topLevelItemCount() == 2, timeout=5000)
    full, incremental = (row(window.table, i) for i in range(2))
    assert window.status.text() == "2 sets"
    assert [full.text(c) for c in (0, 2, 5, 6)] == ["db server", "full", "running", ""]
    assert incremental.text(2) == "incremental"
    first: BackupSet = full.data(0, backups_window.SetRole)
    window.select(first.id)
    assert not window.delete_button.isEnabled()  # the incremental set depends on it
    assert "depends on it" in window.delete_button.toolTip()
    assert window.restore_button.isEnabled() and window.verify_button.isEnabled()
    second: BackupSet = incremental.data(0, backups_window.SetRole)
    window.select(second.id)
    assert window.delete_button.isEnabled()
    window.delete_selected()
    answer(qtbot, "Cancel")
    assert second.path.is_dir()  # no: kept
    window.delete_selected()
    answer(qtbot, "Delete")
    qtbot.waitUntil(lambda: window.table.topLevelItemCount() == 1, timeout=5000)
    assert not second.path.exists() and first.path.is_dir()
    assert window.status.text() == "1 set"


def test_a_damaged_set_shows_its_problem_and_cannot_be_restored(qtbot, runner, folder):
    sets = list_backups(folder)
    (sets[0].path / "backup.json").write_text("{broken")
    window = BackupsWindow(runner, folder=str(folder))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.table.topLevelItemCount() == 2, timeout=5000)
    problems = [row(window.table, i).text(6) for i in range(2)]
    assert all("damaged" in text for text in problems)  # the second has lost its parent
    assert "2 damaged" in window.status.text()
    window.select(sets[1].id)
    assert not window.restore_button.isEnabled() and window.verify_button.isEnabled()
    job = window.verify_selected()
    assert job is not None
    qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
    assert job.state is JobState.FAILED and "damaged" in window.status.text()


def test_verify_reports_a_sound_set(qtbot, runner, folder):
    window = BackupsWindow(runner, folder=str(folder))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.table.topLevelItemCount() == 2, timeout=5000)
    window.select(list_backups(folder)[1].id)
    job = window.verify_selected()
    assert job is not None
    qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
    assert job.state is JobState.SUCCEEDED and "verified" in window.status.text()


def test_listing_never_blocks_the_gui_thread(qtbot, runner: JobRunner, folder,
                                            monkeypatch: pytest.MonkeyPatch):
    """A folder on a share that hangs: the window opens, answers, and lists once it can."""
    release = threading.Event()
    real = list_backups

    def hanging(path: Path) -> list[BackupSet]:
        release.wait(10)
        return real(path)
    monkeypatch.setattr(backups_window, "list_backups", hanging)
    window = BackupsWindow(runner, folder=str(folder))  # returns while the listing hangs
    qtbot.addWidget(window)
    job = window._list_job
    assert job is not None and job.state is JobState.RUNNING
    assert "Reading" in window.status.text()
    QApplication.processEvents()  # the event loop is free meanwhile
    release.set()
    qtbot.waitUntil(lambda: window.table.topLevelItemCount() == 2, timeout=5000)


def test_prune_previews_then_deletes_with_the_same_numbers(qtbot, runner, folder, tmp_path):
    from desktopvm.ui.backup.prune_dialog import PruneDialog

    sets = list_backups(folder)
    dialog = PruneDialog(runner, folder, sets[0].machine_key, "db server")
    qtbot.addWidget(dialog)
    # keep-last 7 (the default) keeps both
    qtbot.waitUntil(lambda: dialog._shown is not None, timeout=5000)
    assert dialog.doomed.count() == 0 and not dialog.ok.isEnabled()
    with qtbot.waitSignal(dialog.previewed, timeout=5000):
        dialog.retention.keep_last.setValue(1)  # the full set stays: the kept one needs it
    assert dialog.doomed.count() == 0
    assert all(s.path.is_dir() for s in sets)
    again = CaptureDouble(tmp_path / "machine", (2 * MIB,), name="db server")
    newest = back_up(again, "m1", folder, incremental=False,  # type: ignore[arg-type]
                     progress=no_progress, cancel=CancelToken())
    assert newest.kind == "full"
    with qtbot.waitSignal(dialog.previewed, timeout=5000):
        dialog.retention.keep_last.setValue(2)
    with qtbot.waitSignal(dialog.previewed, timeout=5000):
        dialog.retention.keep_last.setValue(1)
    assert dialog.doomed.count() == 2 and dialog.ok.isEnabled()
    assert dialog.ok.text() == "Delete 2 sets"
    assert dialog.summary.text().startswith("2 sets would be deleted.")
    dialog.ok.click()
    qtbot.waitUntil(lambda: [s.id for s in list_backups(folder)] == [newest.id], timeout=5000)


# -- Restore… -------------------------------------------------------------------------------
def a_set(tmp_path: Path) -> BackupSet:
    return BackupSet(path=tmp_path, id="20260101T000000Z-full", machine_key="k" * 64,
                     machine_name="web", source="memory",
                     created=datetime(2026, 1, 1, tzinfo=UTC), kind="full", parent="",
                     was_running=False, size_bytes=1, spec=MachineSpec(name="web"))


def test_restore_defaults_to_a_new_machine_with_the_name_checked(qtbot, make_facts,
                                                                memory_backend, tmp_path):
    facts = make_facts(memory_backend)
    dialog = RestoreDialog(a_set(tmp_path), [facts], "memory", lambda f: ["web", "web-2"])
    qtbot.addWidget(dialog)
    assert dialog.as_new.isChecked()
    assert not dialog.ok.isEnabled()  # "web" is taken there
    assert "web-3" in dialog.name.use_suggestion.text()
    dialog.name.use_suggestion.click()
    assert dialog.chosen_name() == "web-3" and dialog.ok.isEnabled()
    assert not dialog.over.isEnabled()  # the original is gone
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        dialog.ok.click()


def test_restore_over_the_original_asks_and_defaults_to_keeping_it(qtbot, make_facts,
                                                                  memory_backend, tmp_path):
    facts = make_facts(memory_backend)
    original = summary(PowerState.OFF, backend="qemu")
    dialog = RestoreDialog(a_set(tmp_path), [facts], "memory", lambda f: ["web"],
                           original=original)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.over.setChecked(True)
    assert dialog.ok.isEnabled()
    accepted: list[bool] = []
    dialog.accepted.connect(lambda: accepted.append(True))
    dialog.ok.click()
    answer(qtbot, "Cancel")
    assert not accepted
    dialog.ok.click()
    answer(qtbot, "Restore over it")
    qtbot.waitUntil(lambda: bool(accepted), timeout=2000)
    running = RestoreDialog(a_set(tmp_path), [facts], "memory", lambda f: [],
                            original=summary(PowerState.RUNNING, backend="qemu"))
    qtbot.addWidget(running)
    assert not running.over.isEnabled() and "shut it down first" in running.over_note.text()


def test_restore_over_a_machine_with_snapshots_is_greyed_once_they_are_known(
        qtbot, make_facts, memory_backend, tmp_path):
    dialog = RestoreDialog(a_set(tmp_path), [make_facts(memory_backend)], "memory",
                           lambda f: [], original=summary(PowerState.OFF, backend="qemu"))
    qtbot.addWidget(dialog)
    dialog.over.setChecked(True)
    assert dialog.over.isEnabled() and dialog.ok.isEnabled()  # not known yet: restore_over checks
    dialog.set_snapshots(2)
    assert not dialog.over.isEnabled() and dialog.as_new.isChecked()
    assert "has snapshots" in dialog.over.toolTip() and "has snapshots" in dialog.over_note.text()
    dialog.set_snapshots(0)
    assert dialog.over.isEnabled() and dialog.over.toolTip() == ""


@pytest.mark.parametrize("backend", ["virtualbox", "hyperv@hv01.lab.example", "memory"])
def test_restore_over_is_offered_only_where_it_can_be_done(qtbot, make_facts, memory_backend,
                                                           tmp_path, backend: str):
    """restore_over swaps disk files: QEMU's only (desktopvm.backup.over.FILE_KINDS); anywhere
    else the choice is greyed with the reason, also in its tooltip."""
    dialog = RestoreDialog(a_set(tmp_path), [make_facts(memory_backend)], "memory",
                           lambda f: [], original=summary(PowerState.OFF, backend=backend))
    qtbot.addWidget(dialog)
    assert not dialog.over.isEnabled()
    assert "cannot be restored in place" in dialog.over.toolTip()
    assert dialog.over.toolTip() == dialog.over_note.text()
    dialog.over.setChecked(True)
    assert not dialog.ok.isEnabled()


# -- Copy to… / Move to… --------------------------------------------------------------------
REPORT = Fitting(spec=MachineSpec(name="web"), changes=(
    Change("disk 1 bus", "IDE", "SCSI", "Hyper-V generation 2 boots from SCSI"),
    Change("firmware", "BIOS", "UEFI", "generation 2 needs UEFI")), blockers=())


def transfer(qtbot, make_facts, memory_backend, plan, *, move: bool = False,
             host: str = "localhost", name: str = "") -> TransferDialog:
    from dataclasses import replace

    facts = make_facts(memory_backend)
    target = replace(facts, host=host, name=name or facts.name)
    dialog = TransferDialog(summary(), "QEMU", [target], plan=plan, runner=qtbot.runner,
                            taken=lambda f: [], move=move)
    qtbot.addWidget(dialog)
    return dialog


@pytest.fixture
def with_runner(qtbot, runner):
    qtbot.runner = runner
    return qtbot


def test_the_report_comes_first_and_blockers_block(with_runner, make_facts, memory_backend):
    qtbot = with_runner
    release = threading.Event()

    def slow_plan(target: str) -> Fitting:
        release.wait(10)
        return REPORT
    dialog = transfer(qtbot, make_facts, memory_backend, slow_plan)
    # Planning runs in a job: the dialog is up, saying so, and OK waits for the report.
    assert "Working out what changes" in dialog.status.text() and not dialog.ok.isEnabled()
    with qtbot.waitSignal(dialog.planned, timeout=5000):
        release.set()
    rows = [[row(dialog.report, i).text(c) for c in range(4)] for i in range(2)]
    assert rows[0] == ["disk 1 bus", "IDE", "SCSI", "Hyper-V generation 2 boots from SCSI"]
    assert dialog.ok.isEnabled() and dialog.ok.text() == "Copy"

    blocked = Fitting(spec=REPORT.spec, changes=(), blockers=("The target has no disk bus.",))
    other = transfer(qtbot, make_facts, memory_backend, lambda target: blocked)
    qtbot.waitUntil(lambda: other.fitting is not None, timeout=5000)
    assert not other.ok.isEnabled() and "no disk bus" in other.blockers.text()


def test_move_asks_and_says_when_the_source_goes(with_runner, make_facts, memory_backend):
    qtbot = with_runner
    dialog = transfer(qtbot, make_facts, memory_backend, lambda target: REPORT, move=True)
    dialog.show()
    assert "only after the copy has been made and checked" in dialog.warning.text()
    assert "disk sizes" not in dialog.warning.text()  # here: the disks' bytes are compared
    elsewhere = transfer(qtbot, make_facts, memory_backend, lambda target: REPORT, move=True,
                         host="hv01.lab.example")
    assert "On hv01.lab.example only the copy's hardware and disk sizes can be checked" \
        in elsewhere.warning.text()
    hyperv = transfer(qtbot, make_facts, memory_backend, lambda target: REPORT, move=True,
                      host="hv01.lab.example", name="hyperv@hv01.lab.example")
    assert "each disk file by SHA-256 as it is copied there" in hyperv.warning.text()
    copying = transfer(qtbot, make_facts, memory_backend, lambda target: REPORT)
    assert copying.warning.text() == "The original stays as it is."
    qtbot.waitUntil(dialog.ok.isEnabled, timeout=5000)
    accepted: list[bool] = []
    dialog.accepted.connect(lambda: accepted.append(True))
    dialog.ok.click()
    answer(qtbot, "Cancel")
    assert not accepted
    dialog.ok.click()
    answer(qtbot, "Move")
    qtbot.waitUntil(lambda: bool(accepted), timeout=2000)


def test_names_in_the_dialogs_words_are_shown_as_written(with_runner, make_facts,
                                                         memory_backend, tmp_path):
    """One label helper for the three dialogs: plain text, so a name such as "<b>web" is
    never read as markup (and wrapped)."""
    qtbot = with_runner
    restore = RestoreDialog(a_set(tmp_path), [make_facts(memory_backend)], "memory",
                            lambda f: [])
    qtbot.addWidget(restore)
    move = transfer(qtbot, make_facts, memory_backend, lambda target: REPORT, move=True)
    backup = BackUpDialog(summary(name="<b>web"), None)
    qtbot.addWidget(backup)
    labels = [restore.over_note, move.warning, move.status, backup.problem]
    assert all(label.textFormat() is Qt.TextFormat.PlainText and label.wordWrap()
               for label in labels)


# -- the main window's wiring ------------------------------------------------------------------
def test_back_up_and_schedule_from_the_window(qtbot, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch):
    """Back up… with the schedule ticked: the backup and the scheduler tool each run as a job;
    the unit the stand-in systemctl was asked to enable runs `backup CONNECTION:NAME --to DIR`
    with the dialog's choices."""
    import os
    import stat

    from desktopvm.model import defaults_for
    from desktopvm.registry import KnownBackend, Registry
    from desktopvm.schedule import systemd
    from desktopvm.settings import Settings
    from desktopvm.ui.main_window import MainWindow

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr("sys.platform", "linux")
    memory = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(memory,))
    runner = JobRunner()
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    backend = registry.open("memory")
    machine_id = backend.create(defaults_for("debian12", backend.capabilities(), name='a "b"'),
                                progress=no_progress, cancel=CancelToken())
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window.model.machine_count() == 1 and "memory" in window.facts,
                    timeout=5000)
    window.select(("localhost", "memory", machine_id))
    qtbot.waitUntil(window.machine_actions["backup"].isEnabled, timeout=5000)
    failures: list[object] = []
    monkeypatch.setattr(window.operations, "failed", lambda title, error: failures.append(error))
    window.machine_actions["backup"].trigger()
    dialog = next(d for d in window.operations.open_dialogs if isinstance(d, BackUpDialog))
    folder = tmp_path / "backups"
    folder.mkdir()
    dialog.folder.setText(str(folder))
    dialog.full.setChecked(True)
    dialog.schedule.setChecked(True)
    dialog.every.setCurrentIndex(dialog.every.findData("weekly"))
    dialog.retention.keep_last.setValue(3)
    dialog.ok.click()
    qtbot.waitUntil(lambda: len([j for j in runner.jobs if j.state.is_done
                                 and not j.background]) == 2, timeout=10_000)
    [unit] = (tmp_path / "config" / "systemd" / "user").glob("*.service")
    exec_line = next(line for line in unit.read_text().splitlines()
                     if line.startswith("ExecStart="))
    argv = systemd.split(exec_line[len("ExecStart="):])
    assert argv[argv.index("backup"):] == ["backup", 'memory:a "b"', "--to", str(folder),
                                           "--scheduled", "--full", "--keep-last", "3"]
    assert "enable --now" in log.read_text()

    # Opened again, the dialog says what is scheduled (read in a job) and can stop it.
    window.machine_actions["backup"].trigger()
    again = next(d for d in window.operations.open_dialogs if isinstance(d, BackUpDialog))
    qtbot.waitUntil(lambda: not again.scheduled.isHidden(), timeout=5000)
    assert "every Monday at 03:00" in again.scheduled.text() and "last 3" in again.scheduled.text()
    # ... and how the last backup went (the run log, read in a job).
    qtbot.waitUntil(lambda: not again.last_run.isHidden(), timeout=5000)
    [job] = [j for j in runner.jobs if j.title.startswith("Back up ")]
    said = f"failed: {getattr(job.error, 'summary', job.error)}" if job.error else "full set "
    assert again.last_run.text().startswith("Last backup: ")
    assert f", by hand — {said}" in again.last_run.text()
    assert again.every_value() == "weekly" and again.retention.keep_last.value() == 3
    again.unschedule.click()
    qtbot.waitUntil(again.scheduled.isHidden, timeout=5000)
    assert not unit.exists() and "disable --now" in log.read_text()
    again.reject()
    runner.cancel_all()
    runner.wait_for_done(10_000)


def test_the_backup_handlers_use_only_what_operations_makes_public():
    """desktopvm/ui/backup calls Operations through its public methods (review 20, finding 13):
    no `operations._name` anywhere in the package's code."""
    import ast

    import desktopvm.ui.backup as package

    private = []
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                owner = node.value
                named = owner.attr if isinstance(owner, ast.Attribute) else \
                    owner.id if isinstance(owner, ast.Name) else ""
                if named == "operations":
                    private.append(f"{path.name}:{node.lineno} operations.{node.attr}")
    assert private == []
