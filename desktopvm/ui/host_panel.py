"""`HostPanel`: a host's details in the main window's side pane, with what `host_info` says.

The details widget (desktopvm.ui.hosts.host_details) is made when a host is first selected.
host_info contacts the host, so it is asked in a job, through the monitor, and only when the
host is not known to be down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.jobs import Job
from desktopvm.protocol import HostInfo

if TYPE_CHECKING:
    from desktopvm.ui.hosts.host_details import HostDetails
    from desktopvm.ui.main_window import MainWindow


class HostPanel:
    """Shows one host in the window's side pane."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.widget: HostDetails | None = None
        self.info: dict[str, HostInfo] = {}  # what each host said when last shown
        self._job: Job | None = None

    def show(self, connection: str, fetch: bool = True) -> None:
        """Show a host: its settings and state at once, then (with `fetch`) its facts."""
        window = self.window
        registry = window.registry
        host = registry.settings.host(connection)
        if host is None:
            return
        if self.widget is None:
            from desktopvm.ui.hosts.host_details import HostDetails

            self.widget = HostDetails()
            window.side.addWidget(self.widget)
        window.side.setCurrentWidget(self.widget)
        monitor = registry.monitor
        self.widget.show_host(host, monitor.status(connection), self.info.get(connection))
        if not fetch or self._job is not None or not monitor.due(connection):
            return
        job = window.runner.submit(
            window.tr("Read %1").replace("%1", registry.display_name(connection)),
            lambda p, c: registry.monitor.guarded(
                connection, lambda: registry.open(connection).host_info()), background=True)
        self._job = job

        def shown(info: object) -> None:
            if isinstance(info, HostInfo):
                self.info[connection] = info
            if window.current_host() == connection:
                self.show(connection, fetch=False)

        job.succeeded.connect(shown)
        job.failed.connect(lambda _error: shown(None))  # the host's state says what went wrong
        job.finished.connect(self._ended)

    def _ended(self) -> None:
        self._job = None
