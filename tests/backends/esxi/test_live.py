"""Live state on vcsim's vCenter: WaitForUpdatesEx ends a wait when another client changes a
machine, and only then; Cancel ends a wait; a new login changes the token."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect

from backends.esxi import open_remote
from backends.esxi.backend import EsxiBackend
from backends.esxi.session import vim
from desktopvm.protocol import CancelToken, OperationCancelled, PowerState
from desktopvm.testing.doubles.esxi import sim

pytestmark = pytest.mark.vcsim
JOIN = 30.0  # seconds a test waits for the waiting thread; the waits themselves are longer


@pytest.fixture
def other_client(vpx: sim.Sim) -> Iterator[Any]:
    """A second pyVmomi session, as another administrator's client would be."""
    context = ssl.create_default_context(cafile=str(vpx.tls.ca))
    admin = SmartConnect(host="127.0.0.1", port=vpx.port, user=sim.USER, pwd=sim.PASSWORD,
                         sslContext=context)
    yield admin
    Disconnect(admin)


def in_thread(call: Callable[[], str]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as error:  # handed to the test, which asserts on it
            out.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def wait_task(task: Any) -> None:
    while task.info.state not in ("success", "error"):
        threading.Event().wait(0.05)


def test_a_power_change_by_another_client_ends_the_wait(vpx_backend: EsxiBackend,
                                                        other_client: Any) -> None:
    machine = next(m for m in vpx_backend.list_machines() if m.state is PowerState.RUNNING)
    start = vpx_backend.wait_for_changes("")
    thread, out = in_thread(lambda: vpx_backend.wait_for_changes(start, seconds=120))
    remote = vim.VirtualMachine(machine.id, other_client._stub)
    wait_task(remote.PowerOffVM_Task())
    try:
        thread.join(JOIN)
        assert out and isinstance(out[0], str) and out[0] != start  # ended by the change
        states = {m.id: m.state for m in vpx_backend.list_machines()}
        assert states[machine.id] is PowerState.OFF
    finally:
        wait_task(remote.PowerOnVM_Task())


def test_a_machine_moved_to_another_host_ends_the_wait(vpx_backend: EsxiBackend,
                                                       other_client: Any) -> None:
    """On a vCenter the tree groups machines by host: a move (DRS, vMotion) is a change."""
    machine = next(m for m in vpx_backend.list_machines() if len(m.location) == 3)  # clustered
    remote = vim.VirtualMachine(machine.id, other_client._stub)
    here = remote.runtime.host
    there = next(h for h in remote.resourcePool.owner.host if h != here)
    start = vpx_backend.wait_for_changes("")
    thread, out = in_thread(lambda: vpx_backend.wait_for_changes(start, seconds=120))
    wait_task(remote.RelocateVM_Task(vim.vm.RelocateSpec(host=there)))
    try:
        thread.join(JOIN)
        assert out and isinstance(out[0], str) and out[0] != start  # ended by the move
        moved = next(m for m in vpx_backend.list_machines() if m.id == machine.id)
        assert moved.location[-1] == there.name != machine.location[-1]
    finally:
        wait_task(remote.RelocateVM_Task(vim.vm.RelocateSpec(host=here)))


def test_a_wait_with_no_change_returns_the_same_token(vpx_backend: EsxiBackend) -> None:
    start = vpx_backend.wait_for_changes("")
    assert vpx_backend.wait_for_changes(start, seconds=1) == start


def test_cancel_ends_a_wait(vpx_backend: EsxiBackend) -> None:
    start = vpx_backend.wait_for_changes("")
    token = CancelToken()
    thread, out = in_thread(lambda: vpx_backend.wait_for_changes(start, seconds=120,
                                                                 cancel=token))
    # Most likely the wait is on the host by then, so CancelWaitForUpdates is what ends it
    # (a cancel before the call is also an end; a cancel never lets the wait run its time).
    threading.Event().wait(0.5)
    assert vpx_backend.list_machines()  # a wait in progress does not hold up the session
    assert thread.is_alive()
    token.cancel()
    thread.join(JOIN)
    assert out and isinstance(out[0], OperationCancelled)


def test_a_new_login_changes_the_token(vpx_backend: EsxiBackend, other_client: Any) -> None:
    start = vpx_backend.wait_for_changes("")
    ours = vpx_backend.session.service().content.sessionManager.currentSession.key
    other_client.content.sessionManager.TerminateSession([ours])
    thread, out = in_thread(lambda: vpx_backend.wait_for_changes(start, seconds=120))
    thread.join(JOIN)
    assert out and isinstance(out[0], str) and out[0] != start


def test_close_ends_a_wait_in_progress(vpx: sim.Sim) -> None:
    # vcsim's Logout leaves a logged-out session's wait running for its time; close() ends it
    # first, so a backend closed when its host is disconnected holds no thread for long.
    backend = open_remote(vpx.host(), password=sim.PASSWORD)
    start = backend.wait_for_changes("")
    thread, out = in_thread(lambda: backend.wait_for_changes(start, seconds=120))
    threading.Event().wait(0.5)  # most likely on the host by then (either way it must end)
    backend.close()
    thread.join(JOIN)
    assert not thread.is_alive() and out


def test_stop_does_not_wait_on_a_host_that_does_not_answer(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """close() at the app's exit: a CancelWaitForUpdates to a host that is gone must not hold
    the caller for the session's timeout; stop() waits its bounded settle time only."""
    from backends.esxi import live

    answered = threading.Event()

    class Hanging:
        def CancelWaitForUpdates(self) -> None:  # the API's name
            answered.wait(60)

    monkeypatch.setattr(live, "SETTLE_SECONDS", 0.2)
    watch = live.Watch(session=None)  # type: ignore[arg-type]  # stop() asks nothing of it
    watch._collector = (object(), Hanging())
    watch._calling(+1)  # a wait is in flight
    returned = threading.Event()
    def stop() -> None:
        watch.stop()
        returned.set()

    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    try:
        assert returned.wait(JOIN) and not answered.is_set()  # back while the host is silent
    finally:
        answered.set()
