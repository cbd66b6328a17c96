"""The main window against the in-memory backend: refresh, actions, errors, hangs, delete."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QMessageBox

from desktopvm.jobs import JobRunner, JobState
from desktopvm.model import defaults_for
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    ConsoleEndpoints,
    PowerState,
    SerialEndpoint,
    TimedOut,
    no_progress,
)
from desktopvm.registry import KnownBackend, Registry
from desktopvm.settings import Settings
from desktopvm.ui.console_window import open_console
from desktopvm.ui.dialogs import DeleteDialog
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.widget_lists import top_level_widgets

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")
ABSENT = KnownBackend("absent", "Absent", "desktopvm.testing.doubles.no_such_backend")


@pytest.fixture
def runner(qtbot):
    runner = JobRunner()
    yield runner
    runner.cancel_all()
    runner.wait_for_done(10_000)


@pytest.fixture
def window(qtbot, runner, tmp_path: Path):
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(MEMORY, ABSENT))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    return window


def backend(window):
    return window.registry.open("memory")


def add(window, name: str, os_id: str = "debian12", start: bool = False):
    mem = backend(window)
    machine_id = mem.create(defaults_for(os_id, mem.capabilities(), name=name),
                            progress=no_progress, cancel=CancelToken())
    if start:
        mem.start(machine_id)
    return machine_id


def refreshed(qtbot, window, count: int) -> None:
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window.model.machine_count() == count and
                    window._refreshing is None, timeout=5000)


def select(qtbot, window, machine_id: str) -> None:
    window.select(("localhost", "memory", machine_id))
    qtbot.waitUntil(lambda: window.current_machine() is not None and
                    window.current_machine().id == machine_id, timeout=2000)


def test_lists_machines_and_keeps_the_selection_over_refreshes(qtbot, window):
    first = add(window, "alpha")
    add(window, "beta", start=True)
    refreshed(qtbot, window, 2)
    select(qtbot, window, first)
    backend(window).start(first)
    add(window, "gamma")
    refreshed(qtbot, window, 3)
    assert window.current_machine().id == first
    assert window.current_machine().state is PowerState.RUNNING
    qtbot.waitUntil(lambda: window.details.title.text() == "alpha", timeout=3000)


def test_actions_follow_state(qtbot, window):
    machine_id = add(window, "states")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    actions = window.machine_actions
    assert actions["start"].isEnabled() and not actions["shutdown"].isEnabled()
    assert actions["delete"].isEnabled() and actions["clone"].isEnabled()
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as started:
        actions["start"].trigger()
    qtbot.waitUntil(lambda: started.args[0].state.is_done, timeout=5000)
    qtbot.waitUntil(lambda: window.current_machine() is not None and
                    window.current_machine().state is PowerState.RUNNING, timeout=5000)
    assert actions["shutdown"].isEnabled() and actions["pause"].isEnabled()
    assert not actions["start"].isEnabled() and not actions["delete"].isEnabled()
    backend(window).pause(machine_id)
    refreshed(qtbot, window, 1)
    assert actions["resume"].isEnabled() and actions["resume"].isVisible()
    assert not actions["pause"].isVisible()


def test_search_filters_as_you_type(qtbot, window):
    add(window, "web server")
    add(window, "database")
    refreshed(qtbot, window, 2)
    qtbot.keyClicks(window.search, "web")
    group = window.proxy.index(0, 0)
    assert window.proxy.rowCount(group) == 1
    assert window.proxy.index(0, 0, group).data() == "web server"


def test_a_failing_backend_shows_its_error_row_and_the_window_keeps_working(qtbot, window):
    add(window, "survivor")
    refreshed(qtbot, window, 1)
    backend(window).fail_next = CommandFailed("VBoxManage is stuck", exit_code=1)
    window.refresh(with_facts=False)
    group = window.model.index(0, 1)
    qtbot.waitUntil(lambda: "VBoxManage is stuck" in str(group.data()), timeout=5000)
    assert window.model.machine_count() == 1  # last known machines stay
    refreshed(qtbot, window, 1)
    assert window.model.index(0, 1).data() is None


def test_an_operation_that_fails_opens_an_error_dialog(qtbot, window):
    machine_id = add(window, "broken")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    mem = backend(window)

    def fail(machine_id, mode=None):
        raise CommandFailed("QEMU could not start the machine: no such file",
                            command=["qemu-system-x86_64"], exit_code=1, stderr="boom")
    mem.start = fail
    window.machine_actions["start"].trigger()
    qtbot.waitUntil(lambda: any(w.objectName() == "error-dialog" and w.isVisible()
                                for w in top_level_widgets()), timeout=5000)
    box = next(w for w in top_level_widgets() if w.objectName() == "error-dialog")
    assert isinstance(box, QMessageBox)
    assert box.text() == "QEMU could not start the machine: no such file"
    assert "exit code: 1" in box.detailedText() and "boom" in box.detailedText()
    box.close()


def test_a_hanging_backend_never_freezes_the_window(qtbot, window):
    machine_id = add(window, "slow")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    mem = backend(window)
    mem.gate = threading.Event()
    original = mem.start

    def start_that_times_out(machine_id, mode=None):
        if not mem.gate.wait(10):
            raise TimedOut("The hypervisor did not answer within 10 s")
        original(machine_id)
    mem.start = start_that_times_out
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        window.machine_actions["start"].trigger()
    job = added.args[0]
    assert job.state is JobState.RUNNING
    timer = QTimer()  # the event loop still runs while the backend blocks
    timer.setSingleShot(True)
    with qtbot.waitSignal(timer.timeout, timeout=2000):
        timer.start(10)
    add(window, "meanwhile")
    refreshed(qtbot, window, 2)  # the list keeps working
    mem.gate.set()
    qtbot.waitUntil(lambda: job.state.is_done, timeout=15_000)


def test_cancelled_job_shows_cancelled(qtbot, window):
    machine_id = add(window, "to cancel")
    refreshed(qtbot, window, 1)
    mem = backend(window)
    release = threading.Event()

    def save_state(machine_id, *, progress, cancel):
        release.wait(10)
        cancel.raise_if_cancelled()
    mem.save_state = save_state
    mem.start(machine_id)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        window.machine_actions["save"].trigger()
    job = added.args[0]
    job.cancel()
    release.set()
    qtbot.waitUntil(lambda: job.state is JobState.CANCELLED, timeout=5000)
    model = window.jobs_panel.model
    row = next(r for r in range(model.rowCount()) if model.job(r) is job)
    assert model.index(row, 1).data() == "Cancelled"


def test_delete_asks_and_keeps_disks_unless_ticked(qtbot, window):
    keep_id = add(window, "keep")
    refreshed(qtbot, window, 1)
    files = [Path(p) for p in backend(window).get_machine(keep_id).files]
    select(qtbot, window, keep_id)
    window.machine_actions["delete"].trigger()
    qtbot.waitUntil(lambda: any(isinstance(d, DeleteDialog) for d in
                                window.operations.open_dialogs), timeout=5000)
    dialog = next(d for d in window.operations.open_dialogs if isinstance(d, DeleteDialog))
    assert not dialog.delete_disks.isChecked()
    listed = dialog.findChild(QLabel, "disk-files")
    assert listed is not None and str(files[0]) in listed.text()
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        dialog.delete_button.click()
    qtbot.waitUntil(lambda: window.model.machine_count() == 0, timeout=5000)
    assert files and all(p.exists() for p in files)
    job = added.args[0]
    qtbot.waitUntil(lambda: job.state.is_done, timeout=5000)
    # The kept disks are said where they are, to reuse or remove them.
    assert str(files[0]) in job.stage and "Settings → Storage" in job.stage


def test_no_backend_shows_what_to_install(qtbot, runner, tmp_path):
    registry = Registry(Settings(library_dir=str(tmp_path)), known=(ABSENT,))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.empty, timeout=5000)
    assert "No hypervisor is available" in window.empty.text()
    assert "not part of this build" in window.empty.text()
    assert not window.new_action.isEnabled()


def test_console_asks_the_backend_off_the_gui_thread(qtbot, window, tmp_path, find_error_dialogs):
    machine_id = add(window, "console", start=True)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    mem = backend(window)
    # a hypervisor that offers no console for it: a clear error, no empty window
    assert not window.machine_actions["console"].isEnabled()
    open_console(window, window.current_machine())
    qtbot.waitUntil(lambda: bool(find_error_dialogs()), timeout=5000)
    assert "has no console" in find_error_dialogs()[0].text()
    assert not [w for w in window.__dict__.get("_console_windows", []) if w.isVisible()]
    find_error_dialogs()[0].close()
    # one with a serial console that takes its time to answer
    capabilities = mem.capabilities().model_copy(update={"screenshot": True})
    mem.capabilities = lambda: capabilities
    refreshed(qtbot, window, 1)
    gate = threading.Event()
    serial = SerialEndpoint(unix_socket=str(tmp_path / "no-such.sock"))

    def slow_console(machine_id):
        assert threading.current_thread() is not threading.main_thread()
        gate.wait(10)
        return ConsoleEndpoints(serial=serial)

    mem.console = slow_console
    qtbot.waitUntil(window.machine_actions["console"].isEnabled, timeout=2000)
    with qtbot.waitSignal(window.runner.job_added, timeout=2000) as added:
        window.machine_actions["console"].trigger()
    assert added.args[0].state is JobState.RUNNING
    timer = QTimer()  # the event loop runs while the backend thinks
    timer.setSingleShot(True)
    with qtbot.waitSignal(timer.timeout, timeout=2000):
        timer.start(10)
    assert not [w for w in window._console_windows if w.isVisible()]
    gate.set()
    qtbot.waitUntil(lambda: any(w.isVisible() for w in window._console_windows), timeout=5000)
    console = window._console_windows[-1]
    assert [console.tabs.widget(i).kind for i in range(console.tabs.count())] == [
        "preview", "serial"]
    # opening it again raises the same tab without asking the backend
    with qtbot.assertNotEmitted(window.runner.job_added, wait=100):
        window.machine_actions["console"].trigger()
    assert console.tabs.count() == 2
    console.close()


def confirm_box(qtbot) -> QMessageBox:
    qtbot.waitUntil(lambda: any(w.objectName() == "confirm-dialog" and w.isVisible()
                                for w in top_level_widgets()), timeout=3000)
    box = next(w for w in top_level_widgets()
               if w.objectName() == "confirm-dialog" and w.isVisible())
    assert isinstance(box, QMessageBox)
    return box


def test_a_saved_machine_can_discard_its_state_after_asking(qtbot, window):
    """Issue 13, must fix 3: a saved machine is no dead end. Discard saved state takes Power
    off's place, asks first (Cancel is the default and keeps the state), then discards."""
    machine_id = add(window, "saved", start=True)
    mem = backend(window)
    mem.save_state(machine_id, progress=no_progress, cancel=CancelToken())
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    actions = window.machine_actions
    assert actions["discard"].isVisible() and actions["discard"].isEnabled()
    assert not actions["poweroff"].isVisible()
    actions["discard"].trigger()
    box = confirm_box(qtbot)
    assert "Discard the saved state of saved?" in box.text()
    assert box.defaultButton() is box.escapeButton()
    box.defaultButton().click()  # keep
    qtbot.wait(200)
    assert mem.get_machine(machine_id).state is PowerState.SAVED
    assert not [j for j in window.runner.jobs if not j.background]
    actions["discard"].trigger()
    box = confirm_box(qtbot)
    next(b for b in box.buttons() if b is not box.defaultButton()).click()
    qtbot.waitUntil(lambda: mem.get_machine(machine_id).state is PowerState.OFF, timeout=5000)
    qtbot.waitUntil(lambda: window.current_machine() is not None and
                    window.current_machine().state is PowerState.OFF, timeout=5000)
    assert actions["poweroff"].isVisible() and not actions["discard"].isVisible()
    assert actions["start"].isEnabled()


def test_discard_never_powers_off_a_machine_started_meanwhile(qtbot, window, find_error_dialogs):
    machine_id = add(window, "raced", start=True)
    mem = backend(window)
    mem.save_state(machine_id, progress=no_progress, cancel=CancelToken())
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    window.machine_actions["discard"].trigger()
    box = confirm_box(qtbot)
    mem.start(machine_id)  # someone else resumed it while the question was open
    next(b for b in box.buttons() if b is not box.defaultButton()).click()
    qtbot.waitUntil(lambda: bool(find_error_dialogs()), timeout=5000)
    assert "no saved state" in find_error_dialogs()[0].text()
    assert mem.get_machine(machine_id).state is PowerState.RUNNING
    find_error_dialogs()[0].close()


def test_the_error_dialog_says_qemus_cause(qtbot, window, tmp_path, find_error_dialogs):
    """Issue 13, must fix 4: the cause QEMU logged is in the dialog's one line."""
    from tests.cli.test_cli_errors import CAUSE, LOADVM_LOG, fake_qemu, launch_error

    error = launch_error(fake_qemu(tmp_path, LOADVM_LOG), tmp_path / "qemu.log")
    machine_id = add(window, "restored")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)

    def start(machine_id, mode=None):
        raise error
    backend(window).start = start
    window.machine_actions["start"].trigger()
    qtbot.waitUntil(lambda: bool(find_error_dialogs()), timeout=5000)
    [box] = find_error_dialogs()
    assert CAUSE in box.text()
    box.close()
