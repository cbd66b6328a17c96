"""The door: the real runner against the VBoxManage double (timeouts, cancel, retries, errors)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from backends.virtualbox import detect
from backends.virtualbox.vboxmanage import (
    ENV_OVERRIDE,
    VBoxManage,
    candidate_paths,
    find_vboxmanage,
    output_encoding,
    tool_environment,
    windows_creation_flags,
)
from desktopvm.protocol import (
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    TimedOut,
)
from desktopvm.settings import Settings
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from tests.backends.virtualbox.conftest import SAMPLES, sample

UNKNOWN = "00000000-dead-beef-0000-000000000000"


def test_finding_vboxmanage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeVBox):
    monkeypatch.delenv(ENV_OVERRIDE, raising=False)
    assert find_vboxmanage(str(fake.executable)) == str(fake.executable)
    monkeypatch.setenv(ENV_OVERRIDE, str(fake.executable))
    assert find_vboxmanage("/not/there") == str(fake.executable)  # the override wins
    assert detect(Settings()).available
    monkeypatch.setenv(ENV_OVERRIDE, str(tmp_path / "missing"))
    result = detect(Settings())
    assert not result.available and "virtualbox.org" in result.install_hint
    assert all(isinstance(p, str) for p in candidate_paths())


def test_environment_is_untranslated_and_recorded(fake: FakeVBox):
    fake.runner().run(["list", "vms"])
    [record] = fake.call_records()
    assert record["LC_ALL"] in ("C", "C.UTF-8") and record["LANG"] == record["LC_ALL"]
    assert tool_environment()["LANGUAGE"] == ""


def test_version_is_asked_once(fake: FakeVBox):
    runner = fake.runner()
    assert str(runner.version()) == "7.0.20"
    runner.version()
    assert fake.calls() == [["--version"]]


def test_a_missing_kernel_driver_is_a_warning_remembered_with_its_first_line(fake: FakeVBox):
    # Oracle's launcher warns like this and VBoxManage still works (only VMs cannot start).
    fake.fault(["--version"], stdout_file=str(SAMPLES / "7.0" / "version_driver_warning.txt"))
    runner = fake.runner()
    assert str(runner.version()) == "7.0.20"
    assert runner.driver_warning.startswith("WARNING: The vboxdrv kernel module is not loaded")


def test_missing_executable(tmp_path: Path):
    with pytest.raises(BackendUnavailable, match="cannot be started"):
        VBoxManage(str(tmp_path / "nope")).run(["list", "vms"])


def test_error_text_with_exit_code_zero_is_a_failure(fake: FakeVBox):
    fake.fault(["modifyvm"], stderr=sample("errors/windows_exe_prefix.txt"), exit=0)
    with pytest.raises(CommandFailed, match="Could not find a controller named"):
        fake.runner().run(["modifyvm", UNKNOWN, "--memory=64"])


def test_unknown_machine_is_machine_not_found(fake: FakeVBox):
    with pytest.raises(MachineNotFound, match="Could not find a registered machine") as caught:
        fake.runner().run(["showvminfo", UNKNOWN, "--machinereadable"])
    assert "exit code: 1" in caught.value.details and "VBOX_E_OBJECT_NOT_FOUND" in \
        caught.value.details


def test_a_missing_snapshot_is_not_a_missing_machine(fake: FakeVBox):
    fake.fault(["snapshot"], stderr=sample("errors/snapshot_not_found.txt"), exit=1)
    with pytest.raises(CommandFailed) as caught:
        fake.runner().run(["snapshot", UNKNOWN, "restore", "nope"])
    assert not isinstance(caught.value, MachineNotFound)


def test_a_locked_session_is_retried_until_it_clears(fake: FakeVBox):
    fake.fault(["list"], times=2, stderr=sample("errors/session_locked.txt"), exit=1)
    runner = fake.runner()
    result = runner.run(["list", "vms"])
    assert result.exit_code == 0
    assert (runner.stats.calls, runner.stats.process_starts, runner.stats.retries) == (1, 3, 2)


def test_a_session_that_stays_locked_becomes_invalid_state(fake: FakeVBox):
    fake.fault(["list"], stderr=sample("errors/session_locked.txt"), exit=1)
    runner = fake.runner(lock_retries=3)
    with pytest.raises(InvalidState, match="already locked"):
        runner.run(["list", "vms"])
    assert runner.stats.process_starts == 4


def test_other_invalid_states_are_not_retried(fake: FakeVBox):
    fake.fault(["controlvm"], stderr=sample("errors/invalid_vm_state.txt"), exit=1)
    runner = fake.runner()
    with pytest.raises(InvalidState, match="Invalid machine state"):
        runner.run(["controlvm", UNKNOWN, "poweroff"])
    assert runner.stats.process_starts == 1


def test_startvm_success_text_wins_over_its_exit_code(backend, fake: FakeVBox):
    runner = fake.runner()
    runner.run(["createvm", "--name=s", f"--uuid={UNKNOWN}", "--register"])
    fake.fault(["startvm"], run=True, exit=1)
    assert runner.run(["startvm", UNKNOWN, "--type=headless"]).exit_code == 1
    fake.clear_faults()
    fake.fault(["startvm"], stderr="VBoxManage: error: The virtual machine 's' has terminated "
                                   "unexpectedly during startup\n", exit=1)
    with pytest.raises(CommandFailed, match="terminated unexpectedly"):
        runner.run(["startvm", UNKNOWN, "--type=headless"])


def test_a_hanging_call_times_out_and_is_killed(fake: FakeVBox):
    fake.fault(["list"], sleep=60)
    started = time.monotonic()
    with pytest.raises(TimedOut, match="did not finish within"):
        fake.runner().run(["list", "vms"], timeout=0.5)
    assert time.monotonic() - started < 5


def test_progress_arrives_while_the_command_runs(fake: FakeVBox, tmp_path: Path):
    fake.set(progress_delay=0.05)
    seen: list[tuple[float, float]] = []
    started = time.monotonic()
    result = fake.runner().run(
        ["createmedium", "disk", f"--filename={tmp_path / 'd.vdi'}", "--size=16"],
        on_progress=lambda fraction, run: seen.append((fraction, time.monotonic() - started)))
    assert [f for f, _ in seen] == [i / 10 for i in range(11)]
    assert seen[0][1] < result.seconds - 0.3  # the first report came long before the end
    assert "Medium created. UUID:" in result.stdout


def test_cancel_interrupts_and_vboxmanage_removes_its_partial_file(fake: FakeVBox,
                                                                   tmp_path: Path):
    fake.set(progress_delay=0.3)
    token = CancelToken()
    disk = tmp_path / "big.vdi"
    first_progress = threading.Event()
    timer = threading.Timer(5, token.cancel)
    timer.start()

    def progress(fraction: float, run: int) -> None:
        first_progress.set()
        token.cancel()

    started = time.monotonic()
    with pytest.raises(OperationCancelled):
        fake.runner().run(["createmedium", "disk", f"--filename={disk}", "--size=16"],
                          cancel=token, on_progress=progress)
    timer.cancel()
    assert first_progress.is_set() and time.monotonic() - started < 3
    assert not disk.exists()


def test_a_cancelled_token_starts_nothing(fake: FakeVBox):
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelled):
        fake.runner().run(["list", "vms"], cancel=token)
    assert fake.calls() == []


def test_arguments_must_be_strings(fake: FakeVBox):
    with pytest.raises(TypeError):
        fake.runner().run(["modifyvm", UNKNOWN, 5])  # type: ignore[list-item]


def test_names_that_look_like_options_or_shell_survive(fake: FakeVBox):
    runner = fake.runner()
    name = "-rm -rf $(echo x); `date` \"q\" ‘u’"
    runner.run(["createvm", f"--name={name}", f"--uuid={UNKNOWN}", "--register"])
    assert runner.run(["list", "vms"]).stdout == f'"{name}" {{{UNKNOWN}}}\n'


def test_a_broken_installation_is_unavailable_not_a_failed_command(fake: FakeVBox):
    fake.fault(["list"], stderr="VBoxManage: error: Failed to create the VirtualBox object!\n"
               "VBoxManage: error: Code NS_ERROR_FACTORY_NOT_REGISTERED (0x80040154)\n", exit=1)
    with pytest.raises(BackendUnavailable, match="not installed correctly") as caught:
        fake.runner().run(["list", "vms"])
    assert "virtualbox.org" in caught.value.install_hint


@pytest.mark.parametrize(("platform", "code_page", "expected"), [
    ("win32", 1252, "cp1252"), ("win32", 932, "cp932"), ("win32", 1250, "cp1250"),
    ("win32", 65001, "utf-8"), ("linux", 1252, "utf-8"), ("darwin", None, "utf-8"),
])
def test_output_is_decoded_in_the_windows_ansi_code_page(platform: str, code_page: int | None,
                                                         expected: str):
    """Review V1: on Windows VBoxManage writes the ANSI code page unless it is UTF-8."""
    assert output_encoding(platform, code_page) == expected


def test_a_windows_code_page_tool_keeps_non_ascii_names(tmp_path: Path):
    """Review V1: cp1252 bytes (what VBoxManage on a Western-European Windows writes) reach
    the caller as the same text, on stdout and on stderr (errors, progress)."""
    tool = tmp_path / "VBoxManage"
    tool.write_text(
        "#!/bin/sh\n"
        "printf 'Config file:     C:\\\\Users\\\\Jos\\351\\\\VirtualBox VMs\\n'\n"
        "printf \"VBoxManage: error: Could not find a registered machine named \" >&2\n"
        "printf \"'Bj\\366rk'\\n\" >&2\n"
        "printf 'VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)\\n' >&2\n"
        "exit 1\n", encoding="ascii")
    tool.chmod(0o755)
    result = VBoxManage(str(tool), encoding=output_encoding("win32", 1252)).run(
        ["showvminfo", "x"], check=False)
    assert "C:\\Users\\José\\VirtualBox VMs" in result.stdout
    assert "'Björk'" in result.stderr


def test_on_windows_vboxmanage_gets_a_console_a_break_can_reach():
    """Review V2: with CREATE_NO_WINDOW under a console of our own, Ctrl+Break never reached
    VBoxManage (another console). The CLI shares its console; the app (none) gives VBoxManage
    a hidden one to attach to. Only a Windows run proves the break itself (docs/virtualbox.md).
    """
    assert windows_creation_flags(has_console=True) == 0x00000200  # CREATE_NEW_PROCESS_GROUP
    assert windows_creation_flags(has_console=False) == 0x00000200 | 0x08000000


def test_macos_gets_a_utf8_locale_not_plain_c():
    """Review V5: under C, IPRT converts to ASCII ('?' for José); macOS has no C.UTF-8."""
    assert tool_environment("darwin")["LC_ALL"] == "en_US.UTF-8"
    assert tool_environment("linux")["LC_ALL"] == "C.UTF-8"
