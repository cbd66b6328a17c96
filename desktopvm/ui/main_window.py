"""The main window: every connection's machines in one tree, details, actions, jobs.

Nothing here calls a backend: every call is a job on the runner, and results come back
as signals. Refresh is one job per connection (refresher.py), applying diffs to the model;
a remote host's node shows its connection state and has its own menu (host_menu.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QPoint,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from desktopvm.connections import is_remote
from desktopvm.jobs import Job, JobRunner
from desktopvm.printable import printable
from desktopvm.protocol import HostInfo, MachineSummary
from desktopvm.protocol.states import Operation, allowed
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.ui import host_state, window_state
from desktopvm.ui.actions import MACHINE_ACTIONS
from desktopvm.ui.backup.actions import BackupActions
from desktopvm.ui.details_pane import DetailsPane
from desktopvm.ui.details_reader import Details, read_details
from desktopvm.ui.facts import BackendFacts, where
from desktopvm.ui.host_menu import HostActions
from desktopvm.ui.host_panel import HostPanel
from desktopvm.ui.icons import icon
from desktopvm.ui.inventory_model import (
    NAME,
    ConnectionRole,
    InventoryModel,
    KindRole,
    MachineRole,
)
from desktopvm.ui.inventory_view import InventoryView, MachineFilter
from desktopvm.ui.jobs_panel import JobsPanel
from desktopvm.ui.operations import Operations
from desktopvm.ui.refresher import Refresher
from desktopvm.ui.theme import apply_theme

if TYPE_CHECKING:
    from desktopvm.ui.hosts.host_details import HostDetails

PREVIEW_INTERVAL_MS = 3000
DEFAULT_SIZE = (1200, 720)  # at most 90% of the screen: it must fit a 1366x768 laptop


class MainWindow(QMainWindow):
    """The app's main window."""

    def __init__(self, registry: Registry, runner: JobRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.runner = runner
        self.facts: dict[str, BackendFacts] = {}  # by connection id
        self._details_job: Job | None = None
        self._preview_job: Job | None = None
        self._retired: set[Registry] = set()  # replaced; their backends not closed yet
        self.pending_selection: tuple[str, str, str] | None = None
        self._closing_confirmed = False
        self.collapsed: set[str] = host_state.collapsed()  # connection ids folded by the user
        self.setWindowTitle(self.tr("DesktopVM"))
        self.setWindowIcon(icon("app"))
        self._build_views()
        self.operations = Operations(self)
        self.backups = BackupActions(self)
        self.hosts = HostActions(self)
        self.host_panel = HostPanel(self)
        self.tree.host_dropped.connect(self.hosts.dropped)
        self.refresher = Refresher(self)
        self._build_actions()
        self._default_size()
        window_state.restore(self, self.splitter, self.tree)
        self.jobs_dock.setVisible(False)  # no operations yet: the panel is folded away
        self.refresher.sync_hosts()  # the added hosts show at once, "connecting"
        self.timer = QTimer(self)
        self.timer.setInterval(int(registry.settings.refresh_interval_s * 1000))
        self.timer.timeout.connect(lambda: self.refresher.refresh(asked=False))
        self.preview_timer = QTimer(self)
        self.preview_timer.setInterval(PREVIEW_INTERVAL_MS)
        self.preview_timer.timeout.connect(self._refresh_preview)

    # -- building ----------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.model = InventoryModel(self)
        self.proxy = MachineFilter(self)
        self.proxy.setSourceModel(self.model)
        self.tree = InventoryView()
        self.tree.setModel(self.proxy)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.machine_activated.connect(self.activate)
        self.tree.selectionModel().selectionChanged.connect(self._selection_changed)
        self.tree.collapsed.connect(lambda index: self._folded(index, True))
        self.tree.expanded.connect(lambda index: self._folded(index, False))
        self.proxy.rowsInserted.connect(self._expand_groups)
        self.details = DetailsPane()
        self.details.preview_wanted.connect(self._refresh_preview)
        self.side = QStackedWidget()  # a machine's details, or a host's
        self.side.setObjectName("side")
        self.side.addWidget(self.details)
        self.empty = QLabel()
        self.empty.setObjectName("empty-state")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMargin(48)
        self.empty.linkActivated.connect(lambda link: self.hosts.add_host())
        splitter = QSplitter()
        splitter.setObjectName("main-splitter")
        splitter.addWidget(self.tree)
        splitter.addWidget(self.side)
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])  # the list's share, whatever the details would like
        self.splitter = splitter
        self.stack = QStackedWidget()
        self.stack.addWidget(splitter)
        self.stack.addWidget(self.empty)
        self.setCentralWidget(self.stack)
        self.jobs_panel = JobsPanel(self.runner)
        dock = QDockWidget(self.tr("Operations"), self)
        dock.setObjectName("jobs-dock")
        dock.setWidget(self.jobs_panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.jobs_dock = dock
        # The panel shows when there is an operation to show, and folds away when cleared.
        self.jobs_panel.populated.connect(dock.show)
        self.jobs_panel.emptied.connect(dock.hide)
        self.runner.job_added.connect(self._job_added)
        self.statusBar().showMessage(self.tr("Looking for hypervisors…"))

    def _build_actions(self) -> None:
        toolbar = QToolBar(self.tr("Machines"))
        toolbar.setObjectName("main-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.addToolBar(toolbar)
        self._build_file_menu()
        menu_machine = self.menuBar().addMenu(self.tr("&Machine"))
        menu_view = self.menuBar().addMenu(self.tr("&View"))
        menu_view.addAction(self.refresh_action)
        menu_view.addAction(self.jobs_dock.toggleViewAction())
        self._build_help()
        toolbar.addAction(self.new_action)
        self.machine_actions: dict[str, QAction] = {}
        for spec in MACHINE_ACTIONS:
            action = self._action(self.tr(spec.text), spec.icon, spec.shortcut,
                                  lambda _=False, key=spec.key: self.operations.run(key))
            action.setToolTip(self.tr(spec.tip))
            action.setObjectName(f"action-{spec.key}")
            self.machine_actions[spec.key] = action
            menu_machine.addAction(action)
            if spec.key in ("start", "shutdown", "poweroff", "discard", "pause", "resume",
                            "console", "snapshot", "backup", "settings", "delete"):
                toolbar.addAction(action)
        # Pause and Resume share Ctrl+P: only the enabled one may own it.
        self.machine_actions["resume"].setShortcut(QKeySequence())
        toolbar.addSeparator()
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText(self.tr("Search machines"))
        self.search.setAccessibleName(self.tr("Search machines"))
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(260)
        self.search.textChanged.connect(self.proxy.search)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy())
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.search)
        toolbar.addAction(self.refresh_action)
        find = QAction(self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self.search.setFocus)
        self.addAction(find)
        self.details.notes_saved.connect(self.operations.save_notes)
        self.details.snapshot_requested.connect(lambda: self.operations.run("snapshot"))
        self.details.restore_requested.connect(self.operations.restore_snapshot)
        self.details.delete_snapshot_requested.connect(self.operations.delete_snapshot)
        self.update_actions()

    def _build_file_menu(self) -> None:
        self.new_action = self._action(self.tr("&New…"), "new", QKeySequence.StandardKey.New,
                                       self.operations.new_machine)
        self.import_action = self._action(self.tr("&Import…"), "import", "Ctrl+I",
                                          self.operations.import_appliance)
        self.refresh_action = self._action(self.tr("&Refresh"), "refresh",
                                           QKeySequence.StandardKey.Refresh, self.refresh)
        self.add_host_action = self._action(self.tr("Add &host…"), "host", "",
                                            self.hosts.add_host)
        self.add_host_action.setObjectName("action-add-host")
        # A lambda: triggered(checked) would pass its bool as show_backups' machine.
        self.backups_action = self._action(self.tr("&Backups…"), "restore", "Ctrl+Shift+B",
                                           lambda: self.backups.show_backups())  # noqa: PLW0108
        self.backups_action.setObjectName("action-backups")
        self.preferences_action = self._action(self.tr("&Preferences…"), "preferences",
                                               "Ctrl+,", self.operations.preferences)
        own = QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences)
        self.preferences_action.setShortcuts(  # the platform's own too, where it has one
            [QKeySequence("Ctrl+,"), *(k for k in own if k != QKeySequence("Ctrl+,"))])
        quit_action = self._action(self.tr("&Quit"), "", QKeySequence.StandardKey.Quit,
                                   self.close)
        menu_file = self.menuBar().addMenu(self.tr("&File"))
        for action in (self.new_action, self.import_action, self.backups_action,
                       self.add_host_action, self.preferences_action):
            menu_file.addAction(action)
        menu_file.addSeparator()
        menu_file.addAction(quit_action)

    def _build_help(self) -> None:
        menu = self.menuBar().addMenu(self.tr("&Help"))
        def show(what: str) -> None:
            from desktopvm.ui import help_menu  # QMessageBox: not before it is needed

            getattr(help_menu, what)(self)
        self.docs_action = self._action(self.tr("&Documentation"), "", "F1",
                                        lambda: show("show_docs"))
        self.about_action = self._action(self.tr("&About DesktopVM"), "app", "",
                                         lambda: show("show_about"))
        menu.addAction(self.docs_action)
        menu.addAction(self.about_action)

    def _action(self, text: str, icon_name: str, shortcut: object, slot: object) -> QAction:
        action = QAction(icon(icon_name) if icon_name else QAction().icon(), text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
        action.triggered.connect(slot)
        return action

    # -- lifetime ---------------------------------------------------------------------------
    def start(self) -> None:
        """First refresh now (with backend facts), then on the timer."""
        self.refresh()
        self.timer.start()
        self.preview_timer.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        busy = [job for job in self.runner.active() if not job.background]
        if busy and not self._closing_confirmed:
            event.ignore()
            names = ", ".join(job.title for job in busy[:3])

            def close_anyway() -> None:
                self._closing_confirmed = True
                self.close()
            self.operations.confirm(
                self.tr("Operations still running"),
                self.tr("%1 still running. Quit anyway? They will be cancelled; what they made "
                        "so far is cleaned up.").replace("%1", names),
                self.tr("Quit"), close_anyway)
            return
        self.timer.stop()
        self.preview_timer.stop()
        self.refresher.close()
        window_state.save(self, self.splitter, self.tree)
        host_state.save_collapsed(self.collapsed)
        # Quitting is closing the main window: consoles and dialogs go with it.
        for other in (*self.__dict__.get("_console_windows", []), *self.operations.open_dialogs):
            other.close()
        super().closeEvent(event)

    # -- refresh ----------------------------------------------------------------------------
    def refresh(self, *, with_facts: bool | None = None, only: str = "") -> Job | None:
        """Refresh every connection (or `only` one) not being refreshed: one job each.
        Facts are re-read every tenth time. Returns the first job submitted."""
        return self.refresher.refresh(with_facts, only)

    @property
    def _refreshing(self) -> Job | None:
        """A refresh job still running, if any (None once every connection has answered)."""
        return next(iter(self.refresher.jobs.values()), None)

    def listed(self, name: str) -> None:
        """A connection's refresh was applied to the model: update what depends on it."""
        self.show_empty_state()
        count = self.model.machine_count()
        failed = self.refresher.status_line()
        # English has its own singular; a translation file gives other languages theirs (%n).
        status = self.tr("%n machine", "", count) if count == 1 else \
            self.tr("%n machines", "", count)
        self.statusBar().showMessage(status + (f" — {failed}" if failed else ""))
        if self.pending_selection is not None and \
                self.model.index_of(self.pending_selection).isValid():
            self.select(self.pending_selection)
            self.pending_selection = None
        self.update_actions()
        current = self.current_machine()
        if current is not None and current.backend == name:
            self.load_details()
        elif self.current_host() == name:
            self.show_host(name, fetch=False)

    def forget_connection(self, name: str) -> None:
        """A host was removed or renamed: drop its node, facts and state."""
        self.registry.monitor.forget(name)
        self.model.remove_group(name)
        self.facts.pop(name, None)
        self.host_info.pop(name, None)
        self.refresher.failures.pop(name, None)

    def clear_machines(self, name: str) -> None:
        """A host was disconnected: its machines leave the list until it is connected."""
        if self.model.group_index(name).isValid():
            self.model.apply(self.refresher.key(name), "", [])
        self.refresher.show_host(name)

    def apply_settings(self, settings: Settings) -> None:
        """New preferences: reopen backends with them and refresh everything.

        The old backends are closed once no job that may use them is left (see _retire).
        """
        self.timer.setInterval(int(settings.refresh_interval_s * 1000))
        old = self.registry
        if settings.theme != old.settings.theme:  # a repaint of every widget: only on change
            apply_theme(settings.theme)
        same_hosts = sorted(settings.hosts, key=lambda h: h.id) == \
            sorted(old.settings.hosts, key=lambda h: h.id)
        if same_hosts and settings.replace(refresh_interval_s=old.settings.refresh_interval_s,
                                           hosts=old.settings.hosts,
                                           theme=old.settings.theme) == old.settings:
            # Only the refresh interval, the theme or the hosts' order changed: no backend
            # reads them.
            old.settings = settings
            self.refresher.sync_hosts()  # the groups' new ranks: the proxy sorts again
            return
        self.registry = old.with_settings(settings)
        self._retire(old)
        self.refresher.registry_replaced()

    def _retire(self, registry: Registry) -> None:
        """Close a replaced registry's backends in a job (closing may block), after every job
        queued or running now has ended: those may still use them. Jobs submitted later reach
        the new registry (they read `self.registry` when submitted, or when they run)."""
        self._retired.add(registry)
        active = self.runner.active()
        waiting = {job.id for job in active}

        def close() -> None:
            job = self.runner.submit(self.tr("Close backends"), lambda p, c: registry.close(),
                                     background=True)
            job.finished.connect(lambda: self._retired.discard(registry))

        def ended(job_id: int) -> None:
            waiting.discard(job_id)
            if not waiting:
                close()

        for job in active:
            job.finished.connect(lambda job_id=job.id: ended(job_id))
        if not waiting:
            close()

    def close_backends(self) -> None:
        """At exit, once the jobs have ended: close every registry's backends (blocks)."""
        for registry in (*self._retired, self.registry):
            registry.close()
        self._retired.clear()

    def show_empty_state(self) -> None:
        """The tree when a hypervisor is here or a host was added; else what to install (once
        every local backend has been probed) and a link to add a host."""
        local = [f for f in self.facts.values() if not is_remote(f.name)]
        if any(f.available for f in local) or self.registry.settings.hosts:
            self.stack.setCurrentIndex(0)
            self.new_action.setEnabled(True)
            self.import_action.setEnabled(True)
            return
        if len(local) < len(self.registry.known()):
            return  # not every local backend has been probed yet
        title = self.tr("No hypervisor is available on this computer")
        intro = self.tr("DesktopVM manages machines of QEMU, VirtualBox and Hyper-V. "
                        "Install one of them, then press Refresh:")
        lines = [f"<h2>{title}</h2>", f"<p>{intro}</p><ul>"]
        for facts in self.facts.values():
            hint = f"<br><code>{facts.probe.install_hint}</code>" if facts.probe.install_hint \
                else ""
            lines.append(f"<li><b>{facts.display_name}</b>: {facts.probe.reason}{hint}</li>")
        lines.append("</ul>")
        lines.append("<p>" + self.tr("Or manage the machines of another computer: "
                                     "<a href=\"add-host\">Add a remote host…</a>") + "</p>")
        self.empty.setText("".join(lines))
        self.stack.setCurrentIndex(1)
        self.new_action.setEnabled(False)
        self.import_action.setEnabled(False)

    def _expand_groups(self, parent: QModelIndex, first: int, last: int) -> None:
        if not parent.isValid():
            searching = bool(self.search.text()) if hasattr(self, "search") else False
            for row in range(first, last + 1):
                index = self.proxy.index(row, 0)
                if searching or index.data(ConnectionRole) not in self.collapsed:
                    self.tree.expand(index)

    def _folded(self, index: QModelIndex, folded: bool) -> None:
        """Remember which groups the user folded (kept in window.ini between runs)."""
        if index.parent().isValid() or self.search.text():
            return  # only groups; what a search unfolds is not the user's choice
        connection = index.data(ConnectionRole)
        if folded:
            self.collapsed.add(connection)
        else:
            self.collapsed.discard(connection)

    # -- selection and details --------------------------------------------------------------
    def selected_machines(self) -> list[MachineSummary]:
        """The machines selected in the inventory."""
        rows = self.tree.selectionModel().selectedRows(NAME)
        machines = [index.data(MachineRole) for index in rows]
        return [m for m in machines if isinstance(m, MachineSummary)]

    def current_machine(self) -> MachineSummary | None:
        """The machine shown in the details pane (the only selected one)."""
        machines = self.selected_machines()
        return machines[0] if len(machines) == 1 else None

    def current_host(self) -> str:
        """The host whose node is the only selection ('' when it is not a host)."""
        rows = self.tree.selectionModel().selectedRows(NAME)
        if len(rows) == 1 and rows[0].data(KindRole) == "host":
            return str(rows[0].data(ConnectionRole))
        return ""

    def current_connection(self) -> str:
        """The connection of the tree's current row (machine, host or backend), or ''."""
        index = self.tree.currentIndex()
        return str(index.data(ConnectionRole) or "") if index.isValid() else ""

    def select(self, key: tuple[str, str, str]) -> None:
        """Select one machine by (host, connection, id)."""
        index = self.proxy.mapFromSource(self.model.index_of(key))
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def select_host(self, connection: str) -> None:
        """Select a host's node (its details show)."""
        index = self.proxy.mapFromSource(self.model.group_index(connection))
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self.update_actions()
        self.load_details()

    def update_actions(self) -> None:
        """Enable each machine action from the selection's states and backends' capabilities."""
        selection = [(m, self.facts[m.backend].capabilities if m.backend in self.facts else None)
                     for m in self.selected_machines()]
        enabled = {spec.key: spec.enabled(selection) for spec in MACHINE_ACTIONS}
        # Pause and Resume share one place; set visibility first (an invisible QAction
        # reports itself disabled).
        paused = enabled["resume"]
        self.machine_actions["pause"].setVisible(not paused)
        self.machine_actions["resume"].setVisible(paused)
        self.machine_actions["resume"].setShortcut(QKeySequence("Ctrl+P") if paused
                                                   else QKeySequence())
        self.machine_actions["pause"].setShortcut(QKeySequence() if paused
                                                  else QKeySequence("Ctrl+P"))
        # Power off and Discard saved state share one place too: a saved machine offers the
        # discard where Power off would be greyed.
        saved = enabled["discard"]
        self.machine_actions["poweroff"].setVisible(not saved)
        self.machine_actions["discard"].setVisible(saved)
        for key, value in enabled.items():
            self.machine_actions[key].setEnabled(value)

    def load_details(self) -> None:
        """Read the current machine's details in a job and show them; a host's node shows
        the host's details instead."""
        host = self.current_host()
        if host:
            self.show_host(host)
            return
        self.side.setCurrentWidget(self.details)
        machine = self.current_machine()
        if machine is None:
            count = len(self.selected_machines())
            self.details.show_nothing(self.tr("%n machines selected", "", count) if count
                                      else "")
            return
        if self._details_job is not None:
            return
        registry = self.registry
        job = self.runner.submit(self.tr("Read %1").replace("%1", printable(machine.name)),
                                 lambda p, c: read_details(registry, machine), background=True)
        self._details_job = job

        def shown(read: Details) -> None:
            if not shiboken6.isValid(self.tree):  # the window went while the job read
                return
            current = self.current_machine()
            if current is not None and current.key == machine.key:
                self.details.show_machine(read.info, where(self.registry, machine.backend),
                                          read.missing, read.first_boot)

        job.succeeded.connect(shown)
        job.finished.connect(self._details_finished)

    def _details_finished(self) -> None:
        self._details_job = None

    def show_host(self, connection: str, fetch: bool = True) -> None:
        """Show a host's details (host_panel.py) in place of a machine's."""
        self.host_panel.show(connection, fetch)

    @property
    def host_info(self) -> dict[str, HostInfo]:
        """What each host's host_info said when it was last shown."""
        return self.host_panel.info

    @property
    def host_details(self) -> HostDetails | None:
        """The host details widget, once a host has been selected."""
        return self.host_panel.widget

    def host_status_changed(self, connection: str) -> None:
        """A host's connection state changed: its details, if shown, say so at once."""
        if self.current_host() == connection:
            self.show_host(connection, fetch=False)

    def _refresh_preview(self) -> None:
        machine = self.current_machine()
        caps = self.facts[machine.backend].capabilities if machine and machine.backend in \
            self.facts else None
        if machine is None or caps is None or not caps.screenshot or \
                not machine.state.is_active or self._preview_job is not None:
            return
        registry = self.registry
        job = self.runner.submit(self.tr("Preview"), lambda p, c: registry.open(
            machine.backend).screenshot(machine.id), background=True)
        self._preview_job = job
        job.succeeded.connect(lambda png: self.details.show_preview(png, machine.key))
        job.finished.connect(lambda: setattr(self, "_preview_job", None))

    def _job_added(self, job: Job) -> None:
        if not job.background:
            self.statusBar().showMessage(job.title + "…")

    def _context_menu(self, position: QPoint) -> None:
        index = self.tree.indexAt(position)
        if index.isValid() and index.data(KindRole) in ("host", "note"):
            menu = self.hosts.menu(str(index.data(ConnectionRole)), self)
            menu.popup(self.tree.viewport().mapToGlobal(position))
            return
        menu = QMenu(self)
        for spec in MACHINE_ACTIONS:
            action = self.machine_actions[spec.key]
            if action.isVisible():
                menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.new_action)
        menu.popup(self.tree.viewport().mapToGlobal(position))

    # -- gestures, layout, help -------------------------------------------------------------
    def _default_size(self) -> None:
        """The first run's size: DEFAULT_SIZE, shrunk to 90% of a smaller screen."""
        width, height = DEFAULT_SIZE
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.9))
            height = min(height, int(available.height() * 0.9))
        self.resize(width, height)

    def activate(self) -> None:
        """Double-click or Enter on one machine: start it when stopped, else show its console."""
        machine = self.current_machine()
        if machine is None:
            return
        if allowed(Operation.START, machine.state):
            self.operations.run("start")
        elif allowed(Operation.CONSOLE, machine.state):
            self.operations.run("console")
