"""The session door against the PowerShell double: framing, errors, timeouts, restarts, cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from backends.hyperv.session import LocalProcessChannel, PowerShellSession
from desktopvm.protocol import (
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    ConnectionLost,
    MachineNotFound,
    OperationCancelled,
    TimedOut,
)
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost


def test_one_process_serves_many_requests(session: PowerShellSession, fake_host: FakeHost):
    for _ in range(20):
        assert session.request("list_vms") == {"VMs": []}
    assert session.starts == 1
    assert session.requests == 20
    assert session.ready["hyperv"] is True
    assert fake_host.ops() == ["list_vms"] * 20


def test_errors_come_back_typed_with_their_fields(session: PowerShellSession):
    with pytest.raises(MachineNotFound) as caught:
        session.request("get_vm", {"Id": "00000000-0000-0000-0000-000000000001"})
    assert "fqid: DesktopVM.MachineNotFound" in caught.value.details
    with pytest.raises(CommandFailed, match="unknown parameters"):
        session.request("get_vm", {"Id": "x", "Bogus": 1})
    assert session.request("list_vms") == {"VMs": []}  # the session survived both
    assert session.starts == 1


def test_output_that_is_not_a_reply_is_ignored(session: PowerShellSession, fake_host: FakeHost):
    fake_host.fault("list_vms", "noise")
    assert session.request("list_vms") == {"VMs": []}


def test_a_hang_times_out_and_the_next_request_restarts(session: PowerShellSession,
                                                        fake_host: FakeHost):
    session.request("list_vms")
    fake_host.fault("list_vms", "hang")
    started = time.monotonic()
    with pytest.raises(TimedOut, match="restarts on the next request"):
        session.request("list_vms", timeout=0.5)
    assert time.monotonic() - started < 5
    assert session.request("list_vms") == {"VMs": []}
    assert session.starts == 2


@pytest.mark.parametrize("partial", [False, True])
def test_a_crash_mid_request_is_connection_lost_then_restart(session: PowerShellSession,
                                                             fake_host: FakeHost, partial: bool):
    session.request("list_vms")
    fake_host.fault("host_info", "crash", partial=partial)
    with pytest.raises(ConnectionLost) as caught:
        session.request("host_info")
    assert "simulated crash" in caught.value.details or partial
    assert session.request("host_info")["ComputerName"] == "FAKE-HYPERV"
    assert session.starts == 2


def test_cancel_aborts_an_interruptible_request_at_once(session: PowerShellSession,
                                                       fake_host: FakeHost):
    session.request("list_vms")
    fake_host.fault("list_vms", "hang")
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(OperationCancelled):
        session.request("list_vms", cancel=token, timeout=30)
    assert time.monotonic() - started < 5
    assert session.request("list_vms") == {"VMs": []}


def test_a_non_interruptible_request_runs_to_its_end(session: PowerShellSession,
                                                     fake_host: FakeHost):
    fake_host.fault("host_info", "slow", seconds=0.5)
    token = CancelToken()
    threading.Timer(0.1, token.cancel).start()
    assert session.request("host_info", cancel=token, interruptible=False)["ComputerName"]
    assert token.cancelled
    with pytest.raises(OperationCancelled):  # an already cancelled token stops the next one
        session.request("list_vms", cancel=token)


def test_an_idle_session_that_died_is_replaced_without_an_error(session: PowerShellSession):
    session.request("list_vms")
    assert session._channel is not None
    session._channel.close()  # as if the process had been killed while idle
    assert session.request("list_vms") == {"VMs": []}
    assert session.starts == 2


def test_requests_from_many_threads_are_serialised(session: PowerShellSession):
    results: list[object] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                results.append(session.request("host_info")["ComputerName"])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == ["FAKE-HYPERV"] * 60
    assert session.starts == 1


def test_start_failures_are_clear(fake_host: FakeHost, tmp_path: Path):
    missing = PowerShellSession(lambda: LocalProcessChannel(str(tmp_path / "no-powershell.exe")))
    with pytest.raises(BackendUnavailable, match="could not be started"):
        missing.request("list_vms")
    fake_host.fault("start", "crash")
    crashing = PowerShellSession(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)))
    with pytest.raises(BackendUnavailable, match="exited while starting") as caught:
        crashing.request("list_vms")
    assert "simulated crash" in caught.value.details
    fake_host.fault("start", "hang")
    hanging = PowerShellSession(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                                start_timeout=0.5)
    with pytest.raises(TimedOut):
        hanging.request("list_vms")
    for each in (missing, crashing, hanging):
        each.close()


def test_the_command_line_is_the_constant_bootstrap(session: PowerShellSession):
    session.request("list_vms")
    channel = session._channel
    assert isinstance(channel, LocalProcessChannel)
    assert channel.argv[1:6] == ["-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy",
                                 "Bypass"]
    assert channel.argv[6] == "-EncodedCommand"
