"""`NewVmWizard`: where (connection) → name/OS/ISO → firmware → CPU/memory → disk → network →
summary."""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import QLabel, QWidget, QWizard

from desktopvm import seeds
from desktopvm.jobs import Job, JobRunner
from desktopvm.model import Capabilities, MachineSpec, Problem, defaults_for, validate
from desktopvm.model.catalog import BootMedia
from desktopvm.printable import printable
from desktopvm.protocol import Backend, CancelToken, OperationCancelled, Progress
from desktopvm.settings import load_settings
from desktopvm.ui.editors.storage_layout import first_optical
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.name_suggest import clash_with_suggestion
from desktopvm.ui.path_facts import PathFacts
from desktopvm.ui.wizard.backend_page import BackendPage
from desktopvm.ui.wizard.disk_page import DiskPage
from desktopvm.ui.wizard.firmware_page import FirmwarePage
from desktopvm.ui.wizard.identity_page import IdentityPage
from desktopvm.ui.wizard.network_page import NetworkPage
from desktopvm.ui.wizard.resources_page import ResourcesPage
from desktopvm.ui.wizard.spec_page import SpecPage
from desktopvm.ui.wizard.steps_sidebar import StepsSidebar
from desktopvm.ui.wizard.summary_page import SummaryPage

# The guest the wizard starts with: a common, free system, so the defaults make sense.
STARTING_OS = "ubuntu24.04"


class PageId(IntEnum):
    """The wizard's pages, in order."""

    BACKEND = 0
    IDENTITY = 1
    FIRMWARE = 2
    RESOURCES = 3
    DISK = 4
    NETWORK = 5
    SUMMARY = 6


class NewVmWizard(QWizard):
    """Creates a machine on one of the available connections: a local backend or a connected
    host (`facts` lists them, named by connection id; `default` is the one chosen first).

    The GUI thread never calls a backend: facts were gathered before, and creation runs as
    one job that opens the backend itself. Cancel while creating cancels the job and closes
    the wizard when the job has ended (the backend removes what it had created).

    Signals:
        created(connection_id: str, machine_id: str)
    """

    created = Signal(str, str)

    def __init__(self, facts: list[BackendFacts], runner: JobRunner,
                 open_backend: Callable[[str], Backend], parent: QWidget | None = None,
                 *, default: str = "",
                 taken: Callable[[BackendFacts], list[str]] | None = None) -> None:
        super().__init__(parent)
        self.default = default
        # The names of a connection's machines: a new machine's name must differ from them.
        self.taken = taken or (lambda facts: [])
        self.setObjectName("new-vm-wizard")
        self.setWindowTitle(self.tr("New Virtual Machine"))
        self.facts = facts
        self.runner = runner
        self.open_backend = open_backend
        self.backend: BackendFacts | None = None
        self.spec = MachineSpec(name="", os=STARTING_OS)
        # How the chosen ISO boots, once read (identity page): by path, as validate() wants.
        self.boot_media: dict[str, BootMedia] = {}
        # Whether the spec's ISO and disk files exist, asked on workers (live validation).
        self.path_facts = PathFacts(runner, self)
        self.path_facts.changed.connect(self._paths_answered)
        self.job: Job | None = None
        self.created_id = ""
        self._cancel_requested = False
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setButtonText(QWizard.WizardButton.FinishButton, self.tr("&Create"))
        self.backend_page = BackendPage(self)
        self.identity_page = IdentityPage(self)
        self.summary_page = SummaryPage(self)
        pages = (self.backend_page, self.identity_page, FirmwarePage(self), ResourcesPage(self),
                 DiskPage(self), NetworkPage(self), self.summary_page)
        for page_id, page in zip(PageId, pages, strict=True):
            self.setPage(page_id, page)
        steps = [self.tr("Where it runs"), self.tr("Name and system"), self.tr("Firmware"),
                 self.tr("Processors and memory"), self.tr("Hard disk"), self.tr("Network"),
                 self.tr("Summary")]
        # One connection that can take the machine is no choice: no page (or step) for it.
        # With none, the page stays to say why and what to install.
        self.first_page = PageId.IDENTITY if sum(f.available for f in facts) == 1 \
            else PageId.BACKEND
        self.setStartId(self.first_page)
        self.steps = StepsSidebar(steps[self.first_page:])
        self.setSideWidget(self.steps)
        self.currentIdChanged.connect(
            lambda page_id: self.steps.set_current(page_id - self.first_page))
        self.currentIdChanged.connect(self._emphasise_title)
        self.resize(860, 620)
        chosen = self.backend_page.selected()
        if chosen is not None:
            self.choose_backend(chosen)

    def _paths_answered(self) -> None:
        page = self.currentPage()
        if isinstance(page, SpecPage):
            page.revalidate()
        elif page is self.summary_page:
            self.summary_page.show_problems()

    def _emphasise_title(self) -> None:
        # QWizard's classic style draws page titles at body size; a larger one reads as a
        # heading. Its title label has no name, so find it by the text it shows.
        page = self.currentPage()
        if page is None or not page.title():
            return
        for label in self.findChildren(QLabel):
            if label.text() == page.title() and label.parent() is not page:
                font = QFont(self.font())
                font.setBold(True)
                font.setPointSizeF(self.font().pointSizeF() * 1.35)
                label.setFont(font)

    # -- the spec being built ----------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        """The chosen backend's capabilities."""
        assert self.backend is not None and self.backend.capabilities is not None
        return self.backend.capabilities

    def check_paths(self) -> bool:
        """Whether paths in the spec are on this computer (so validation may look at them)."""
        return self.backend is None or self.backend.host == "localhost"

    def choose_backend(self, name: str) -> None:
        """Use backend `name`; the spec starts again from its defaults (name and ISO kept)."""
        chosen = next(f for f in self.facts if f.name == name)
        if chosen is self.backend:
            return
        self.backend = chosen
        self.choose_os(self.spec.os, keep_name=bool(self.spec.name))

    def choose_os(self, os_id: str, keep_name: bool) -> None:
        """Apply the catalog's defaults for `os_id`, keeping the ISO (and the name if asked)."""
        optical = first_optical(self.spec)
        iso = optical[2].iso if optical else ""
        self.spec = defaults_for(os_id, self.capabilities,
                                 name=self.spec.name if keep_name else "", iso=iso,
                                 media=self.boot_media.get(iso))

    def model_problems(self) -> list[Problem]:
        """What validate() says about the spec for the chosen backend, and a name another
        machine on that connection has (with a free one to use instead)."""
        if self.backend is None:
            return []
        clash = clash_with_suggestion(self.spec.name, self.taken(self.backend),
                                      self.capabilities.max_name_length) \
            if self.spec.name.strip() else []
        return [*validate(self.spec, self.capabilities, check_paths=self.check_paths(),
                          media=self.boot_media, path_facts=self.path_facts.lookup), *clash]

    def all_problems(self) -> list[Problem]:
        """The model's problems and what every page's editors found."""
        pages = (self.page(page_id) for page_id in PageId)
        own = [p for page in pages if isinstance(page, SpecPage) for p in page.own_problems()]
        return [*self.model_problems(), *own]

    # -- creating --------------------------------------------------------------------------
    def start_creating(self) -> None:
        """Submit the one creation job and show its progress on the summary page."""
        assert self.backend is not None
        spec, name, open_backend = self.spec, self.backend.name, self.open_backend
        # The answers go to the job (the password with them), nowhere else.
        plan_for = self.identity_page.unattended.planner()

        def create(progress: Progress, cancel: CancelToken) -> str:
            backend = open_backend(name)
            plan = plan_for(spec, backend.name)
            if plan is not None:
                return seeds.create_with_seed(load_settings(), backend, spec, plan,
                                              progress=progress, cancel=cancel)
            return backend.create(spec, progress=progress, cancel=cancel)

        self._cancel_requested = False
        self.job = self.runner.submit(self.tr("Create %s") % printable(spec.name), create)
        self.job.progress.connect(self.summary_page.show_progress)
        self.job.succeeded.connect(self._created)
        self.job.failed.connect(self._failed)
        self.summary_page.set_creating(True)
        self._lock_buttons()

    def _lock_buttons(self) -> None:
        # QWizard re-enables Back whenever the page's completeness changes; run after it.
        creating = self.summary_page.creating
        back = self.button(QWizard.WizardButton.BackButton)
        back.setEnabled(not creating)
        cancel = self.button(QWizard.WizardButton.CancelButton)
        cancel.setEnabled(not (creating and self._cancel_requested))

    def _created(self, machine_id: object) -> None:
        assert self.backend is not None
        self.created_id = str(machine_id)
        self.summary_page.set_creating(False)
        self.created.emit(self.backend.name, self.created_id)
        self.accept()

    def _failed(self, error: object) -> None:
        self.summary_page.set_creating(False)
        self._lock_buttons()
        if self._cancel_requested or isinstance(error, OperationCancelled):
            super().reject()
            return
        assert isinstance(error, BaseException)
        show_error(self, self.tr("Could not create %s") % printable(self.spec.name), error)

    def is_creating(self) -> bool:
        """Whether the creation job is under way."""
        return self.job is not None and not self.job.state.is_done

    # -- closing ---------------------------------------------------------------------------
    def reject(self) -> None:
        """Cancel: at once when idle; while creating, cancel the job and close when it ends."""
        if not self.is_creating():
            super().reject()
            return
        assert self.job is not None
        self._cancel_requested = True
        self.summary_page.show_progress(None, self.tr("Cancelling; removing what was created…"))
        self._lock_buttons()
        self.job.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_creating():
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)
