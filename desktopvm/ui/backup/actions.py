"""What Back up…, Backups…, Restore…, Copy to… and Move to… do in the main window: open the
dialog, then run the work as a job (backups, restores, copies and the scheduler tool alike).

The backup engine, the model and the dialogs are imported by the handlers that need them: the
main window's first paint loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from desktopvm import schedule as scheduling
from desktopvm.printable import printable
from desktopvm.protocol import Backend, BackendError, CancelToken, MachineSummary, Progress
from desktopvm.schedule import runs
from desktopvm.ui.backup.run_notice import RunNotice
from desktopvm.units import format_size

if TYPE_CHECKING:
    from desktopvm.backup import BackupSet
    from desktopvm.jobs import Job
    from desktopvm.model import Capabilities
    from desktopvm.model.porting import Fitting
    from desktopvm.ui.backup.backup_dialog import BackUpDialog
    from desktopvm.ui.backup.backups_window import BackupsWindow
    from desktopvm.ui.backup.restore_dialog import RestoreDialog
    from desktopvm.ui.main_window import MainWindow


def back_up_into(backend: Backend, machine_id: str, folder: Path, *, reference: str,
                 incremental: bool, compress: bool, own_format: bool = False,
                 progress: Progress, cancel: CancelToken) -> BackupSet:
    """In a job: a set of the machine in `folder`, which must exist (an unplugged drive's
    mount point is not filled instead). The outcome is noted in the run log under
    `reference` (CONNECTION:NAME, as schedules name machines)."""
    from desktopvm.backup import back_up

    try:
        if not folder.is_dir():
            raise BackendError(f"{folder} is not a folder that exists (is the drive "
                               "connected?)")
        made = back_up(backend, machine_id, folder, incremental=incremental,
                       compress=compress, own_format=own_format, progress=progress,
                       cancel=cancel)
    except BaseException as error:
        runs.record(reference, str(folder), ok=False, line=runs.error_line(error))
        raise
    runs.record(reference, str(folder), ok=True,
                line=runs.made_line(made.kind, made.id, format_size(made.size_bytes)))
    progress(1.0, f"{made.kind.capitalize()} backup {made.id}, {format_size(made.size_bytes)}")
    return made


class BackupActions:
    """The backup handlers of one main window."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.tr = window.tr
        self.windows: list[BackupsWindow] = []
        self.notice = RunNotice(window.runner)  # scheduled runs that failed meanwhile
        window.statusBar().addPermanentWidget(self.notice)

    def _caps(self, machine: MachineSummary) -> Capabilities | None:
        facts = self.window.facts.get(machine.backend)
        return facts.capabilities if facts else None

    # -- Back up… ---------------------------------------------------------------------------
    def do_backup(self, machines: list[MachineSummary]) -> None:
        from desktopvm.ui.backup.backup_dialog import BackUpDialog

        machine = machines[0]
        dialog = BackUpDialog(machine, self._caps(machine), self.window,
                              schedule_system=scheduling.system_name())
        dialog.accepted.connect(lambda: self._backup_accepted(machine, dialog))
        self.window.operations.keep(dialog)
        reference = f"{machine.backend}:{machine.name}"
        job = self.window.runner.submit(self.tr("Read the last backup run"),
                                        lambda _p, _c: runs.last_run(reference), background=True)
        job.succeeded.connect(dialog.show_last_run)
        if scheduling.system_name():
            self._read_schedule(dialog, reference)
            dialog.unschedule.clicked.connect(lambda: self._unschedule(dialog, reference))

    def _read_schedule(self, dialog: BackUpDialog, reference: str) -> None:
        """Ask the operating system what it has scheduled for the machine (a job: it runs
        systemctl or schtasks); the dialog says so. No scheduler answer: nothing is said."""
        def read(progress: Progress, cancel: CancelToken) -> scheduling.Schedule | None:
            found = [e.schedule for e in scheduling.entries()
                     if e.schedule is not None and e.schedule.machine == reference]
            return found[0] if found else None

        job = self.window.runner.submit(self.tr("Read the backup schedule"), read,
                                        background=True)
        job.succeeded.connect(dialog.show_scheduled)

    def _unschedule(self, dialog: BackUpDialog, reference: str) -> Job:
        """Remove the machine's scheduled backups (a job); the dialog forgets them after."""
        def remove(progress: Progress, cancel: CancelToken) -> None:
            try:
                scheduling.remove(reference)
            except scheduling.ScheduleError as error:
                raise BackendError(str(error)) from None
            progress(1.0, "Scheduled backups stopped")

        job = self.window.runner.submit(
            self.tr("Stop scheduled backups of %1").replace("%1", printable(reference)), remove)
        job.succeeded.connect(lambda _: dialog.show_scheduled(None))
        job.failed.connect(lambda error: self.window.operations.failed(
            self.tr("Stop scheduled backups"), error))
        return job

    def _backup_accepted(self, machine: MachineSummary, dialog: object) -> None:
        from desktopvm.ui.backup.backup_dialog import BackUpDialog, remember_folder

        assert isinstance(dialog, BackUpDialog)
        folder = dialog.chosen_folder()
        if folder is None:
            return
        remember_folder(str(folder))
        incremental, compress = dialog.incremental.isChecked(), dialog.compress.isChecked()
        own_format = dialog.own_format.isChecked()
        name = printable(machine.name)
        self.window.operations.submit(
            self.tr("Back up %1").replace("%1", name), machine,
            lambda b, p, c: back_up_into(b, machine.id, folder, incremental=incremental,
                                         compress=compress, own_format=own_format,
                                         progress=p, cancel=c,
                                         reference=f"{machine.backend}:{machine.name}"))
        if dialog.schedule.isChecked():
            keep_last, daily, weekly = dialog.retention.values()
            try:
                entry = scheduling.Schedule(
                    f"{machine.backend}:{machine.name}", str(folder), dialog.every_value(),
                    dialog.at_value(), keep_last=keep_last, daily=daily, weekly=weekly,
                    full=not incremental, compress=compress, own_format=own_format)
            except scheduling.ScheduleError as error:
                from desktopvm.ui.error_dialog import show_error

                show_error(self.window, self.tr("Schedule backups"), str(error))
                return
            self.schedule(entry)

    def schedule(self, entry: scheduling.Schedule) -> Job:
        """Set the entry up with the operating system's scheduler, in a job (it runs a tool)."""
        def install(progress: Progress, cancel: CancelToken) -> str:
            try:
                name = scheduling.install(entry)
            except scheduling.ScheduleError as error:
                raise BackendError(str(error)) from None
            progress(1.0, f"Scheduled {entry.when()} ({name})")
            return name

        job = self.window.runner.submit(
            self.tr("Schedule backups of %1").replace("%1", printable(entry.machine)), install)
        job.failed.connect(lambda error: self.window.operations.failed(
            self.tr("Schedule backups"), error))
        return job

    # -- Backups… ---------------------------------------------------------------------------
    def show_backups(self, machine: MachineSummary | None = None) -> BackupsWindow:
        """The Backups window: every set of the folder, or one machine's."""
        from desktopvm.backup import machine_key
        from desktopvm.ui.backup.backups_window import BackupsWindow

        key = machine_key(machine.backend, machine.id) if machine else ""
        window = BackupsWindow(self.window.runner, self.window, machine_key=key)
        if machine is not None:
            window.setWindowTitle(self.tr("Backups of %1").replace("%1", printable(machine.name)))
        window.restore_requested.connect(self.restore)
        self.windows.append(window)
        window.finished.connect(lambda _: self.windows.remove(window))
        window.show()
        return window

    def do_backups(self, machines: list[MachineSummary]) -> None:
        self.show_backups(machines[0] if len(machines) == 1 else None)

    # -- Restore… ---------------------------------------------------------------------------
    def original_of(self, backup: BackupSet) -> MachineSummary | None:
        """The machine the set was made of, if the tree still lists it."""
        from desktopvm.backup import machine_key

        return next((m for m in self.window.model.machines_of(backup.source)
                     if machine_key(backup.source, m.id) == backup.machine_key), None)

    def restore(self, backup: BackupSet) -> None:
        from desktopvm.ui.backup.restore_dialog import RestoreDialog

        operations = self.window.operations
        usable = [f for f in operations.connections() if f.available]
        names = [f.name for f in usable]
        default = backup.source if backup.source in names else \
            operations.default_connection(usable)
        original = self.original_of(backup)
        dialog = RestoreDialog(backup, usable, default, operations.taken_names, self.window,
                               original=original)
        dialog.accepted.connect(lambda: self._restore_accepted(backup, dialog))
        operations.keep(dialog)
        if original is not None and dialog.over.isEnabled():
            self._read_snapshots(dialog, original)

    def _read_snapshots(self, dialog: RestoreDialog, original: MachineSummary) -> Job:
        """How many snapshots the original has (a job: it asks the backend); the dialog
        greys "over the original" when it has any, as restore_over would refuse it."""
        registry = self.window.registry

        def count(progress: Progress, cancel: CancelToken) -> int:
            return len(registry.open(original.backend).get_machine(original.id).snapshots)

        job = self.window.runner.submit(
            self.tr("Read the snapshots of %1").replace("%1", printable(original.name)), count,
            background=True)
        job.succeeded.connect(dialog.set_snapshots)
        return job

    def _restore_accepted(self, backup: BackupSet, dialog: object) -> None:
        from desktopvm.backup import restore, restore_over
        from desktopvm.ui.backup.restore_dialog import RestoreDialog

        assert isinstance(dialog, RestoreDialog)
        operations = self.window.operations
        if dialog.over.isChecked() and dialog.original is not None:
            original = dialog.original
            operations.submit(
                self.tr("Restore %1 from its backup").replace("%1", printable(original.name)),
                original, lambda b, p, c: restore_over(backup.path, b, original.id, progress=p,
                                                       cancel=c),
                done=self.tr("Restored from the backup of %1").replace(
                    "%1", backup.created.astimezone().strftime("%Y-%m-%d %H:%M")))
            return
        facts = dialog.chosen()
        if facts is None:
            return
        name = dialog.chosen_name()
        job = operations.submit(
            self.tr("Restore %1").replace("%1", printable(name)), None,
            lambda b, p, c: restore(backup.path, b, name=name, progress=p, cancel=c),
            backend_name=facts.name,
            done=self.tr("Restored as %1").replace("%1", printable(name)))
        job.succeeded.connect(lambda new_id: operations.select_new(facts.name, new_id))

    # -- Copy to… / Move to… ----------------------------------------------------------------
    def do_copy_to(self, machines: list[MachineSummary]) -> None:
        self._transfer(machines[0], move=False)

    def do_move_to(self, machines: list[MachineSummary]) -> None:
        self._transfer(machines[0], move=True)

    def _transfer(self, machine: MachineSummary, *, move: bool) -> None:
        from desktopvm.transfer import plan_copy
        from desktopvm.ui.backup.transfer_dialog import TransferDialog

        operations = self.window.operations
        registry = self.window.registry
        targets = [f for f in operations.connections()
                   if f.available and f.name != machine.backend]

        def plan(target: str) -> Fitting:
            return plan_copy(registry.open(machine.backend), machine.id, registry.open(target))

        dialog = TransferDialog(machine, self.window.facts[machine.backend].display_name
                                if machine.backend in self.window.facts else machine.backend,
                                targets, self.window, plan=plan, runner=self.window.runner,
                                taken=operations.taken_names, move=move)
        dialog.accepted.connect(lambda: self._transfer_accepted(machine, dialog, move))
        operations.keep(dialog)

    def _transfer_accepted(self, machine: MachineSummary, dialog: object, move: bool) -> None:
        from desktopvm.transfer import copy_to, move_to
        from desktopvm.ui.backup.transfer_dialog import TransferDialog

        assert isinstance(dialog, TransferDialog)
        facts = dialog.chosen()
        if facts is None:
            return
        operations, registry = self.window.operations, self.window.registry
        name, target = dialog.chosen_name(), facts.name
        call = move_to if move else copy_to
        title = (self.tr("Move %1 to %2") if move else self.tr("Copy %1 to %2")).replace(
            "%1", printable(machine.name)).replace("%2", facts.display_name)
        job = operations.submit(
            title, machine, lambda b, p, c: call(b, machine.id, registry.open(target), name=name,
                                                 progress=p, cancel=c),
            done=(self.tr("Moved; the original is deleted") if move
                  else self.tr("Copied as %1").replace("%1", printable(name))))
        job.succeeded.connect(lambda new_id: operations.select_new(target, new_id))

