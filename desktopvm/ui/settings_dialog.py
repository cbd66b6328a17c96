"""`SettingsDialog`: edits an existing machine with the wizard's editors; sends only changes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePath

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktopvm.jobs import Job, JobRunner
from desktopvm.model import MachineSpec, Problem, Severity, changed_groups, validate
from desktopvm.printable import printable
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    MachineInfo,
    OperationCancelled,
    PowerState,
    Progress,
)
from desktopvm.protocol.states import LIVE, Operation, allowed
from desktopvm.ui.editors import (
    BootOrderEditor,
    DisplayEditor,
    FirmwareEditor,
    IdentityEditor,
    NetworkEditor,
    NotesEditor,
    ProblemsView,
    ResourcesEditor,
    SerialEditor,
    SpecEditor,
    StorageEditor,
    UsbEditor,
)
from desktopvm.ui.editors.widgets import note
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.host_iso_dialog import HostIsos
from desktopvm.ui.path_facts import PathFacts

# Editors whose lists deserve a tab's spare height.
GROWING = (NotesEditor, StorageEditor, NetworkEditor, SerialEditor)


def group_of(field: str) -> str:
    """The spec group a problem field belongs to: 'network[1].mac' -> 'network'."""
    return re.split(r"[.\[]", field, maxsplit=1)[0]


# The spec's groups in the words of the Settings tabs, for "Settings changed: memory, network".
GROUP_WORDS = {"cpu": "processors", "boot_order": "boot order", "os": "guest OS",
               "usb": "USB", "serial": "serial ports"}

class SettingsDialog(QDialog):
    """Tabs of editors for one machine; OK sends one `update` job with the changes only.

    Problems in parts the user did not touch are shown but do not block OK: a missing ISO
    should not stop anyone from editing the notes.

    Signals:
        applied(machine_id: str)
    """

    applied = Signal(str)

    def __init__(self, facts: BackendFacts, info: MachineInfo, runner: JobRunner,
                 open_backend: Callable[[str], Backend], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert facts.capabilities is not None, "settings need a usable backend"
        self.setObjectName("settings-dialog")
        self.setWindowTitle(self.tr("%s: Settings") % printable(info.spec.name))
        self.facts = facts
        self.info = info
        self.runner = runner
        self.open_backend = open_backend
        self.job: Job | None = None
        self._cancel_requested = False
        caps, host = facts.capabilities, facts.host_info
        self.check_paths = facts.host == "localhost"
        # Whether ISO and disk files exist, asked on workers (validation runs as one types).
        self.path_facts = PathFacts(runner, self)
        self.path_facts.changed.connect(self.revalidate)
        self.identity = IdentityEditor(caps, host)
        self.notes = NotesEditor(caps, host)
        self.firmware = FirmwareEditor(caps, host)
        self.resources = ResourcesEditor(caps, host)
        self.storage = StorageEditor(caps, host, check_paths=self.check_paths,
                                     path_facts=self.path_facts,
                                     host_isos=HostIsos.of(facts.name, runner, open_backend))
        # QEMU's folder is library/<id>: its parent, the library, holds a Delete's kept disks.
        self.storage.disk_folder = str(PurePath(info.folder).parent) \
            if self.check_paths and info.folder else ""
        self.network = NetworkEditor(caps, host, multiple=True)
        self.boot_order = BootOrderEditor(caps, host)
        self.display = DisplayEditor(caps, host)
        self.usb = UsbEditor(caps, host)
        self.serial = SerialEditor(caps, host)
        self.editors: list[SpecEditor] = [self.identity, self.notes, self.firmware,
                                          self.resources, self.storage, self.network,
                                          self.boot_order, self.display, self.usb,
                                          self.serial]
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settings-tabs")
        self.tabs.setIconSize(QSize(16, 16))
        self.tab_problems: list[ProblemsView] = []
        self._add_tab(self.tr("General"), [self.identity, QLabel(self.tr("Notes:")), self.notes])
        self._add_tab(self.tr("System"), [self.firmware, self._heading(self.tr("Boot order")),
                                          self.boot_order])
        self._add_tab(self.tr("CPU && memory"), [self.resources])
        self._add_tab(self.tr("Storage"), [self.storage])
        self._add_tab(self.tr("Network"), [self.network])
        self._add_tab(self.tr("Display"), [self.display])
        self._add_tab(self.tr("Ports"), [self._heading(self.tr("USB")), self.usb,
                                         self._heading(self.tr("Serial ports")), self.serial])
        self._lay_out()
        self.identity.os_changed.connect(self._guest_os_changed)

        state = info.state
        for editor in self.editors:
            editor.set_spec(info.spec)
            editor.set_state(state)
            editor.changed.connect(self.revalidate)
        self.banner.setText(self._banner_text(state))
        self.banner.setVisible(not allowed(Operation.CHANGE_HARDWARE, state)
                               and any(e.needs_shutdown() for e in self.editors))
        self._set_busy(False)
        self.resize(780, 640)
        self.revalidate()
        self.sizes_job: Job | None = None
        self._read_disk_sizes()

    def _banner_text(self, state: PowerState) -> str:
        """Why the greyed settings cannot change in `state`, and what to do about it."""
        name = printable(self.info.spec.name).replace("&", "&amp;").replace("<", "&lt;")
        if state is PowerState.SAVED:
            return self.tr("<b>%s has a saved state.</b> The saved memory belongs to this "
                           "hardware, so the greyed-out settings cannot change until the saved "
                           "state is discarded (Machine ▸ Discard saved state). Name and notes "
                           "can change.") % name
        if state is PowerState.PAUSED:
            return self.tr("<b>%s is paused.</b> Resume it and shut it down to change these "
                           "settings; the greyed-out ones cannot change while it runs.") % name
        if state in LIVE:
            return self.tr("<b>%s is running.</b> Shut down the machine to change these "
                           "settings; the greyed-out ones cannot change while it runs.") % name
        return self.tr("<b>%s is starting or stopping.</b> Wait until it has started or "
                       "stopped to change the greyed-out settings.") % name

    def _lay_out(self) -> None:
        self.banner = note()
        self.banner.setObjectName("shutdown-banner")
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setObjectName("apply-progress")
        self.progress.setAccessibleName(self.tr("Applying the changes"))
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(160)
        self.stage = QLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress)
        bottom.addWidget(self.stage, 1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def _add_tab(self, title: str, widgets: list[QWidget]) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        editors = [w for w in widgets if isinstance(w, SpecEditor)]
        for widget in widgets:
            # Only the notes and lists deserve the tab's spare height.
            grows = isinstance(widget, GROWING)
            layout.addWidget(widget, 1 if grows else 0)
        problems = ProblemsView([e.scope for e in editors], name_adapters=True)
        layout.addWidget(problems)
        if not any(isinstance(e, GROWING) for e in editors):
            layout.addStretch(1)
        self.tab_problems.append(problems)
        self.tabs.addTab(page, title)

    def _heading(self, text: str) -> QLabel:
        """A bold section title inside a tab, set apart from what is above it."""
        label = QLabel(text)
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        label.setContentsMargins(0, 10, 0, 2)
        return label

    def _read_disk_sizes(self) -> None:
        """Read the disks' current sizes off the GUI thread: the size a disk may grow from."""
        paths = self.storage.disk_paths()
        if not paths:
            return
        name, open_backend = self.facts.name, self.open_backend

        def read(progress: Progress, cancel: CancelToken) -> tuple[dict[str, int],
                                                                   dict[str, str]]:
            backend = open_backend(name)
            sizes: dict[str, int] = {}
            unreadable: dict[str, str] = {}
            for path in paths:
                cancel.raise_if_cancelled()
                try:
                    sizes[path] = backend.disk_info(Path(path)).virtual_size
                except BackendError as error:
                    unreadable[path] = error.summary
            return sizes, unreadable

        self.sizes_job = self.runner.submit(self.tr("Read the disk sizes of %s")
                                            % printable(self.info.spec.name), read,
                                            background=True)
        self.sizes_job.succeeded.connect(self._sizes_read)
        # A bug or a lost connection ends the whole read: no disk may then grow, with why.
        self.sizes_job.failed.connect(
            lambda error: self._sizes_read(({}, dict.fromkeys(paths, str(error)))))

    def _sizes_read(self, result: object) -> None:
        assert isinstance(result, tuple)
        sizes, unreadable = result
        self.storage.set_disk_sizes(dict(sizes), dict(unreadable))
        self.revalidate()

    def _guest_os_changed(self, os_id: str) -> None:
        for editor in self.editors:
            editor.set_guest_os(os_id)

    # -- the edit ----------------------------------------------------------------------------
    def edited_spec(self) -> MachineSpec:
        """The machine's spec with every editor's changes."""
        spec = self.info.spec
        for editor in self.editors:
            spec = editor.apply(spec)
        return spec

    def changed_groups(self) -> set[str]:
        """The spec groups the user changed (what `update` will apply)."""
        return changed_groups(self.info.spec, self.edited_spec())

    def problems(self) -> list[Problem]:
        """Everything wrong with the edited spec, and with what was typed."""
        caps = self.facts.capabilities
        assert caps is not None
        own = [p for editor in self.editors for p in editor.own_problems()]
        return [*validate(self.edited_spec(), caps, check_paths=self.check_paths,
                          path_facts=self.path_facts.lookup), *own]

    def blocking_problems(self) -> list[Problem]:
        """Errors in what the user changed, and in what they typed."""
        changed = self.changed_groups()
        own = [p for editor in self.editors for p in editor.own_problems()]
        model = [p for p in self.problems() if p not in own]
        return [p for p in own if p.severity is Severity.ERROR] + [
            p for p in model if p.severity is Severity.ERROR and group_of(p.field) in changed]

    def revalidate(self) -> None:
        """Show each tab's problems, mark tabs that have some, and enable OK."""
        problems = self.problems()
        style = self.style()
        for index, view in enumerate(self.tab_problems):
            view.show_problems(problems)
            mark = QIcon()
            if view.problems:
                kind = (QStyle.StandardPixmap.SP_MessageBoxCritical if view.has_errors
                        else QStyle.StandardPixmap.SP_MessageBoxWarning)
                mark = style.standardIcon(kind)
            self.tabs.setTabIcon(index, mark)
        self._update_ok()

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.job is None and not self.blocking_problems())

    # -- applying ----------------------------------------------------------------------------
    def accept(self) -> None:
        """OK: close if nothing changed, else apply the changes in one job."""
        if self.job is not None:
            return
        new = self.edited_spec()
        resizes = self.storage.resizes()
        if not changed_groups(self.info.spec, new) and not resizes:
            super().accept()
            return
        if self.blocking_problems():
            return
        old, machine_id = self.info.spec, self.info.summary.id
        name, open_backend = self.facts.name, self.open_backend
        parts = sorted(GROUP_WORDS.get(g, g) for g in changed_groups(old, new))
        if resizes:
            parts.append(self.tr("disk size"))
        done = self.tr("Settings changed: %1").replace("%1", ", ".join(dict.fromkeys(parts)))

        def update(progress: Progress, cancel: CancelToken) -> None:
            backend = open_backend(name)
            # Grow first: a failed resize leaves the machine as it was, and the spec then
            # records the sizes the files really have.
            for path, size in resizes:
                cancel.raise_if_cancelled()
                progress(None, f"Growing {Path(path).name}")
                backend.resize_disk(Path(path), size, progress=progress, cancel=cancel)
            backend.update(machine_id, old, new, progress=progress, cancel=cancel)
            progress(1.0, done)  # the jobs panel's last word: what the job did

        self._cancel_requested = False
        self.job = self.runner.submit(self.tr("Change settings of %s") % printable(old.name),
                                      update, machine_key=self.info.summary.key)
        self.job.progress.connect(lambda _fraction, stage: self.stage.setText(stage))
        self.job.succeeded.connect(self._applied)
        self.job.failed.connect(self._failed)
        self._set_busy(True)

    def _set_busy(self, busy: bool) -> None:
        self.tabs.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.stage.setText(self.tr("Applying the changes…") if busy else "")
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setEnabled(not (busy and self._cancel_requested))
        self._update_ok()

    def _applied(self) -> None:
        self.job = None
        self._set_busy(False)
        self.applied.emit(self.info.summary.id)
        super().accept()

    def _failed(self, error: object) -> None:
        self.job = None
        self._set_busy(False)
        if self._cancel_requested or isinstance(error, OperationCancelled):
            super().reject()
            return
        assert isinstance(error, BaseException)
        show_error(self, self.tr("Could not change the settings of %s")
                   % printable(self.info.spec.name), error)

    def reject(self) -> None:
        """Cancel: at once when idle; while applying, cancel the job and close when it ends."""
        if self.job is None:
            super().reject()
            return
        self._cancel_requested = True
        self.stage.setText(self.tr("Cancelling…"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(False)
        self.job.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.job is not None:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)
