"""What a host node's menu does (Retry, Edit, Disconnect, Trust, Forget password, Remove,
Move) and Add host: each change to the hosts is saved to the settings, then applied.

The host dialogs (desktopvm.ui.hosts) are imported by the handlers that open them: none is
needed for the window's first paint. The keyring may block (a locked Secret Service), so
passwords are forgotten in jobs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu, QWidget

from desktopvm import credentials
from desktopvm.connections import HostConfig, State
from desktopvm.printable import printable
from desktopvm.protocol import BackendError, CertificateNotTrusted
from desktopvm.settings import Settings, save_settings
from desktopvm.ui.connection_refresh import host_label
from desktopvm.ui.error_dialog import show_error

if TYPE_CHECKING:
    from desktopvm.ui.main_window import MainWindow

log = logging.getLogger(__name__)


class HostActions:
    """The host handlers of one main window."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.tr = window.tr

    @property
    def settings(self) -> Settings:
        return self.window.registry.settings

    # -- the menu -----------------------------------------------------------------------------
    def menu(self, connection: str, parent: QWidget) -> QMenu:
        """The context menu of a host's node (the caller pops it up)."""
        menu = QMenu(parent)
        menu.setObjectName("host-menu")
        host = self.settings.host(connection)
        if host is None:
            return menu
        monitor = self.window.registry.monitor
        status = monitor.status(connection)
        disconnected = status.state is State.DISCONNECTED

        def add(key: str, text: str, slot: object, enabled: bool = True) -> None:
            action = menu.addAction(text)
            action.setObjectName(f"host-{key}")
            action.setEnabled(enabled)
            action.triggered.connect(slot)

        if not disconnected:
            add("retry", self.tr("&Retry now"), lambda: self.retry(connection))
        add("edit", self.tr("&Edit…"), lambda: self.edit(connection))
        if disconnected:
            add("connect", self.tr("&Connect"), lambda: self.connect(connection))
        else:
            add("disconnect", self.tr("&Disconnect"), lambda: self.disconnect(connection))
        error = monitor.last_error(connection)
        if isinstance(error, CertificateNotTrusted) and error.certificate is not None:
            add("trust", self.tr("&Trust certificate…"), lambda: self.trust(connection))
        add("forget-password", self.tr("&Forget password…"),
            lambda: self.forget_password(connection), host.auth != "certificate")
        menu.addSeparator()
        order = [h.id for h in self.settings.hosts]
        place = order.index(connection)
        add("move-up", self.tr("Move &up"), lambda: self.move(connection, place - 1), place > 0)
        add("move-down", self.tr("Move do&wn"), lambda: self.move(connection, place + 1),
            place < len(order) - 1)
        menu.addSeparator()
        add("remove", self.tr("Re&move…"), lambda: self.remove(connection))
        return menu

    # -- saving -------------------------------------------------------------------------------
    def _save(self, settings: Settings, title: str) -> bool:
        """Write the settings, then let the window use them; an error is shown, nothing lost."""
        try:
            save_settings(settings)
        except (OSError, ValueError) as error:
            show_error(self.window, title, error)
            return False
        self.window.apply_settings(settings)
        return True

    def _close_later(self, connection: str) -> None:
        """Stop reusing a host's opened backend; close it in a job (closing may block)."""
        backend = self.window.registry.forget(connection)
        close = getattr(backend, "close", None)
        if callable(close):
            self.window.runner.submit(self.tr("Close %1").replace("%1", connection),
                                      lambda p, c: close(), background=True)

    def _connect_now(self, connection: str) -> None:
        self.window.refresher.retry(connection)

    # -- the handlers ---------------------------------------------------------------------------
    def add_host(self) -> None:
        """Add host…: the host dialog keeps the password in the keyring; the host is saved."""
        from desktopvm.ui.hosts.host_dialog import HostDialog

        dialog = HostDialog(self.window.registry, self.window.runner, self.window)

        def added() -> None:
            host = dialog.host()
            if host is None:
                return
            if self.settings.host(host.id) is not None:
                show_error(self.window, self.tr("Add host"), ValueError(
                    self.tr("%1 has been added already; edit it instead")
                    .replace("%1", host.id)))
                return
            if self._save(self.settings.with_host(host), self.tr("Add host")):
                self._connect_now(host.id)
        dialog.accepted.connect(added)
        self.window.operations.keep(dialog)

    def retry(self, connection: str) -> None:
        """Try now, whatever the back-off or the last failure said."""
        self._connect_now(connection)

    def edit(self, connection: str) -> None:
        """Edit…: the changed host takes the old one's place (its id may change with it)."""
        from desktopvm.ui.hosts.host_dialog import HostDialog

        old = self.settings.host(connection)
        if old is None:
            return
        dialog = HostDialog(self.window.registry, self.window.runner, self.window, host=old)

        def edited() -> None:
            new = dialog.host()
            if new is None:
                return
            if new.id != old.id and self.settings.host(new.id) is not None:
                show_error(self.window, self.tr("Edit host"), ValueError(
                    self.tr("%1 has been added already").replace("%1", new.id)))
                return
            # A new id drops the old node with the new settings (Refresher.sync_hosts). With
            # only the password changed the settings are the same: the host's session is
            # closed all the same, so the next one signs in with the new password.
            if self._save(self.settings.with_host(new, replacing=old.id),
                          self.tr("Edit host")):
                self._close_later(new.id)
                self._connect_now(new.id)
        dialog.accepted.connect(edited)
        self.window.operations.keep(dialog)

    def disconnect(self, connection: str) -> None:
        """Stop contacting the host until Connect; its machines leave the list meanwhile."""
        self.window.registry.monitor.disconnect(connection)
        self._close_later(connection)
        self.window.clear_machines(connection)

    def connect(self, connection: str) -> None:
        """Connect again after Disconnect."""
        self._connect_now(connection)

    def trust(self, connection: str) -> None:
        """Show the host's certificate (window-modal, not blocking); if the user trusts it,
        pin it for this host and connect again."""
        from desktopvm.ui.hosts.trust_dialog import TrustDialog

        host = self.settings.host(connection)
        error = self.window.registry.monitor.last_error(connection)
        if host is None or not isinstance(error, CertificateNotTrusted) or \
                error.certificate is None:
            return
        facts = error.certificate
        dialog = TrustDialog(facts, error.changed, self.window)

        def trusted() -> None:
            current = self.settings.host(connection)
            if current is None:
                return
            pinned = current.replace(pinned_sha256=facts.sha256)
            if self._save(self.settings.with_host(pinned, replacing=connection),
                          self.tr("Trust certificate")):
                self._connect_now(connection)
        dialog.accepted.connect(trusted)
        self.window.operations.keep(dialog)

    def forget_password(self, connection: str) -> None:
        """Forget password…: asks, then removes it from the keyring (a job); the host then
        says it has no password until one is entered with Edit."""
        host = self.settings.host(connection)
        if host is None:
            return

        def forget() -> None:
            job = self.window.runner.submit(
                self.tr("Forget the password for %1").replace("%1", host.id),
                lambda p, c: credentials.forget_password(host))
            job.failed.connect(lambda error: show_error(self.window,
                                                        self.tr("Forget password"), error))
            job.succeeded.connect(lambda _: self._forgotten(connection))
        self.window.operations.confirm(
            self.tr("Forget password"),
            self.tr("Forget the password kept for %1 on %2? DesktopVM asks for it again "
                    "(Edit) before it can connect.").replace("%1", printable(host.username))
            .replace("%2", printable(host_label(host))),
            self.tr("Forget password"), forget)

    def _forgotten(self, connection: str) -> None:
        self._close_later(connection)  # its session was opened with the password
        self._connect_now(connection)

    def remove(self, connection: str) -> None:
        """Remove…: asks (the default keeps the host); never touches the host's machines."""
        host = self.settings.host(connection)
        if host is None:
            return

        def remove() -> None:
            current = self.settings.host(connection)
            if current is None or not self._save(self.settings.without_host(connection),
                                                 self.tr("Remove host")):
                return
            self.window.forget_connection(connection)
            job = self.window.runner.submit(
                self.tr("Forget the password for %1").replace("%1", connection),
                lambda p, c: _forget_quietly(current), background=True)
            job.failed.connect(lambda error: log.warning("the password of a removed host "
                                                         "stays in the keyring: %s", error))
        self.window.operations.confirm(
            self.tr("Remove host"),
            self.tr("Remove %1 from DesktopVM? Its machines stay on the host, untouched: "
                    "DesktopVM only forgets how to reach it, and its kept password.")
            .replace("%1", printable(host_label(host))),
            self.tr("Remove"), remove)

    def move(self, connection: str, place: int) -> None:
        """Put the host at `place` in the list (the settings keep the order)."""
        hosts = list(self.settings.hosts)
        moving = next((h for h in hosts if h.id == connection), None)
        if moving is None:
            return
        hosts.remove(moving)
        place = max(0, min(place, len(hosts)))
        hosts.insert(place, moving)
        if tuple(hosts) != self.settings.hosts:
            self._save(self.settings.replace(hosts=tuple(hosts)), self.tr("Move host"))

    def dropped(self, connection: str, onto: str) -> None:
        """A host's node was dragged onto another's: it takes that one's place."""
        order = [h.id for h in self.settings.hosts]
        if connection in order and onto in order and connection != onto:
            self.move(connection, order.index(onto))


def _forget_quietly(host: HostConfig) -> None:
    """In a job: forget a removed host's password (none kept is fine)."""
    try:
        credentials.forget_password(host)
    except BackendError:
        raise
    except Exception as error:  # the keyring's own errors: say what, never the secret
        raise BackendError("The password could not be removed from the keyring",
                           type(error).__name__) from error
