"""The main window's hosts: one node per host with its state and error line, refreshed per
connection (a dead host holds up nothing), state changes shown at once, recovery by itself,
and the host menu (Retry, Edit, Disconnect/Connect, Trust, Forget password, Remove, Move).

The hosts are a stand-in remote kind (desktopvm/testing/doubles/fake_hosts.py: in-memory
backends a test takes down or makes hang) with a real ConnectionMonitor on an injected clock,
a real Registry and real settings files; the keyring is a real keyrings.alt file keyring in tmp.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QAction, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QDialog, QMessageBox

from desktopvm import credentials
from desktopvm.connections import HostConfig, State
from desktopvm.model import defaults_for
from desktopvm.monitor import ConnectionMonitor
from desktopvm.protocol import (
    AuthenticationFailed,
    CancelToken,
    CertificateFacts,
    CertificateNotTrusted,
    ConnectionLost,
    HostInfo,
    no_progress,
)
from desktopvm.registry import Registry
from desktopvm.settings import Settings, load_settings
from desktopvm.testing.doubles import fake_hosts
from desktopvm.ui.inventory_model import CPUS, NAME, STATE, ConnectionRole, KindRole
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.widget_lists import top_level_widgets
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (a fixture)
from tests.ui.test_main_window import MEMORY

HV01 = HostConfig("hyperv", "hv01.lab.example", username="admin")
HV02 = HostConfig("hyperv", "hv02.lab.example", username="admin", label="Lab 2")


class Clock:
    """The monitor's clock: real monotonic time plus what a test skipped ahead."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


@pytest.fixture(autouse=True)
def fresh_hosts() -> Iterator[None]:
    fake_hosts.OPENED.clear()
    yield
    for backend in fake_hosts.OPENED.values():
        if backend.hang is not None:
            backend.hang.set()
    fake_hosts.OPENED.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_window(qtbot, runner, tmp_path: Path, clock: Clock,
                hosts: tuple[HostConfig, ...] = (HV01, HV02)) -> MainWindow:
    settings = Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600, hosts=hosts)
    registry = Registry(settings, known=(MEMORY, fake_hosts.KNOWN),
                        monitor=ConnectionMonitor(clock=clock))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, runner, tmp_path, clock) -> MainWindow:
    return make_window(qtbot, runner, tmp_path, clock)


def remote(window: MainWindow, host: HostConfig) -> fake_hosts.RemoteMemory:
    backend = window.registry.open(host.id)
    assert isinstance(backend, fake_hosts.RemoteMemory)
    return backend


def create(backend, name: str) -> str:
    machine_id: str = backend.create(defaults_for("debian12", backend.capabilities(),
                                                  name=name),
                                     progress=no_progress, cancel=CancelToken())
    return machine_id


def group(window: MainWindow, connection: str):
    """The proxy index of a connection's node."""
    return window.proxy.mapFromSource(window.model.group_index(connection))


def children(window: MainWindow, connection: str) -> list[str]:
    parent = group(window, connection)
    return [window.proxy.index(row, NAME, parent).data()
            for row in range(window.proxy.rowCount(parent))]


def state_of(window: MainWindow, connection: str) -> str:
    return str(window.proxy.index(group(window, connection).row(), STATE).data())


def note_of(window: MainWindow, connection: str) -> str:
    parent = group(window, connection)
    first = window.proxy.index(0, NAME, parent)
    return str(first.data() if first.data(KindRole) == "note" else "")


def settled(qtbot, window: MainWindow) -> None:
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window._refreshing is None, timeout=5000)


def top_level(window: MainWindow) -> list[str]:
    return [window.proxy.index(row, 0).data(ConnectionRole)
            for row in range(window.proxy.rowCount())]


def test_hosts_show_beside_the_local_machines_with_their_state_and_error_line(
        qtbot, window, qtmodeltester):
    create(window.registry.open("memory"), "local vm")
    create(remote(window, HV01), "dc01")
    create(remote(window, HV01), "web01")
    remote(window, HV02).down = ConnectionLost("Cannot reach hv02.lab.example:5986: "
                                               "connection refused")
    # Before any answer, each host is there, connecting.
    assert state_of(window, HV01.id) == "Connecting…"
    settled(qtbot, window)
    assert top_level(window) == ["memory", HV01.id, HV02.id]  # local first, then the settings'
    assert children(window, "memory") == ["local vm"]
    assert children(window, HV01.id) == ["dc01", "web01"]
    assert group(window, HV01.id).data() == "Hyper-V · hv01.lab.example (2)"
    assert state_of(window, HV01.id) == "Connected" and note_of(window, HV01.id) == ""
    assert group(window, HV02.id).data() == "Lab 2 (0)"
    assert state_of(window, HV02.id) == "Unreachable"
    note = note_of(window, HV02.id)
    assert "connection refused" in note and "retrying in" in note
    assert window.tree.isFirstColumnSpanned(0, group(window, HV02.id))  # the line spans
    qtmodeltester.check(window.model)
    # Sorting by name the other way keeps the groups' order and the error line first.
    window.tree.sortByColumn(NAME, Qt.SortOrder.DescendingOrder)
    assert top_level(window) == ["memory", HV01.id, HV02.id]
    assert children(window, HV01.id) == ["web01", "dc01"]
    assert "connection refused" in children(window, HV02.id)[0]



def test_sorting_either_way_by_any_column_keeps_the_groups_and_error_lines_in_place(
        qtbot, window):
    backend = remote(window, HV02)
    for name, cpus in (("alpha", 1), ("zulu", 4)):
        spec = defaults_for("debian12", backend.capabilities(), name=name)
        spec = spec.model_copy(update={"cpu": spec.cpu.model_copy(update={"count": cpus})})
        backend.create(spec, progress=no_progress, cancel=CancelToken())
    settled(qtbot, window)
    backend.down = ConnectionLost("hv02 went away")
    window.refresh(only=HV02.id)
    qtbot.waitUntil(lambda: state_of(window, HV02.id) == "Unreachable", timeout=5000)
    for column in (NAME, CPUS):  # text and numbers
        for order, machines in ((Qt.SortOrder.AscendingOrder, ["alpha", "zulu"]),
                                (Qt.SortOrder.DescendingOrder, ["zulu", "alpha"])):
            window.tree.sortByColumn(column, order)
            assert top_level(window) == ["memory", HV01.id, HV02.id]
            rows = children(window, HV02.id)
            assert "hv02 went away" in rows[0] and rows[1:] == machines, (column, order)


def test_a_hanging_host_holds_up_neither_the_local_backend_nor_the_other_host(
        qtbot, window):
    create(remote(window, HV01), "dc01")
    settled(qtbot, window)
    remote(window, HV02).hang = threading.Event()
    create(window.registry.open("memory"), "meanwhile")
    create(remote(window, HV01), "added meanwhile")
    window.refresh(with_facts=False)
    qtbot.waitUntil(lambda: children(window, "memory") == ["meanwhile"] and
                    len(children(window, HV01.id)) == 2, timeout=5000)
    assert HV02.id in window.refresher.jobs  # still waiting for its answer
    assert window.refresh() is not None  # a refresh now lists the others again, not HV02
    assert list(window.refresher.jobs).count(HV02.id) == 1
    hang = remote(window, HV02).hang
    assert hang is not None
    hang.set()
    qtbot.waitUntil(lambda: window._refreshing is None, timeout=5000)


def test_state_changes_reported_on_a_worker_thread_show_at_once(qtbot, window):
    settled(qtbot, window)
    monitor = window.registry.monitor
    worker = threading.Thread(target=lambda: monitor.failed(
        HV01.id, AuthenticationFailed("The user name or password was not accepted")))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Authentication failed", timeout=3000)
    assert "not accepted" in note_of(window, HV01.id)
    assert "Edit host" in note_of(window, HV01.id)  # and what to do about it
    # a wrong password is not tried again by itself (it could lock the account)
    assert window.refresh(only=HV01.id) is None


def test_a_host_that_went_away_and_came_back_recovers_by_itself(qtbot, window, clock):
    create(remote(window, HV01), "dc01")
    settled(qtbot, window)
    remote(window, HV01).down = ConnectionLost("Cannot reach hv01.lab.example:5986: "
                                               "connection refused")
    window.refresh(with_facts=False)
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Unreachable", timeout=5000)
    assert children(window, HV01.id)[1:] == ["dc01"]  # the last known machines stay
    assert window.refresh(only=HV01.id) is None  # backing off: not contacted
    remote(window, HV01).down = None  # it is back
    clock.skipped += 10  # past the first back-off (2 s); nobody presses anything
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Connected", timeout=5000)
    assert note_of(window, HV01.id) == "" and children(window, HV01.id) == ["dc01"]


def test_retry_while_a_refresh_runs_lists_again_once_it_ends(qtbot, window):
    """The running refresh may have read the state from before the Retry (or the settings
    from before an edit): the host is listed once more after it."""
    settled(qtbot, window)
    backend = remote(window, HV01)
    backend.hang = threading.Event()
    window.refresh(only=HV01.id)
    before = backend.calls.count("list_machines")
    window.hosts.retry(HV01.id)
    assert list(window.refresher.jobs) == [HV01.id]  # one at a time
    backend.hang.set()
    qtbot.waitUntil(lambda: backend.calls.count("list_machines") == before + 2 and
                    window._refreshing is None, timeout=5000)
    assert state_of(window, HV01.id) == "Connected"


def test_an_operation_that_loses_its_host_shows_it_on_the_node(qtbot, window,
                                                               find_error_dialogs):
    backend = remote(window, HV01)
    machine_id = create(backend, "dc01")
    settled(qtbot, window)
    window.select((HV01.address, HV01.id, machine_id))
    qtbot.waitUntil(window.machine_actions["start"].isEnabled, timeout=3000)

    def start(machine_id, mode=None):
        raise ConnectionLost("hv01 dropped the connection")
    backend.start = start  # type: ignore[method-assign]
    window.machine_actions["start"].trigger()
    qtbot.waitUntil(lambda: bool(find_error_dialogs()), timeout=5000)
    assert state_of(window, HV01.id) == "Unreachable"
    assert "hv01 dropped the connection" in note_of(window, HV01.id)
    find_error_dialogs()[0].close()


def test_search_finds_the_machines_of_every_host_together(qtbot, window):
    create(window.registry.open("memory"), "web-local")
    create(remote(window, HV01), "web-hv01")
    create(remote(window, HV01), "db-hv01")
    remote(window, HV02).down = ConnectionLost("hv02 is down")
    settled(qtbot, window)
    qtbot.keyClicks(window.search, "web")
    assert children(window, "memory") == ["web-local"]
    assert children(window, HV01.id) == ["web-hv01"]
    # the unreachable host stays, saying why its machines could not be searched
    assert len(children(window, HV02.id)) == 1 and "hv02 is down" in note_of(window, HV02.id)


def test_a_machines_details_name_its_host(qtbot, window):
    machine_id = create(remote(window, HV02), "dc01")
    local_id = create(window.registry.open("memory"), "local")
    settled(qtbot, window)
    window.select((HV02.address, HV02.id, machine_id))
    qtbot.waitUntil(lambda: "Hyper-V on Lab 2" in window.details.state.text(), timeout=3000)
    window.select(("localhost", "memory", local_id))
    qtbot.waitUntil(lambda: "Memory on this computer" in window.details.state.text(),
                    timeout=3000)


def test_selecting_a_host_shows_its_details_from_host_info(qtbot, window):
    settled(qtbot, window)
    window.select_host(HV01.id)
    assert window.current_host() == HV01.id and window.selected_machines() == []
    qtbot.waitUntil(lambda: HV01.id in window.host_info, timeout=3000)
    details = window.host_details
    assert details is not None and window.side.currentWidget() is details
    assert window.host_info[HV01.id] == HostInfo(hostname="localhost", cpus=8, memory_mib=8192)
    assert "connected" in details.state.text()
    window.registry.monitor.failed(HV01.id, ConnectionLost("hv01 stopped answering"))
    qtbot.waitUntil(lambda: "hv01 stopped answering" in details.state.text(), timeout=3000)


def menu_actions(window: MainWindow, connection: str) -> dict[str, QAction]:
    menu = window.hosts.menu(connection, window)
    return {a.objectName(): a for a in menu.actions() if a.objectName()}


def confirm_box(qtbot) -> QMessageBox:
    qtbot.waitUntil(lambda: any(w.objectName() == "confirm-dialog" and w.isVisible()
                                for w in top_level_widgets()), timeout=3000)
    return next(w for w in top_level_widgets()
                if isinstance(w, QMessageBox) and w.objectName() == "confirm-dialog"
                and w.isVisible())


def test_the_menu_follows_the_state_and_retry_disconnect_connect_work(qtbot, window):
    create(remote(window, HV01), "dc01")
    settled(qtbot, window)
    actions = menu_actions(window, HV01.id)
    assert {"host-retry", "host-edit", "host-disconnect", "host-forget-password",
            "host-move-up", "host-move-down", "host-remove"} <= set(actions)
    assert "host-trust" not in actions and "host-connect" not in actions
    assert not actions["host-move-up"].isEnabled() and actions["host-move-down"].isEnabled()
    actions["host-disconnect"].trigger()
    assert state_of(window, HV01.id) == "Disconnected" and children(window, HV01.id) == [
        note_of(window, HV01.id)]  # its machines leave; the line says how to get them back
    assert window.refresh(only=HV01.id) is None  # nothing contacts it
    actions = menu_actions(window, HV01.id)
    assert "host-connect" in actions and "host-retry" not in actions
    actions["host-connect"].trigger()
    qtbot.waitUntil(lambda: children(window, HV01.id) == ["dc01"], timeout=5000)
    assert state_of(window, HV01.id) == "Connected"
    # Retry tries at once, whatever the back-off says
    remote(window, HV01).down = ConnectionLost("hv01 is down")
    window.refresh(only=HV01.id)
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Unreachable", timeout=5000)
    remote(window, HV01).down = None
    menu_actions(window, HV01.id)["host-retry"].trigger()
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Connected", timeout=5000)


class Drop(QDropEvent):
    """A drop from the view's own drag (a synthesized event has no source otherwise)."""

    def __init__(self, view, position) -> None:
        super().__init__(QPointF(position), Qt.DropAction.MoveAction, QMimeData(),
                         Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        self.view = view

    def source(self):
        return self.view


class DragMove(QDragMoveEvent):
    def __init__(self, view, position) -> None:
        super().__init__(position, Qt.DropAction.MoveAction, QMimeData(),
                         Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        self.view = view

    def source(self):
        return self.view


def drag_over(view, position) -> QDragMoveEvent:
    event = DragMove(view, position)
    view.dragMoveEvent(event)
    return event


def test_move_and_drop_reorder_the_hosts_and_save_the_order(qtbot, window):
    settled(qtbot, window)
    registry = window.registry
    menu_actions(window, HV02.id)["host-move-up"].trigger()
    assert [h.id for h in load_settings().hosts] == [HV02.id, HV01.id]
    assert top_level(window) == ["memory", HV02.id, HV01.id]
    assert window.registry is registry  # the order alone reopens nothing
    # HV01's node dragged onto HV02's takes its place
    window.select_host(HV01.id)
    view = window.tree
    onto_local = view.visualRect(group(window, "memory")).center()
    assert not drag_over(view, onto_local).isAccepted()  # only onto another host
    view.dropEvent(Drop(view, onto_local))
    assert top_level(window) == ["memory", HV02.id, HV01.id]
    onto = view.visualRect(group(window, HV02.id)).center()
    assert drag_over(view, onto).isAccepted()
    view.dropEvent(Drop(view, onto))
    assert top_level(window) == ["memory", HV01.id, HV02.id]
    assert [h.id for h in load_settings().hosts] == [HV01.id, HV02.id]
    assert window.registry is registry


def test_folded_hosts_stay_folded_in_the_next_window(qtbot, runner, tmp_path, clock, window):
    create(remote(window, HV01), "dc01")
    settled(qtbot, window)
    window.tree.collapse(group(window, HV01.id))
    assert window.tree.isExpanded(group(window, HV02.id))
    window.close()
    again = make_window(qtbot, runner, tmp_path, clock)
    settled(qtbot, again)
    assert not again.tree.isExpanded(group(again, HV01.id))
    assert again.tree.isExpanded(group(again, "memory"))
    assert again.tree.isExpanded(group(again, HV02.id))


class FakeHostDialog(QDialog):
    """Stands in for desktopvm.ui.hosts.host_dialog.HostDialog (its own tests are C1's):
    accepting it gives `FakeHostDialog.chosen` as the host to save."""

    chosen: ClassVar[HostConfig | None] = None
    opened: ClassVar[list[FakeHostDialog]] = []

    def __init__(self, registry, runner, parent=None, host=None) -> None:
        super().__init__(parent)
        self.editing = host
        FakeHostDialog.opened.append(self)

    def host(self) -> HostConfig | None:
        return FakeHostDialog.chosen


@pytest.fixture
def host_dialog(monkeypatch) -> type[FakeHostDialog]:
    from desktopvm.ui.hosts import host_dialog

    FakeHostDialog.opened = []
    monkeypatch.setattr(host_dialog, "HostDialog", FakeHostDialog)
    return FakeHostDialog


def test_add_host_from_the_file_menu_saves_it_and_lists_its_machines(qtbot, runner, tmp_path,
                                                                       clock, host_dialog):
    window = make_window(qtbot, runner, tmp_path, clock, hosts=())
    settled(qtbot, window)
    added = HostConfig("hyperv", "hv03.lab.example", username="admin")
    window.add_host_action.trigger()
    host_dialog.chosen = added
    host_dialog.opened[-1].accept()
    assert load_settings().hosts == (added,)
    assert window.registry.settings.hosts == (added,)
    qtbot.waitUntil(lambda: state_of(window, added.id) == "Connected", timeout=5000)
    create(window.registry.open(added.id), "hv03 vm")
    settled(qtbot, window)
    assert children(window, added.id) == ["hv03 vm"]
    assert top_level(window) == ["memory", added.id]


def test_adding_a_host_already_there_says_so_and_changes_nothing(qtbot, window, host_dialog,
                                                                  find_error_dialogs):
    settled(qtbot, window)
    registry = window.registry
    window.add_host_action.trigger()
    host_dialog.chosen = HV02.replace(label="again")
    host_dialog.opened[-1].accept()
    qtbot.waitUntil(lambda: bool(find_error_dialogs()), timeout=3000)
    assert "has been added already" in find_error_dialogs()[0].text()
    find_error_dialogs()[0].close()
    assert window.registry is registry and registry.settings.host(HV02.id) == HV02
    assert load_settings().hosts == ()  # nothing written


def test_edit_replaces_the_host_and_opens_a_new_registry(qtbot, window, host_dialog):
    create(remote(window, HV01), "dc01")
    settled(qtbot, window)
    old_registry = window.registry
    menu_actions(window, HV01.id)["host-edit"].trigger()
    dialog = host_dialog.opened[-1]
    assert dialog.editing == HV01
    renamed = HV01.replace(address="hv01.example.net", label="Renamed")
    host_dialog.chosen = renamed
    dialog.accept()
    assert [h.id for h in load_settings().hosts] == [renamed.id, HV02.id]  # in its place
    assert window.registry is not old_registry
    assert not window.model.group_index(HV01.id).isValid()  # the old node went
    assert top_level(window) == ["memory", renamed.id, HV02.id]
    qtbot.waitUntil(lambda: state_of(window, renamed.id) == "Connected", timeout=5000)
    assert group(window, renamed.id).data() == "Renamed (0)"


def test_edit_with_only_a_new_password_signs_in_again(qtbot, window, host_dialog):
    settled(qtbot, window)
    registry = window.registry
    old = remote(window, HV01)
    window.registry.monitor.failed(HV01.id, AuthenticationFailed("The password was refused"))
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Authentication failed", timeout=3000)
    menu_actions(window, HV01.id)["host-edit"].trigger()
    host_dialog.chosen = HV01  # the same settings; the dialog kept the new password
    host_dialog.opened[-1].accept()
    assert window.registry is registry  # nothing else changed
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Connected", timeout=5000)
    assert registry.open(HV01.id) is not old  # a new session, with the new password
    qtbot.waitUntil(lambda: old.closed_in is not None, timeout=5000)


def test_trust_certificate_pins_it_saves_and_connects_again(qtbot, window, monkeypatch):
    from desktopvm.ui.hosts import trust_dialog

    settled(qtbot, window)
    facts = CertificateFacts("hv01.lab.example", "ab" * 32, "CN=hv01", "CN=hv01",
                             "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
    window.registry.monitor.failed(HV01.id, CertificateNotTrusted(
        "hv01's certificate is not trusted", certificate=facts))
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Certificate not trusted",
                    timeout=3000)
    shown: list[tuple[CertificateFacts, bool]] = []

    class Trusting(QDialog):
        def __init__(self, facts, changed, parent=None) -> None:
            super().__init__(parent)
            shown.append((facts, changed))

        def open(self) -> None:
            super().open()
            self.accept()  # the user chose "Trust this certificate"
    monkeypatch.setattr(trust_dialog, "TrustDialog", Trusting)
    menu_actions(window, HV01.id)["host-trust"].trigger()
    assert shown == [(facts, False)]
    saved, used = load_settings().host(HV01.id), window.registry.settings.host(HV01.id)
    assert saved is not None and saved.pinned_sha256 == "ab" * 32
    assert used is not None and used.pinned_sha256 == "ab" * 32
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Connected", timeout=5000)


def test_forget_password_asks_then_removes_it_from_the_keyring(
        qtbot, window, test_keyring: TestKeyring):  # noqa: F811
    credentials.store_password(HV01, "s3cret-Pa55")
    settled(qtbot, window)
    menu_actions(window, HV01.id)["host-forget-password"].trigger()
    box = confirm_box(qtbot)
    assert box.defaultButton() is box.escapeButton()  # the default keeps it
    box.defaultButton().click()
    qtbot.wait(100)
    assert credentials.has_password(HV01)
    menu_actions(window, HV01.id)["host-forget-password"].trigger()
    box = confirm_box(qtbot)
    next(b for b in box.buttons() if b is not box.defaultButton()).click()
    qtbot.waitUntil(lambda: not credentials.has_password(HV01), timeout=5000)
    assert "s3cret" not in test_keyring.path.read_text(encoding="utf-8")


def test_remove_asks_keeps_by_default_and_never_touches_the_hosts_machines(
        qtbot, window, test_keyring: TestKeyring):  # noqa: F811
    credentials.store_password(HV01, "s3cret-Pa55")
    backend = remote(window, HV01)
    create(backend, "dc01")
    settled(qtbot, window)
    menu_actions(window, HV01.id)["host-remove"].trigger()
    box = confirm_box(qtbot)
    assert "stay on the host" in box.text()
    box.defaultButton().click()  # Cancel: kept
    qtbot.wait(100)
    assert load_settings().hosts == () or HV01.id in [h.id for h in
                                                      window.registry.settings.hosts]
    assert window.model.group_index(HV01.id).isValid()
    menu_actions(window, HV01.id)["host-remove"].trigger()
    box = confirm_box(qtbot)
    next(b for b in box.buttons() if b is not box.defaultButton()).click()
    assert [h.id for h in load_settings().hosts] == [HV02.id]
    assert top_level(window) == ["memory", HV02.id]
    assert window.registry.monitor.statuses().get(HV01.id) is None
    qtbot.waitUntil(lambda: not credentials.has_password(HV01), timeout=5000)
    assert [m.name for m in backend.list_machines()] == ["dc01"]  # untouched
    assert "delete" not in backend.calls


def test_the_empty_state_offers_add_host(qtbot, runner, tmp_path, clock, host_dialog):
    settings = Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600)
    registry = Registry(settings, known=(fake_hosts.KNOWN,),
                        monitor=ConnectionMonitor(clock=clock))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    settled(qtbot, window)
    assert window.stack.currentWidget() is window.empty
    assert "Add a remote host" in window.empty.text()
    window.empty.linkActivated.emit("add-host")
    host_dialog.chosen = HV01
    host_dialog.opened[-1].accept()
    assert window.stack.currentWidget() is not window.empty
    qtbot.waitUntil(lambda: state_of(window, HV01.id) == "Connected", timeout=5000)
    assert window.new_action.isEnabled()


def test_state_words_are_what_the_monitor_says(qtbot, window):
    settled(qtbot, window)
    window.registry.monitor.disconnect(HV02.id)
    qtbot.waitUntil(lambda: state_of(window, HV02.id) == "Disconnected", timeout=3000)
    assert window.registry.monitor.status(HV02.id).state is State.DISCONNECTED


def opened(window: MainWindow, kind):
    return next((d for d in window.operations.open_dialogs if isinstance(d, kind)), None)


def test_the_new_vm_wizard_asks_which_host_starting_from_the_selected_node(qtbot, window):
    from PySide6.QtWidgets import QWizard

    from desktopvm.ui.editors import IdentityEditor
    from desktopvm.ui.wizard import NewVmWizard, PageId
    from tests.ui.test_wizard import editor, go_to

    settled(qtbot, window)
    remote(window, HV02).down = ConnectionLost("hv02 is down")  # after it said what it can do
    window.refresh(only=HV02.id)
    qtbot.waitUntil(lambda: state_of(window, HV02.id) == "Unreachable", timeout=5000)
    window.select_host(HV01.id)
    window.new_action.trigger()
    wizard = opened(window, NewVmWizard)
    assert wizard is not None
    buttons = wizard.backend_page.buttons
    # those that can take it first, then the others greyed with why (one not here, one down)
    assert list(buttons) == ["memory", HV01.id, "hyperv", HV02.id]
    assert not buttons["hyperv"].isEnabled()
    assert buttons[HV01.id].isChecked() and buttons[HV01.id].isEnabled()
    assert buttons["memory"].isEnabled()
    assert not buttons[HV02.id].isEnabled() and "hv02 is down" in buttons[HV02.id].toolTip()
    assert buttons[HV01.id].text() == "Hyper-V on hv01.lab.example"
    go_to(wizard, PageId.IDENTITY)
    assert wizard.backend.name == HV01.id and not wizard.check_paths()  # not this computer's
    editor(wizard, IdentityEditor).name.setText("made on hv01")
    go_to(wizard, PageId.SUMMARY)
    with qtbot.waitSignal(wizard.created, timeout=10_000):
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert [m.name for m in remote(window, HV01).list_machines()] == ["made on hv01"]
    qtbot.waitUntil(lambda: window.current_machine() is not None, timeout=5000)
    assert window.current_machine().backend == HV01.id
    assert window.current_machine().name == "made on hv01"


def test_import_reviews_the_package_and_asks_which_connection(qtbot, window, tmp_path):
    from desktopvm.ui.import_review import ImportReviewDialog
    from tests.ui.test_import_review import make_ova

    appliance = make_ova(tmp_path / "pkg")  # a real OVA of a machine called "web"
    target = remote(window, HV01)
    create(target, "web")  # taken on hv01: the review offers web-2
    calls = []

    def import_machine(path, *, name="", progress, cancel):
        # The double's own import reads its own JSON "appliances"; what matters here is
        # what the review hands on: this package, this connection, the name chosen.
        calls.append((path, name))
        return create(target, name)
    target.import_machine = import_machine  # type: ignore[method-assign]
    remote(window, HV02).down = ConnectionLost("hv02 is down")
    settled(qtbot, window)
    window.operations.ask_open_path = lambda: str(appliance)
    window.select_host(HV01.id)
    window.import_action.trigger()
    dialog = opened(window, ImportReviewDialog)
    assert dialog is not None
    combo = dialog.connection
    assert [combo.itemData(i) for i in range(combo.count())] == ["memory", HV01.id]
    assert dialog.chosen().name == HV01.id  # the selected node's host
    qtbot.waitUntil(lambda: dialog.appliance is not None, timeout=5000)
    assert "already called web" in dialog.name_problem.text()
    assert not dialog.import_button.isEnabled()
    dialog.use_suggestion.click()
    assert dialog.import_button.isEnabled()
    dialog.import_button.click()
    qtbot.waitUntil(lambda: calls == [(appliance, "web-2")], timeout=5000)
    qtbot.waitUntil(lambda: window.current_machine() is not None and
                    window.current_machine().backend == HV01.id and
                    window.current_machine().name == "web-2", timeout=5000)


def test_a_bridge_whose_window_went_stops_listening(qtbot):
    import shiboken6

    from desktopvm.ui.connection_refresh import StatusBridge

    monitor = ConnectionMonitor()
    bridge = StatusBridge(monitor)
    heard = []
    bridge.changed.connect(lambda name, status: heard.append(name))
    monitor.reconnect(HV01.id)
    assert heard == [HV01.id]
    shiboken6.delete(bridge)  # its C++ side is gone, as with a window deleted unclosed
    monitor.failed(HV01.id, ConnectionLost("down"))
    assert monitor._listeners == []


def test_a_refresh_asked_while_one_runs_lists_again_after_it(qtbot, window):
    """A machine made while a slow listing of its host runs shows up once that listing ends
    (the running one may have read the host from before); the timer's ticks do not pile up."""
    backend = remote(window, HV01)
    settled(qtbot, window)
    answer = backend.slow_answer = threading.Event()
    backend.read.clear()
    window.refresher.refresh(asked=False, only=HV01.id)  # a tick starts a slow listing
    assert HV01.id in window.refresher.jobs
    assert backend.read.wait(10)  # it has read the host; its answer is on its way
    create(backend, "made meanwhile")
    window.refresher.refresh(asked=False, only=HV01.id)  # another tick: nothing more
    assert HV01.id not in window.refresher.again
    window.refresh(only=HV01.id)  # the operation that made it asks for a refresh
    backend.slow_answer = None
    answer.set()
    qtbot.waitUntil(lambda: "made meanwhile" in children(window, HV01.id), timeout=5000)
