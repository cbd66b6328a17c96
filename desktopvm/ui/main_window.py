"""The main window: the inventory of every backend's machines, refreshed off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QTableView,
    QToolBar,
    QWidget,
)

from desktopvm.jobs import Job, JobRunner
from desktopvm.protocol import BackendError, CancelToken, MachineSummary, ProbeResult, Progress
from desktopvm.registry import Registry
from desktopvm.ui.inventory_model import InventoryModel


class Listing:
    """What one refresh found: machines, the backends that answered, and failures."""

    def __init__(self) -> None:
        self.machines: list[MachineSummary] = []
        self.answered: set[str] = set()
        self.failures: dict[str, str] = {}
        self.probes: list[ProbeResult] = []


def list_everything(registry: Registry, progress: Progress, cancel: CancelToken) -> Listing:
    """Runs in a worker thread: probe and list every backend; one failing does not stop others."""
    listing = Listing()
    listing.probes = registry.probe_all()
    for probe in listing.probes:
        if not probe.available:
            continue
        cancel.raise_if_cancelled()
        try:
            listing.machines += registry.open(probe.name).list_machines()
            listing.answered.add(probe.name)
        except BackendError as error:
            listing.failures[probe.name] = error.summary
    return listing


class MainWindow(QMainWindow):
    """Inventory table, or an empty-state page that says what to install."""

    def __init__(self, registry: Registry, runner: JobRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.runner = runner
        self.setWindowTitle(self.tr("DesktopVM"))
        self.resize(960, 600)
        self.model = InventoryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAccessibleName(self.tr("Virtual machines"))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setMargin(24)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        self.setCentralWidget(self.stack)
        toolbar = QToolBar(self.tr("Main"))
        toolbar.setObjectName("main-toolbar")
        self.refresh_action = toolbar.addAction(self.tr("Refresh"), self.refresh)
        self.addToolBar(toolbar)
        self.statusBar().showMessage(self.tr("Looking for hypervisors…"))
        self._refreshing: Job | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(int(registry.settings.refresh_interval_s * 1000))
        self.timer.timeout.connect(self.refresh)

    def start(self) -> None:
        """First refresh now, then on the timer."""
        self.refresh()
        self.timer.start()

    def refresh(self) -> Job | None:
        """Submit a refresh job unless one is running."""
        if self._refreshing is not None:
            return None
        job = self.runner.submit(self.tr("Refresh"),
                                 lambda p, c: list_everything(self.registry, p, c))
        job.succeeded.connect(self._on_listing)
        job.failed.connect(lambda error: self.statusBar().showMessage(str(error)))
        job.finished.connect(self._on_refresh_finished)
        self._refreshing = job
        return job

    def _on_refresh_finished(self) -> None:
        self._refreshing = None

    def _on_listing(self, listing: Listing) -> None:
        self.model.apply(listing.machines, listing.answered)
        available = [p for p in listing.probes if p.available]
        if not available:
            lines = [self.tr("No hypervisor is available on this computer."), ""]
            for probe in listing.probes:
                hint = f" — {probe.install_hint}" if probe.install_hint else ""
                lines.append(f"• {probe.name}: {probe.reason}{hint}")
            self.empty.setText("\n".join(lines))
            self.stack.setCurrentWidget(self.empty)
        else:
            self.stack.setCurrentWidget(self.table)
        failed = "; ".join(f"{name}: {text}" for name, text in listing.failures.items())
        count = self.model.rowCount()
        status = self.tr("%n machine(s)", "", count)
        self.statusBar().showMessage(f"{status}" + (f" — {failed}" if failed else ""))
