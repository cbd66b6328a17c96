"""Live inventory: a power change made in another client shows through the watcher (no
timer), the watcher ends with its connection, local backends get none, a failing wait rests."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect

from backends.esxi.backend import EsxiBackend
from backends.esxi.session import vim
from desktopvm import credentials
from desktopvm.jobs import JobRunner
from desktopvm.protocol import ChangeWatching, ConnectionLost, PowerState
from desktopvm.registry import KNOWN_BACKENDS, KnownBackend, Registry
from desktopvm.settings import REFRESH_RANGE, Settings
from desktopvm.testing.doubles.esxi import sim
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from desktopvm.ui import live_watch
from desktopvm.ui.inventory_model import STATE
from desktopvm.ui.main_window import MainWindow
from tests.backends.esxi.conftest import esx  # noqa: F401  (a session fixture: the simulator)
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (a fixture)

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")
ESXI = tuple(k for k in KNOWN_BACKENDS if k.name == "esxi")
NO_TIMER = REFRESH_RANGE[1]  # the longest interval; the test stops the timer as well
JOIN = 30.0  # seconds a test waits for a watcher's thread to end


def test_esxi_offers_live_updates_and_the_memory_backend_does_not() -> None:
    assert issubclass(EsxiBackend, ChangeWatching)
    assert not issubclass(MemoryBackend, ChangeWatching)
    watching: type[ChangeWatching] = EsxiBackend  # mypy checks the signature matches
    assert watching


def window_on(registry: Registry, runner: JobRunner, qtbot: Any) -> MainWindow:
    """The app's window on `registry`, listed once at start and never by its timer."""
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    window.start()
    window.timer.stop()  # only a watcher can make a listing happen after the first
    return window


def shown_state(window: MainWindow, connection: str, machine_id: str) -> str:
    """What the inventory's State column says for a machine ('' when it is not listed)."""
    model = window.model
    machine = next((m for m in model.machines_of(connection) if m.id == machine_id), None)
    if machine is None:
        return ""
    index = model.index_of(machine.key)
    return str(model.index(index.row(), STATE, index.parent()).data())


def settled(qtbot: Any, window: MainWindow, connection: str) -> None:
    """Wait until the connection is watched, its wait from a real token is under way and no
    listing runs (the watcher's first token asks for one): from here on only the watcher's
    wait can make it listed again."""
    live = window.refresher.live
    qtbot.waitUntil(lambda: live.watching(connection) and
                    live.watchers[connection].waits >= 2 and window._refreshing is None,
                    timeout=60_000)


@pytest.fixture
def other_client(esx: sim.Sim) -> Iterator[Any]:  # noqa: F811
    """A second pyVmomi session, as another administrator's client would be."""
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    admin = SmartConnect(host="127.0.0.1", port=esx.port, user=sim.USER, pwd=sim.PASSWORD,
                         sslContext=context)
    yield admin
    Disconnect(admin)


def finish(task: Any) -> None:
    while task.info.state not in ("success", "error"):
        threading.Event().wait(0.05)


@pytest.mark.vcsim
def test_a_power_off_elsewhere_shows_through_the_watcher_which_ends_with_the_host(
        qtbot, runner: JobRunner, tmp_path: Path, *, esx: sim.Sim,  # noqa: F811
        other_client: Any, test_keyring: TestKeyring,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Waits longer than JOIN (the backend makes it 55 s): only a cancel ends one in time.
    monkeypatch.setattr(live_watch, "WAIT_S", 120)
    host = esx.host(label="esx (vcsim)")
    credentials.store_password(host, sim.PASSWORD)
    settings = Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=NO_TIMER,
                        hosts=(host,))
    # The host beside a local backend (the memory stand-in), as a newcomer's window has it.
    window = window_on(Registry(settings, known=(MEMORY, *ESXI)), runner, qtbot)
    live = window.refresher.live
    settled(qtbot, window, host.id)
    assert "memory" not in live.watchers  # listed (settled waits for that), not watched
    machine = next(m for m in window.model.machines_of(host.id)
                   if m.state is PowerState.RUNNING)
    assert shown_state(window, host.id, machine.id) == "Running"
    watcher = live.watchers[host.id]
    remote = vim.VirtualMachine(machine.id, other_client._stub)
    finish(remote.PowerOffVM_Task())
    try:
        qtbot.waitUntil(lambda: shown_state(window, host.id, machine.id) == "Powered off",
                        timeout=20_000)  # the wait in progress ended: no 30 s wait-out
        assert not window.timer.isActive()
        # Disconnect ends the watcher; Connect starts one again once the host is listed.
        window.hosts.disconnect(host.id)
        watcher.thread.join(JOIN)
        assert not watcher.thread.is_alive() and host.id not in live.watchers
        window.hosts.connect(host.id)
        settled(qtbot, window, host.id)
        again = live.watchers[host.id]
        assert again is not watcher
        finish(remote.PowerOnVM_Task())
        qtbot.waitUntil(lambda: shown_state(window, host.id, machine.id) == "Running",
                        timeout=20_000)
        # Removing the host (what Remove does once the user said yes) ends it too.
        window.apply_settings(settings.without_host(host.id))
        again.thread.join(JOIN)
        assert not again.thread.is_alive() and not live.watchers
    finally:
        if remote.runtime.powerState != "poweredOn":
            finish(remote.PowerOnVM_Task())
        window.close()  # then as the app exits: the jobs end, the backends are closed
        runner.cancel_all()
        assert runner.wait_for_done(10_000)
        window.close_backends()


@pytest.fixture
def memory_registry(tmp_path: Path) -> Registry:
    return Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=NO_TIMER),
                    known=(MEMORY,))


def test_a_backend_that_cannot_watch_gets_no_watcher(qtbot, runner: JobRunner,
                                                     memory_registry: Registry,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    class Counted(live_watch.Watcher):
        def __init__(self, live: Any, registry: Registry, name: str) -> None:
            made.append(name)
            super().__init__(live, registry, name)

    monkeypatch.setattr(live_watch, "Watcher", Counted)
    window = window_on(memory_registry, runner, qtbot)
    live = window.refresher.live
    qtbot.waitUntil(lambda: window._refreshing is None, timeout=10_000)  # the first listing
    listed = window.refresh()  # the listing says it cannot: no thread is even started
    assert listed is not None
    qtbot.waitUntil(lambda: listed.state.is_done and window._refreshing is None,
                    timeout=10_000)
    assert listed.result.machines is not None and not listed.result.watchable
    assert not live.watchers and not live.watching("memory")
    assert made == []  # not even a thread that finds out


class FailingWatch(MemoryBackend):
    """A backend whose every wait fails as a dropped connection does."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.waits = 0

    def wait_for_changes(self, token: str = "", *, seconds: int = 30,
                         cancel: Any = None) -> str:
        self.waits += 1
        raise ConnectionLost("The host closed the connection")


def test_a_failing_wait_rests_longer_each_time_and_shows_no_dialog(
        qtbot, runner: JobRunner, memory_registry: Registry, *, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, find_error_dialogs: Any) -> None:
    backend = FailingWatch(tmp_path / "machines")
    monkeypatch.setattr(memory_registry, "open", lambda name: backend)
    rests: list[float] = []
    listings: list[str] = []
    threads: set[threading.Thread] = set()

    def rest(cancel: Any, seconds: float) -> None:  # instead of sleeping
        rests.append(seconds)
        threads.add(threading.current_thread())
        if len(rests) == 9:
            cancel.wait(JOIN)  # enough: rest here until the test stops the watcher

    monkeypatch.setattr(live_watch, "rest", rest)
    window = window_on(memory_registry, runner, qtbot)
    live = window.refresher.live
    real_refresh = window.refresher.refresh

    def refresh(*args: Any, **named: Any) -> Any:  # counts the listings asked for
        listings.append(named.get("only", ""))
        return real_refresh(*args, **named)

    monkeypatch.setattr(window.refresher, "refresh", refresh)
    qtbot.waitUntil(lambda: len(rests) == 9, timeout=10_000)
    [thread] = threads  # one watcher, on a thread of its own
    assert rests == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert backend.waits == 9  # one wait per rest: it never tries again without resting
    assert not live.watching("memory")  # so the timer's ticks list it meanwhile
    # Each failure asked for one listing (it reports the host's state); no dialog.
    qtbot.waitUntil(lambda: listings.count("memory") == 9, timeout=10_000)
    assert not find_error_dialogs()
    live.stop("memory")  # as a removed connection's is: the rest ends at once
    thread.join(JOIN)
    assert not thread.is_alive() and backend.waits == 9


class QuietWatch(MemoryBackend):
    """A backend that can watch and whose machines never change: each wait lasts until
    cancelled (as a wait on a quiet host does, but for its time)."""

    def wait_for_changes(self, token: str = "", *, seconds: int = 30,
                         cancel: Any = None) -> str:
        if token and cancel is not None:
            cancel.wait(JOIN)
            cancel.raise_if_cancelled()
        return "quiet"


def test_the_timer_leaves_a_watched_connection_to_its_watcher_but_for_every_tenth_tick(
        qtbot, runner: JobRunner, memory_registry: Registry, *, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    backend = QuietWatch(tmp_path / "machines")
    monkeypatch.setattr(memory_registry, "open", lambda name: backend)
    window = window_on(memory_registry, runner, qtbot)
    live, refresher = window.refresher.live, window.refresher
    qtbot.waitUntil(lambda: live.watching("memory") and live.watchers["memory"].waits >= 2
                    and window._refreshing is None, timeout=10_000)
    assert refresher.refresh(with_facts=False, asked=False) is None  # a tick: left alone
    safety_net = refresher.refresh(with_facts=True, asked=False)  # the tenth tick
    assert safety_net is not None
    qtbot.waitUntil(lambda: window._refreshing is None, timeout=10_000)
    watcher = live.watchers["memory"]
    live.stop("memory")
    watcher.thread.join(JOIN)
    assert not watcher.thread.is_alive()
    assert refresher.refresh(with_facts=False, asked=False) is not None  # polled again


def test_news_for_a_window_that_went_is_dropped(qtbot, runner: JobRunner,
                                                memory_registry: Registry, *, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A watcher's thread may still speak after its window was deleted (a test or a second
    window): its news goes through the application's relay, which drops it — the window's
    objects are never touched — and stops the watcher."""
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    backend = QuietWatch(tmp_path / "machines")
    monkeypatch.setattr(memory_registry, "open", lambda name: backend)
    window = MainWindow(memory_registry, runner)  # not qtbot's: this test deletes it
    window.start()
    window.timer.stop()
    live = window.refresher.live
    qtbot.waitUntil(lambda: live.watching("memory") and window._refreshing is None,
                    timeout=10_000)
    watcher = live.watchers["memory"]
    heard: list[str] = []
    monkeypatch.setattr(live_watch.LiveWatch, "ended", lambda _self, _w: heard.append("ended"))
    stopped: list[bool] = []
    real_stop = watcher.stop
    def stop() -> None:
        stopped.append(True)
        real_stop()

    monkeypatch.setattr(watcher, "stop", stop)
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(live)
    watcher.cancel.cancel()  # its wait ends; the thread says "ended", to nobody
    watcher.thread.join(JOIN)
    qtbot.waitUntil(lambda: bool(stopped), timeout=5000)  # the relay's on_gone ran
    assert heard == []  # and nothing of the deleted window's was called


class FlappingWatch(MemoryBackend):
    """A host whose session is lost after each wait: the stale token answers at once with a
    new one (a new login), then the next wait fails again."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.asked = 0

    def wait_for_changes(self, token: str = "", *, seconds: int = 30,
                         cancel: Any = None) -> str:
        self.asked += 1
        if self.asked % 2 == 0:
            raise ConnectionLost("The host closed the connection")
        return f"token-{self.asked}"


class InstantWatch(MemoryBackend):
    """A backend that says "no change" at once, every time."""

    def wait_for_changes(self, token: str = "", *, seconds: int = 30,
                         cancel: Any = None) -> str:
        return "same"


@pytest.mark.parametrize("kind, expected", [
    (FlappingWatch, [5, 10, 20, 40]),  # quick successes in between do not reset the rest
    (InstantWatch, [1, 1, 1, 1]),  # an answer at once: rests a second, never spins
])
def test_a_watch_that_does_not_really_wait_never_spins(
        qtbot, runner: JobRunner, memory_registry: Registry, *, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, kind: type[MemoryBackend],
        expected: list[float]) -> None:
    backend = kind(tmp_path / "machines")
    monkeypatch.setattr(memory_registry, "open", lambda name: backend)
    rests: list[float] = []

    def rest(cancel: Any, seconds: float) -> None:
        rests.append(seconds)
        if len(rests) == len(expected):
            cancel.wait(JOIN)

    monkeypatch.setattr(live_watch, "rest", rest)
    window = window_on(memory_registry, runner, qtbot)
    live = window.refresher.live
    qtbot.waitUntil(lambda: len(rests) == len(expected), timeout=10_000)
    assert rests == expected
    watcher = live.watchers["memory"]
    live.stop("memory")
    watcher.thread.join(JOIN)
