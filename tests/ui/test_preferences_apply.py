"""New preferences: the window reopens its backends and closes the old ones safely."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from desktopvm.jobs import JobRunner
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, PowerState, no_progress
from desktopvm.registry import KnownBackend, Registry
from desktopvm.settings import Settings
from desktopvm.ui.main_window import MainWindow

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")


@pytest.fixture
def window(qtbot, runner: JobRunner, tmp_path: Path) -> MainWindow:
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(MEMORY,))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    return window


def add(registry: Registry, name: str) -> str:
    memory = registry.open("memory")
    return memory.create(defaults_for("debian12", memory.capabilities(), name=name),
                         progress=no_progress, cancel=CancelToken())


def names(window: MainWindow) -> set[str]:
    group = window.model.index(0, 0)
    return {window.model.index(row, 0, group).data()
            for row in range(window.model.rowCount(group))}


def other_library(window: MainWindow, tmp_path: Path) -> Settings:
    return window.registry.settings.replace(library_dir=str(tmp_path / "other"))


def test_old_backends_close_off_the_gui_thread_once_their_running_job_ends(
        qtbot, window, tmp_path):
    old_registry = window.registry
    old = old_registry.open("memory")
    machine_id = add(old_registry, "busy")
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: names(window) == {"busy"} and window._refreshing is None,
                    timeout=5000)
    window.select(("localhost", "memory", machine_id))
    old.gate = threading.Event()  # start() blocks until the test lets it go
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        window.machine_actions["start"].trigger()
    job = added.args[0]
    window.apply_settings(other_library(window, tmp_path))
    assert window.registry is not old_registry
    assert window.registry.open("memory") is not old
    qtbot.waitUntil(lambda: window._refreshing is None and not names(window), timeout=5000)
    assert old.closed_in is None  # the start job still uses it
    old.gate.set()
    qtbot.waitUntil(lambda: old.closed_in is not None, timeout=5000)
    assert old.closed_in is not threading.main_thread()
    assert job.error is None and old.get_machine(machine_id).state is PowerState.RUNNING
    qtbot.waitUntil(lambda: not window._retired, timeout=5000)
    assert window.registry.open("memory").closed_in is None  # the new one stays open


def test_with_nothing_running_the_old_backends_close_at_once(qtbot, window, tmp_path):
    old = window.registry.open("memory")
    window.apply_settings(other_library(window, tmp_path))
    qtbot.waitUntil(lambda: old.closed_in is not None, timeout=5000)
    assert old.closed_in is not threading.main_thread()


def test_a_new_refresh_interval_alone_keeps_the_open_backends(qtbot, window):
    registry = window.registry
    memory = registry.open("memory")
    window.apply_settings(registry.settings.replace(refresh_interval_s=60))
    assert window.registry is registry and registry.settings.refresh_interval_s == 60
    assert window.timer.interval() == 60_000
    assert registry.open("memory") is memory and memory.closed_in is None


def test_preferences_saved_during_a_refresh_refresh_again_with_the_new_backends(
        qtbot, window, tmp_path):
    old = window.registry.open("memory")
    add(window.registry, "from the old library")
    gate = threading.Event()
    listed = old.list_machines

    def slow_list():
        gate.wait(10)
        return listed()
    old.list_machines = slow_list
    assert window.refresh(with_facts=True) is not None
    window.apply_settings(other_library(window, tmp_path))
    add(window.registry, "from the new library")
    gate.set()
    qtbot.waitUntil(lambda: names(window) == {"from the new library"}, timeout=5000)
    qtbot.waitUntil(lambda: old.closed_in is not None, timeout=5000)


def test_at_exit_every_registry_is_closed(qtbot, window, tmp_path):
    old = window.registry.open("memory")
    old.gate = threading.Event()
    machine_id = add(window.registry, "still starting")
    window.runner.submit("Start", lambda p, c: old.start(machine_id))
    window.apply_settings(other_library(window, tmp_path))
    current = window.registry.open("memory")
    old.gate.set()
    assert window.runner.wait_for_done(5000)  # as app.main does after the event loop ends
    window.close_backends()
    assert old.closed_in is threading.main_thread()
    assert current.closed_in is threading.main_thread()
