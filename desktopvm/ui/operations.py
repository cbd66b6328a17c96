"""What the main window's actions do: ask when needed, then run the backend call as a job.

Dialogs are imported by the handlers that open them: none is needed for the window's first
paint, and importing a Qt dialog class makes PySide build its Python enums.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from desktopvm.connections import State
from desktopvm.jobs import Job
from desktopvm.printable import printable
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    MachineInfo,
    MachineSummary,
    PowerState,
    ProbeResult,
    Progress,
    StartMode,
)
from desktopvm.protocol.states import Operation, require
from desktopvm.ui.connection_refresh import record_failure
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.facts import BackendFacts, where

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog

    from desktopvm.ui.main_window import MainWindow

Work = Callable[[Backend, Progress, CancelToken], Any]
MachineCall = Callable[[Backend, str, Progress, CancelToken], Any]
SHUTDOWN_WAIT_S = 90.0  # how long Shut down waits for the guest to turn off
POLL_S = 1.0


def _shut_down(backend: Backend, machine_id: str, progress: Progress,
               cancel: CancelToken) -> None:
    """In a job: press the power button, then wait (bounded) until the machine is off. The job
    says honestly what happened: off, or only asked. Cancel (or another operation on the
    machine) stops the waiting, not the shutdown."""
    backend.shutdown(machine_id)
    progress(None, "Asked the guest to shut down; waiting for it to turn off…")
    deadline = time.monotonic() + SHUTDOWN_WAIT_S
    while not cancel.wait(POLL_S):
        state = backend.get_machine(machine_id).state
        if not state.is_active:
            progress(1.0, "Shut down" if state is PowerState.OFF else f"Stopped ({state.value})")
            return
        if time.monotonic() > deadline:
            progress(None, f"Asked to shut down; still running after {SHUTDOWN_WAIT_S:.0f} s "
                           "(the guest may ignore the power button; Power off forces it)")
            return
    progress(None, "Asked to shut down; stopped waiting before it turned off")


def _watched_shutdown(machine_id: str, backend: Backend, progress: Progress,
                      cancel: CancelToken) -> None:
    _shut_down(backend, machine_id, progress, cancel)


def _discard(backend: Backend, machine_id: str, progress: Progress, cancel: CancelToken) -> None:
    """In a job: discard a machine's saved state, if it still has one."""
    info = backend.get_machine(machine_id)
    require(Operation.DISCARD_SAVED_STATE, info.state, info.spec.name)
    backend.power_off(machine_id)


class Operations:
    """The action handlers of one main window."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.tr = window.tr
        # Hooks that tests replace: the file dialogs are the only blocking prompts.
        self.ask_save_path: Callable[[str], str] = self._ask_save_path
        self.ask_open_path: Callable[[], str] = self._ask_open_path
        self.ask_iso_path: Callable[[], str] = self._ask_iso_path
        self.open_dialogs: list[QDialog] = []
        self._shutdowns: dict[object, Job] = {}  # machine key -> a shutdown still waiting

    def _ask_save_path(self, name: str) -> str:
        from PySide6.QtWidgets import QFileDialog

        return QFileDialog.getSaveFileName(self.window, self.tr("Export %1").replace("%1", name),
                                           f"{name}.ova", self.tr("Appliances (*.ova)"))[0]

    def _ask_open_path(self) -> str:
        from PySide6.QtWidgets import QFileDialog

        return QFileDialog.getOpenFileName(self.window, self.tr("Import appliance"), "",
                                           self.tr("Appliances (*.ova *.ovf)"))[0]

    def _ask_iso_path(self) -> str:
        from PySide6.QtWidgets import QFileDialog

        return QFileDialog.getOpenFileName(self.window, self.tr("Choose a disc image"), "",
                                           self.tr("Disc images (*.iso);;All files (*)"))[0]

    def confirm(self, title: str, text: str, action: str, on_yes: Callable[[], object]) -> None:
        """Ask window-modally without blocking (dialogs.confirm); `on_yes` runs on yes."""
        from desktopvm.ui.dialogs import confirm

        confirm(self.window, title, text, action, on_yes)

    def _backend(self, name: str) -> Backend:
        return self.window.registry.open(name)

    def submit(self, title: str, machine: MachineSummary | None, work: Work,
               backend_name: str = "", done: str = "", *,
               on_failed: Callable[[object], object] | None = None, waits: bool = False) -> Job:
        """Run `work(backend, progress, cancel)` as a job; errors show a dialog; refresh after.

        `done` is what the jobs panel says the job did once it succeeded; `on_failed` replaces
        the error dialog. Any operation on a
        machine whose shutdown is still being waited for ends that wait (it would queue
        behind it)."""
        name = backend_name or (machine.backend if machine else "")
        registry = self.window.registry
        if machine is not None and machine.key in self._shutdowns:
            self._shutdowns.pop(machine.key).cancel()

        def run(progress: Progress, cancel: CancelToken) -> Any:
            try:
                result = work(registry.open(name), progress, cancel)
            except BackendError as error:
                record_failure(registry, name, error)
                raise
            if done:
                progress(1.0, done)
            return result
        job = self.window.runner.submit(title, run, machine_key=machine.key if machine else None,
                                        waits=waits)
        job.failed.connect(on_failed or (lambda error: self.failed(title, error)))
        job.finished.connect(lambda: self.window.refresh(with_facts=False))
        return job

    def failed(self, title: str, error: object) -> None:
        """A job `title` failed: a cancel is a status-bar line, anything else an error dialog."""
        from desktopvm.protocol import OperationCancelled

        if isinstance(error, OperationCancelled):
            self.window.statusBar().showMessage(self.tr("%1: cancelled").replace("%1", title))
        elif isinstance(error, BaseException):
            show_error(self.window, title, error)

    def keep(self, dialog: QDialog) -> QDialog:
        """Hold a reference to a non-blocking dialog until it closes, and open it."""
        return self._keep(dialog)

    def _keep(self, dialog: QDialog) -> QDialog:
        """Hold a reference to a non-blocking dialog until it closes."""
        self.open_dialogs.append(dialog)
        dialog.finished.connect(lambda _: self.open_dialogs.remove(dialog))
        dialog.open()
        return dialog

    # -- dispatch ---------------------------------------------------------------------------
    def run(self, key: str) -> None:
        """Run machine action `key` on the selection (if the action is enabled)."""
        if not self.window.machine_actions[key].isEnabled():
            return
        machines = self.window.selected_machines()
        # Back up, copy and move live in ui/backup (BackupActions).
        handler = getattr(self, f"do_{key}", None) or getattr(self.window.backups, f"do_{key}")
        handler(machines)

    def each(self, machines: list[MachineSummary], title: str, call: MachineCall,
             done: str = "") -> list[Job]:
        """One job per machine: `call(backend, machine_id, progress, cancel)`; `done` says
        what each did."""
        said = self.tr(done) if done else ""
        return [self._one(machine, self.tr(title).replace("%1", printable(machine.name)), call,
                          said) for machine in machines]

    def _one(self, machine: MachineSummary, title: str, call: MachineCall, done: str) -> Job:
        return self.submit(title, machine, lambda b, p, c: call(b, machine.id, p, c), done=done)

    def do_start(self, machines: list[MachineSummary]) -> None:
        for machine in machines:
            self._start(machine)

    def _start(self, machine: MachineSummary) -> None:
        # A missing ISO gets its own dialog (eject or choose another), other errors the usual.
        settings = self.window.registry.settings

        def start(backend: Backend, _progress: Progress, _cancel: CancelToken) -> None:
            # Imported in the worker: seeds brings the model, which the first paint does
            # without. seeds.start takes a seed disc whose first boot is over out first.
            from desktopvm import seeds

            seeds.start(settings, backend, machine.id, StartMode.HEADLESS)

        self.submit(self.tr("Start %1").replace("%1", printable(machine.name)), machine,
                    start,
                    done=self.tr("Started (headless)"),
                    on_failed=lambda error: self._start_failed(machine, error))

    def _start_failed(self, machine: MachineSummary, error: object) -> None:
        from desktopvm.ui.missing_media import missing_isos

        title = self.tr("Start %1").replace("%1", printable(machine.name))
        drives = missing_isos(error)
        if not drives or not isinstance(error, BaseException):
            self.failed(title, error)
            return
        from desktopvm.ui.error_dialog import show_missing_iso

        show_missing_iso(self.window, title, error,
                         lambda: self._change_disc(machine, drives, ""),
                         lambda: self._choose_disc(machine, drives))

    def _choose_disc(self, machine: MachineSummary, drives: list[tuple[int, int]]) -> None:
        path = self.ask_iso_path()
        if path:
            self._change_disc(machine, drives, path)

    def _change_disc(self, machine: MachineSummary, drives: list[tuple[int, int]],
                     iso: str) -> None:
        from desktopvm.ui.missing_media import change_disc_and_start

        name = printable(machine.name)
        self.submit(self.tr("Eject the disc and start %1").replace("%1", name) if not iso
                    else self.tr("Change the disc and start %1").replace("%1", name), machine,
                    lambda b, p, c: change_disc_and_start(b, machine.id, drives, iso,
                                                          progress=p, cancel=c),
                    done=self.tr("Started (headless)"))

    def do_shutdown(self, machines: list[MachineSummary]) -> None:
        for machine in machines:
            # It waits up to SHUTDOWN_WAIT_S for the guest: beside the pool, not in it.
            job = self.submit(self.tr("Shut down %1").replace("%1", printable(machine.name)),
                              machine, partial(_watched_shutdown, machine.id), waits=True)
            self._shutdowns[machine.key] = job
            job.finished.connect(lambda key=machine.key, job=job: self._shutdown_ended(key, job))

    def _shutdown_ended(self, key: object, job: Job) -> None:
        if self._shutdowns.get(key) is job:
            del self._shutdowns[key]

    def _simple(self, machines: list[MachineSummary], title: str, method: str,
                done: str) -> None:
        self.each(machines, title,
                  lambda b, machine_id, p, c: getattr(b, method)(machine_id), done)

    def do_poweroff(self, machines: list[MachineSummary]) -> None:
        names = ", ".join(printable(m.name) for m in machines)
        self.confirm(self.tr("Power off"),
                     self.tr("Power off %1 at once? Anything unsaved in the guest is lost.")
                     .replace("%1", names), self.tr("&Power off"),
                     lambda: self._simple(machines, "Power off %1", "power_off", "Powered off"))

    def do_discard(self, machines: list[MachineSummary]) -> None:
        """Ask (the default keeps the state), then power_off, which on a saved machine discards
        the saved state. The job checks the state again: a machine started meanwhile is not
        powered off."""
        names = ", ".join(printable(m.name) for m in machines)
        self.confirm(self.tr("Discard saved state"),
                     self.tr("Discard the saved state of %1? The machine will start afresh, as "
                             "after a power cut: whatever was open in the guest is lost. Its "
                             "disks and snapshots are kept.").replace("%1", names),
                     self.tr("&Discard saved state"),
                     lambda: self.each(machines, "Discard saved state of %1", _discard,
                                       "Saved state discarded; the machine is off"))

    def do_reset(self, machines: list[MachineSummary]) -> None:
        names = ", ".join(printable(m.name) for m in machines)
        self.confirm(self.tr("Reset"),
                     self.tr("Reset %1 at once? Anything unsaved in the guest is lost.")
                     .replace("%1", names), self.tr("&Reset"),
                     lambda: self._simple(machines, "Reset %1", "reset", "Reset"))

    def do_pause(self, machines: list[MachineSummary]) -> None:
        self._simple(machines, "Pause %1", "pause", "Paused")

    def do_resume(self, machines: list[MachineSummary]) -> None:
        self._simple(machines, "Resume %1", "resume", "Running again")

    def do_save(self, machines: list[MachineSummary]) -> None:
        self.each(machines, "Save state of %1",
                  lambda b, machine_id, p, c: b.save_state(machine_id, progress=p, cancel=c),
                  "State saved; the machine is stopped")

    def do_console(self, machines: list[MachineSummary]) -> None:
        from desktopvm.ui.console_window import open_console

        open_console(self.window, machines[0])

    def do_snapshot(self, machines: list[MachineSummary]) -> None:
        from desktopvm.ui.dialogs import SnapshotDialog

        m = machines[0]
        caps = self.window.facts[m.backend].capabilities if m.backend in self.window.facts \
            else None
        running = m.state in (PowerState.RUNNING, PowerState.PAUSED)
        dialog = SnapshotDialog(m, running, bool(caps and caps.live_snapshot_with_memory),
                                self.window)

        def take() -> None:
            name = dialog.name.text().strip() or self.tr("Snapshot")
            description = dialog.description.toPlainText()
            memory = dialog.memory.isChecked()
            self.submit(self.tr("Snapshot %1").replace("%1", printable(m.name)), m,
                        lambda b, p, c: b.take_snapshot(m.id, name, description=description,
                                                        include_memory=memory, progress=p,
                                                        cancel=c),
                        done=(self.tr("Took snapshot “%1” (with memory)") if memory
                              else self.tr("Took snapshot “%1”")).replace("%1", printable(name)))
        dialog.accepted.connect(take)
        self._keep(dialog)

    def restore_snapshot(self, snapshot_id: str) -> None:
        m = self.window.current_machine()
        if m is None:
            return
        self.confirm(self.tr("Restore snapshot"),
                     self.tr("Go back to this snapshot? The current state of %1 is lost "
                             "unless you take a snapshot of it first.")
                     .replace("%1", printable(m.name)),
                     self.tr("&Restore"),
                     lambda: self.each([m], "Restore snapshot of %1", lambda b, machine_id, p, c:
                                       b.restore_snapshot(machine_id, snapshot_id, progress=p,
                                                          cancel=c), "Snapshot restored"))

    def delete_snapshot(self, snapshot_id: str) -> None:
        m = self.window.current_machine()
        if m is None:
            return
        self.confirm(self.tr("Delete snapshot"),
                     self.tr("Delete this snapshot of %1? The current state is kept.")
                     .replace("%1", printable(m.name)), self.tr("&Delete"),
                     lambda: self.each([m], "Delete snapshot of %1", lambda b, machine_id, p, c:
                                       b.delete_snapshot(machine_id, snapshot_id, progress=p,
                                                         cancel=c), "Snapshot deleted"))

    def do_clone(self, machines: list[MachineSummary]) -> None:
        from desktopvm.ui.dialogs import CloneDialog

        m = machines[0]
        caps = self.window.facts[m.backend].capabilities if m.backend in self.window.facts \
            else None
        dialog = CloneDialog(m, bool(caps and caps.linked_clone), self.window, capabilities=caps,
                             taken=self.window.model.machine_names(m.backend, m.host))

        def clone() -> None:
            name, linked = dialog.name.text().strip(), dialog.linked.isChecked()
            job = self.submit(
                self.tr("Clone %1").replace("%1", printable(m.name)), m,
                lambda b, p, c: b.clone(m.id, name, linked=linked, progress=p, cancel=c),
                done=(self.tr("Made linked clone “%1”") if linked
                      else self.tr("Made full clone “%1”")).replace("%1", printable(name)))
            # The new machine is selected, as one made by the wizard or an import is.
            job.succeeded.connect(lambda machine_id: self.select_new(m.backend, machine_id))
        dialog.accepted.connect(clone)
        self._keep(dialog)

    def do_files(self, machines: list[MachineSummary]) -> None:
        """Open the machine's folder in the file manager (its backend reads where, in a job)."""
        m = machines[0]
        registry = self.window.registry
        job = self.window.runner.submit(self.tr("Read %1").replace("%1", printable(m.name)),
                                        lambda p, c: registry.open(m.backend).get_machine(m.id),
                                        background=True)
        job.succeeded.connect(lambda info: self._show_folder(m, info))
        job.failed.connect(lambda error: show_error(self.window, self.tr("Show files"), error))

    def _show_folder(self, m: MachineSummary, info: MachineInfo) -> None:
        if not info.folder:
            self.window.statusBar().showMessage(
                self.tr("%1 keeps no folder of its own that DesktopVM knows of; its disks: "
                        "Settings → Storage").replace("%1", printable(m.name)))
            return
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(info.folder))

    def do_export(self, machines: list[MachineSummary]) -> None:
        m = machines[0]
        path = self.ask_save_path(m.name)
        if path:
            self.submit(self.tr("Export %1").replace("%1", printable(m.name)), m,
                        lambda b, p, c: b.export(m.id, Path(path), progress=p, cancel=c),
                        done=self.tr("Exported to %1").replace("%1", printable(path)))

    def connections(self) -> list[BackendFacts]:
        """Every connection a machine could be made on: the local backends (unusable ones say
        why) and the hosts (usable only while connected); the usable ones first."""
        window = self.window
        registry = window.registry
        facts = [window.facts[k.name] for k in registry.known() if k.name in window.facts]
        for host in registry.settings.hosts:
            status = registry.monitor.status(host.id)
            known = window.facts.get(host.id)
            if known is not None and status.state is State.CONNECTED:
                facts.append(known)
            else:
                reason = status.line() if status.state is not State.CONNECTED else \
                    self.tr("connected; still asking what it can do")
                facts.append(BackendFacts(host.id, where(registry, host.id),
                                          ProbeResult(host.id, False, reason=reason),
                                          host=host.address))
        # Those that can take it first; each kind in the tree's order.
        return [f for f in facts if f.available] + [f for f in facts if not f.available]

    def taken_names(self, facts: BackendFacts) -> list[str]:
        """The names of the machines the tree lists on a connection: a new one must differ."""
        return [m.name for m in self.window.model.machines_of(facts.name)]

    def default_connection(self, usable: list[BackendFacts]) -> str:
        """The selected node's connection when it can take the machine, else the first."""
        current = self.window.current_connection()
        names = [f.name for f in usable]
        return current if current in names else (names[0] if names else "")

    def import_appliance(self) -> None:
        """Import…: choose the file, then review it (name, connection, hardware, what the
        connection lacks) before anything is made."""
        path = self.ask_open_path()
        usable = [f for f in self.connections()
                  if f.available and f.capabilities and f.capabilities.export_formats]
        if not path or not usable:
            return
        from desktopvm.ui.import_review import ImportReviewDialog

        dialog = ImportReviewDialog(Path(path), usable, self.default_connection(usable),
                                    self.window, runner=self.window.runner,
                                    taken=self.taken_names)
        dialog.accepted.connect(lambda: self._import(Path(path), dialog.chosen().name,
                                                     dialog.chosen_name()))
        self._keep(dialog)

    def _import(self, path: Path, connection: str, name: str = "") -> None:
        job = self.submit(self.tr("Import %1").replace("%1", printable(path.name)), None,
                          lambda b, p, c: _import_package(path, b, name, p, c),
                          backend_name=connection,
                          done=self.tr("Imported as %1").replace("%1", printable(name))
                          if name else self.tr("Imported as a new machine"))
        job.succeeded.connect(lambda machine_id: self.select_new(connection, machine_id))

    def select_new(self, connection: str, machine_id: object) -> None:
        """Select a machine just made once a refresh lists it."""
        facts = self.window.facts.get(connection)
        host = facts.host if facts else "localhost"
        self.window.pending_selection = (host, connection, str(machine_id))

    def do_delete(self, machines: list[MachineSummary]) -> None:
        """Read the machines' disk files first (a job), then ask with the files named."""
        registry = self.window.registry
        job = self.window.runner.submit(
            self.tr("Read disks"),
            lambda p, c: [registry.open(m.backend).get_machine(m.id) for m in machines],
            background=True)
        job.succeeded.connect(lambda infos: self._ask_delete(machines, infos))
        job.failed.connect(lambda error: show_error(self.window, self.tr("Delete"), error))

    def _ask_delete(self, machines: list[MachineSummary], infos: list[MachineInfo]) -> None:
        from desktopvm.ui.dialogs import DeleteDialog

        files = [path for info in infos for path in info.files]
        dialog = DeleteDialog(machines, files, self.window)

        kept_by = {info.summary.key: list(info.files) for info in infos}

        def delete() -> None:
            disks = dialog.delete_disks.isChecked()
            for machine in machines:
                kept = kept_by.get(machine.key, [])
                # Kept disks are said where they are, so they can be found, reused (Settings
                # → Storage attaches an existing disk) or removed: DesktopVM lists them nowhere
                # else once the machine is gone.
                done = self.tr("Deleted with its disk files") if disks or not kept else \
                    self.tr("Deleted; its disks are kept at %1 (attach them to a machine in "
                            "Settings → Storage, or delete the files yourself)").replace(
                                "%1", ", ".join(printable(path) for path in kept))
                job = self._one(machine, self.tr("Delete %1").replace(
                    "%1", printable(machine.name)), lambda b, machine_id, p, c: b.delete(
                        machine_id, delete_disks=disks, progress=p, cancel=c), done)
                if kept and not disks and machine.host == "localhost":
                    # The line links to the folder (QEMU's library/<id>), as the kept disks
                    # have no other place in the app; another host's folder is not here.
                    self.window.jobs_panel.offer_folder(job, str(PurePath(kept[0]).parent))
        dialog.accepted.connect(delete)
        self._keep(dialog)

    def do_settings(self, machines: list[MachineSummary]) -> None:
        m = machines[0]
        registry = self.window.registry
        job = self.window.runner.submit(self.tr("Read %1").replace("%1", printable(m.name)),
                                        lambda p, c: registry.open(m.backend).get_machine(m.id),
                                        background=True)
        job.succeeded.connect(self._open_settings)
        job.failed.connect(lambda error: show_error(self.window, self.tr("Settings"), error))

    def _open_settings(self, info: MachineInfo) -> None:
        from desktopvm.ui.settings_dialog import SettingsDialog

        facts = self.window.facts.get(info.summary.backend)
        if facts is None:
            return
        dialog = SettingsDialog(facts, info, self.window.runner, self._backend, self.window)
        dialog.applied.connect(lambda _: self.window.refresh(with_facts=False))
        self._keep(dialog)

    def save_notes(self, notes: str) -> None:
        info = self.window.details.info
        if info is None:
            return
        m = info.summary
        old = info.spec
        new = old.model_copy(update={"notes": notes})
        job = self.submit(self.tr("Save notes of %1").replace("%1", printable(m.name)), m,
                          lambda b, p, c: b.update(m.id, old, new, progress=p, cancel=c),
                          done=self.tr("Notes saved"))
        job.succeeded.connect(lambda _: self.window.load_details())

    def new_machine(self) -> None:
        from desktopvm.ui.wizard import NewVmWizard

        facts = self.connections()
        default = self.default_connection([f for f in facts if f.available])
        wizard = NewVmWizard(facts, self.window.runner, self._backend, self.window,
                             default=default, taken=self.taken_names)

        def created(connection: str, machine_id: str) -> None:
            self.select_new(connection, machine_id)
            self.window.refresh(with_facts=False, only=connection)
        wizard.created.connect(created)
        self._keep(wizard)

    def preferences(self) -> None:
        from desktopvm.ui.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.window.registry.settings,
                                   list(self.window.facts.values()), self.window)
        dialog.saved.connect(self.window.apply_settings)
        self._keep(dialog)


def _import_package(path: Path, backend: Backend, name: str, progress: Progress,
                    cancel: CancelToken) -> str:
    """In the job: the import (its engine is loaded there, not on the GUI thread)."""
    from desktopvm.transfer.packages import import_package

    return import_package(path, backend, name=name, progress=progress, cancel=cancel)
