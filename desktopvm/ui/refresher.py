"""`Refresher`: the main window's inventory refresh, one job per connection, and its host nodes.

A connection is never listed twice at once; a host the user disconnected, or one waiting
out its back-off or a wrong password, is not contacted. Results of a registry that was
replaced meanwhile (new preferences, an edited host) are dropped and asked for again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from desktopvm.connections import State, Status, is_remote
from desktopvm.jobs import Job
from desktopvm.registry import Registry
from desktopvm.ui.connection_refresh import (
    HOST_RANK,
    MAX_REMOTE_REFRESHES,
    STATE_WORDS,
    ConnectionListing,
    StatusBridge,
    host_icon,
    host_label,
    host_note,
    list_connection,
)
from desktopvm.ui.live_watch import LiveWatch

if TYPE_CHECKING:
    from desktopvm.ui.main_window import MainWindow

COUNTDOWN_MS = 1000  # "retrying in N s" counts down; a host that is due is tried at once


class Refresher(QObject):
    """Keeps the window's inventory model and facts in step with every connection."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.jobs: dict[str, Job] = {}  # connection -> its refresh job, while it runs
        self.again: set[str] = set()  # refresh these once their running job ends
        self.failures: dict[str, str] = {}
        self.count = 0
        self.bridge = StatusBridge(window.registry.monitor, self)
        self.bridge.changed.connect(self.status_changed)
        self.countdown = QTimer(self)
        self.countdown.setInterval(COUNTDOWN_MS)
        self.countdown.timeout.connect(self.tick)
        self.live = LiveWatch(self)  # connections that say when they changed: no polling

    @property
    def registry(self) -> Registry:
        return self.window.registry

    def key(self, name: str) -> tuple[str, str]:
        """The model's group key of a connection."""
        host = self.registry.settings.host(name)
        if host is not None:
            return host.address, name
        facts = self.window.facts.get(name)
        return facts.host if facts else "localhost", name

    def rank(self, name: str) -> int:
        """A group's place: the local backends in the registry's order, then the hosts."""
        names = self.registry.names()
        local = [n for n in names if not is_remote(n)]
        if name in local:
            return local.index(name)
        hosts = [h.id for h in self.registry.settings.hosts]
        return HOST_RANK + (hosts.index(name) if name in hosts else len(hosts))

    # -- submitting ---------------------------------------------------------------------------
    def refresh(self, with_facts: bool | None = None, only: str = "", *,
                asked: bool = True) -> Job | None:
        """Submit a refresh job for each connection (or `only` one) not being refreshed;
        returns the first job submitted. Facts are re-read every tenth time.

        `asked`: someone wants what is there now (the user, or an operation that just
        changed something): a connection whose refresh is running is listed once more after
        it, as that one may have read the state from before. The timer's ticks are not asked;
        they leave a connection whose changes arrive live alone but for the tenth.
        """
        if with_facts is None:
            with_facts = not self.window.facts or self.count % 10 == 0
        self.count += 1
        first: Job | None = None
        for name in [only] if only else self.registry.names():
            if asked and name in self.jobs:
                self.again.add(name)
                continue
            if not asked and not with_facts and self.live.watching(name):
                continue
            job = self._submit(name, with_facts)
            first = first or job
        return first

    def _submit(self, name: str, with_facts: bool) -> Job | None:
        if name in self.jobs:
            return None
        monitor = self.registry.monitor
        if is_remote(name):
            if self.registry.settings.host(name) is None or not monitor.due(name):
                return None  # disconnected, wrong password, untrusted, or backing off
            if sum(is_remote(n) for n in self.jobs) >= MAX_REMOTE_REFRESHES:
                return None  # the next tick or timer tries it
            with_facts = with_facts or name not in self.window.facts
        else:
            facts = self.window.facts.get(name)
            if not with_facts and (facts is None or not facts.available):
                return None
        registry = self.registry
        title = self.window.tr("Refresh %1").replace("%1", registry.display_name(name))
        job = self.window.runner.submit(
            title, lambda p, c: list_connection(registry, name, with_facts, p, c),
            background=True)
        job.succeeded.connect(lambda listing: self._listed(registry, listing))
        job.failed.connect(lambda error: self.window.statusBar().showMessage(str(error)))
        job.finished.connect(lambda: self._finished(name))
        self.jobs[name] = job
        return job

    def retry(self, name: str) -> None:
        """Try a connection now, whatever its back-off or last failure: at once, or as soon
        as the refresh running for it ends (that one may have read the state from before)."""
        self.registry.monitor.reconnect(name)
        if name in self.jobs:
            self.again.add(name)
        else:
            self._submit(name, True)

    def _finished(self, name: str) -> None:
        self.jobs.pop(name, None)
        if name in self.again:
            self.again.discard(name)
            self._submit(name, True)

    def registry_replaced(self) -> None:
        """New settings: what runs now uses the old registry; list those again after."""
        self.again |= set(self.jobs)
        self.live.registry_replaced()
        self.sync_hosts()
        self.refresh(with_facts=True)

    # -- results ------------------------------------------------------------------------------
    def _listed(self, registry: Registry, listing: ConnectionListing) -> None:
        window, name = self.window, listing.name
        if registry is not self.registry or name not in registry.names():
            return  # from a registry replaced meanwhile, or a host removed meanwhile
        if listing.facts is not None:
            window.facts[name] = listing.facts
        remote = is_remote(name)
        key = self.key(name)
        facts = window.facts.get(name)
        if remote:
            self.show_host(name)
            label = host_label(registry.settings.host(name))  # type: ignore[arg-type]
        else:
            # "localhost" is jargon; the details pane says "QEMU on this computer" too.
            label = self.window.tr("%s · this computer") % (facts.display_name if facts
                                                             else name)
        if listing.machines is not None:
            window.model.apply(key, label, listing.machines)
            self.failures.pop(name, None)
            self.live.listed(name, listing.watchable)
        elif listing.error is not None:
            self.failures[name] = listing.error.summary
            if not remote:
                window.model.set_error(key, label, listing.error.summary)
        elif facts is not None and not facts.available:
            if not window.model.machines_of(name) and listing.last_seen:
                window.model.apply(key, label, listing.last_seen)  # from an earlier run
            if window.model.machines_of(name):
                # Its machines were listed before: they stay, greyed, with why and the fix.
                reason = facts.probe.reason + (f" — {facts.probe.install_hint}"
                                               if facts.probe.install_hint else "")
                window.model.set_error(key, label, reason, unavailable=True)
            else:
                window.model.remove_group(key)
            self.failures.pop(name, None)
        if not remote:
            window.model.set_rank(key, self.rank(name))
        window.listed(name)

    def status_line(self) -> str:
        """The failures of the last refreshes, for the status bar."""
        return "; ".join(f"{self.registry.display_name(n)}: {e}"
                         for n, e in self.failures.items())

    # -- hosts --------------------------------------------------------------------------------
    def show_host(self, name: str) -> None:
        """Show a host's node as its settings and connection state say."""
        host = self.registry.settings.host(name)
        if host is None:
            return
        status = self.registry.monitor.status(name)
        note, tip = host_note(status)
        self.window.model.set_host(self.key(name), host_label(host), rank=self.rank(name),
                                   state=self.window.tr(STATE_WORDS[status.state]), note=note,
                                   tip=tip, icon_name=host_icon(host, status))

    def sync_hosts(self) -> None:
        """A node for every host in the settings, in their order; none for removed ones."""
        hosts = {h.id for h in self.registry.settings.hosts}
        for key in self.window.model.group_keys():
            if is_remote(key[1]) and key[1] not in hosts:
                self.window.forget_connection(key[1])
        for host in self.registry.settings.hosts:
            self.show_host(host.id)
        if hosts and not self.countdown.isActive():
            self.countdown.start()
        elif not hosts:
            self.countdown.stop()
        self.window.show_empty_state()  # a first host added: the tree, not "nothing here"

    def status_changed(self, name: str, status: Status) -> None:
        """The monitor saw a change (relayed to the GUI thread): show it at once."""
        self.live.status_changed(name, status)
        if is_remote(name) and self.registry.settings.host(name) is not None:
            self.show_host(name)
            self.window.host_status_changed(name)

    def tick(self) -> None:
        """Every second: count down the unreachable hosts' retries; try those now due."""
        monitor = self.registry.monitor
        for host in self.registry.settings.hosts:
            if monitor.status(host.id).state is State.UNREACHABLE:
                self.show_host(host.id)
                if monitor.due(host.id):
                    self._submit(host.id, False)

    def close(self) -> None:
        """The window is closing."""
        self.countdown.stop()
        self.bridge.close()
        self.live.close()
