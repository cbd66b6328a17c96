"""The door: every captured vmrun error line becomes our error type; exit codes are not trusted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from backends.vmware.locate import linux_config, user_files, version_from_text
from backends.vmware.vmrun import Result, VmRun, failure_for
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    TimedOut,
)
from desktopvm.testing.doubles.vmware.standin import FakeVMware

#: fixture line number -> the error type it must become
EXPECTED = {1: InvalidState, 2: InvalidState, 3: InvalidState, 4: InvalidState,
            5: MachineNotFound, 6: AuthenticationFailed}


def result(stdout: str, code: int = 255) -> Result:
    return Result(("vmrun", "-T", "ws", "start", "/x.vmx"), code, stdout, "")


def test_every_captured_error_line_maps_to_its_type(shared_fixtures: Path):
    lines = (shared_fixtures / "vmware_vmrun_error_outputs_collected.txt").read_text(
        "utf-8").splitlines()
    for number, kind in EXPECTED.items():
        line = lines[number - 1]
        assert line.startswith("Error:")
        error = failure_for(result(line + "\n"))
        assert type(error) is kind, (number, line, error)
        assert "\n" not in error.summary
    # L7 is vmcli's, not vmrun's: no `Error:` prefix, so only its exit status speaks
    assert isinstance(failure_for(result(lines[6] + "\n", 1)), CommandFailed)


def test_an_error_line_with_exit_status_0_is_a_failure():
    error = failure_for(result("Error: The virtual machine is not powered on: /x.vmx\n", 0))
    assert isinstance(error, InvalidState)
    assert failure_for(result("Total running VMs: 0\n", 0)) is None
    assert isinstance(failure_for(result("", 255)), CommandFailed)  # silent, non-zero


def test_the_stand_in_prints_not_powered_on_with_status_0(tmp_path: Path):
    fake = FakeVMware(tmp_path)
    vmx = tmp_path / "m.vmx"
    vmx.write_text('config.version = "8"\nvirtualHW.version = "21"\n', "utf-8")
    door = VmRun(str(fake.bin / "vmrun"))
    raw = door.run("stop", str(vmx), "hard", check=False)
    assert raw.exit_code == 0 and raw.error_line.startswith("Error: The virtual machine is not")
    with pytest.raises(InvalidState):
        door.run("stop", str(vmx), "hard")
    with pytest.raises(MachineNotFound):
        door.run("start", str(tmp_path / "gone.vmx"), "nogui")
    vmx.write_text('displayName = "no versions"\n', "utf-8")
    with pytest.raises(CommandFailed, match=r"config\.version"):
        door.run("start", str(vmx), "nogui")


def test_ws_against_player_is_retried_as_player(tmp_path: Path):
    fake = FakeVMware(tmp_path, product="player")
    door = VmRun(str(fake.bin / "vmrun"), "ws")
    assert door.run("list").stdout.startswith("Total running VMs: 0")
    assert door.host_type == "player"
    assert [c[:2] for c in fake.calls()] == [["-T", "ws"], ["-T", "player"]]


def test_a_hanging_vmrun_times_out_and_a_cancel_kills_it(tmp_path: Path):
    fake = FakeVMware(tmp_path)
    fake.set(delay={"list": 30})
    door = VmRun(str(fake.bin / "vmrun"))
    with pytest.raises(TimedOut):
        door.run("list", timeout=0.5)
    token = CancelToken()
    token.cancel()
    # killed at once: were it waited for, the time limit would end it as TimedOut instead
    with pytest.raises(OperationCancelled):
        door.run("list", cancel=token, timeout=10)


def test_a_missing_tool_is_unavailable(tmp_path: Path):
    with pytest.raises(BackendUnavailable):
        VmRun(str(tmp_path / "no-vmrun")).run("list")
    with pytest.raises(BackendUnavailable):
        VmRun("").run("list")
    with pytest.raises(ValueError):
        VmRun("vmrun", "esx")


def test_vdiskmanager_progress_and_harmless_stderr(tmp_path: Path):
    fake = FakeVMware(tmp_path)
    door = VmRun(str(fake.bin / "vmrun"), vdiskmanager=str(fake.bin / "vmware-vdiskmanager"))
    seen: list[float] = []
    made = door.vdisk(["-c", "-s", "64MB", "-a", "lsilogic", "-t", "0", str(tmp_path / "d.vmdk")],
                      progress=seen.append)
    assert "VixDiskLib" in made.stderr and made.exit_code == 0
    assert seen and seen[-1] == 1.0
    with pytest.raises(CommandFailed):  # it refuses to overwrite
        door.vdisk(["-c", "-s", "64MB", "-a", "lsilogic", "-t", "0", str(tmp_path / "d.vmdk")])


def test_versions_and_the_linux_config(shared_fixtures: Path):
    assert version_from_text("VMware Workstation 17.6.2 build-24409262 Release") == (
        "workstation", "17.6.2")
    assert version_from_text("VMware Player 17.0.0 build-1") == ("player", "17.0.0")
    assert version_from_text("nothing") == ("", "")
    assert linux_config(shared_fixtures / "vmware_ws17_linux_etc_vmware_config.txt") == (
        "VMware Workstation", "17.0.0")


def test_per_user_files_by_platform(tmp_path: Path):
    assert user_files("ws", tmp_path, "linux") == (
        tmp_path / ".vmware/inventory.vmls", tmp_path / ".vmware/preferences",
        tmp_path / "vmware")
    assert user_files("player", tmp_path, "linux")[0] is None
    assert user_files("fusion", tmp_path, "darwin")[0] == (
        tmp_path / "Library/Application Support/VMware Fusion/vmInventory")


def test_the_vmnets_of_etc_vmware_networking(shared_fixtures: Path):
    from backends.vmware.capabilities import host_info

    info = host_info(shared_fixtures / "vmware_packer_linux_etc_vmware_networking_example.txt")
    assert [(n.attachment, n.name) for n in info.networks] == [
        ("host-only", "vmnet1"), ("nat", "vmnet8"), ("bridged", "vmnet0")]
    assert "172.16.41.0" in info.networks[1].description
    assert host_info(Path("/nonexistent")).networks[0].name == "vmnet8"


@pytest.mark.skipif(sys.platform == "darwin", reason="the licence file check is Linux's")
def test_a_workstation_before_17_6_2_without_a_licence_file_is_named(tmp_path: Path):
    from backends.vmware.locate import Installation, licence_problem

    old = Installation("ws", "/usr/bin/vmrun", version="17.5.0", windows=False)
    assert "no licence" in licence_problem(old, tmp_path)
    (tmp_path / "license-ws-170-e1-202208").write_text("key", "utf-8")
    assert licence_problem(old, tmp_path) == ""
    for fine in ("17.6.2", "25.0.0", ""):
        assert licence_problem(Installation("ws", "x", version=fine, windows=False),
                               tmp_path / "none") == ""
