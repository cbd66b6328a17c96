"""QEMU's own messages reach the machine's qemu.log, also once QEMU runs detached."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from backends.qemu import process
from backends.qemu.layout import RunFiles
from backends.qemu.plans import LaunchPlan, build_argv
from desktopvm.model import MachineSpec
from desktopvm.protocol import CancelToken, CommandFailed, PowerState, no_progress
from desktopvm.testing.qemu_guest import guest_spec


def create(qemu, spec):
    return qemu.create(spec, progress=no_progress, cancel=CancelToken())


def argv_with_log(log: Path) -> list[str]:
    plan = LaunchPlan(binary="qemu-system-x86_64", accel="tcg", machine_type="q35",
                      run=RunFiles(Path("/run/dvm")), log=log)
    return build_argv(MachineSpec(id="1234abcd-0000", name="web"), plan)


def test_the_command_line_names_the_log_with_timestamps():
    argv = argv_with_log(Path("/vms/1234/qemu.log"))
    assert argv[argv.index("-D") + 1] == "/vms/1234/qemu.log"
    assert argv[argv.index("-msg") + 1] == "timestamp=on"


def test_a_percent_in_the_path_leaves_the_log_out_instead_of_failing_the_start():
    assert "-D" not in argv_with_log(Path("/vms/100%/qemu.log"))  # QEMU: "Bad logfile template"


def test_rotation_keeps_the_previous_run_bounded_and_from_a_whole_line(tmp_path):
    log = tmp_path / "qemu.log"
    log.write_bytes(b"first line\n" + b"x" * 50 + b"\nlast line\n")
    process.rotate_log(log, keep=30)
    assert not log.exists()
    assert (tmp_path / "qemu.log.1").read_bytes() == b"last line\n"
    log.write_bytes(b"short\n")
    process.rotate_log(log, keep=30)
    assert (tmp_path / "qemu.log.1").read_bytes() == b"short\n"
    log.write_bytes(b"")
    process.rotate_log(log)  # an empty log (a quiet run) does not push out the last one
    assert (tmp_path / "qemu.log.1").read_bytes() == b"short\n"


@pytest.mark.qemu
def test_what_a_detached_qemu_says_lands_in_the_log_and_survives_the_next_start(
        qemu, guest_iso):
    machine_id = create(qemu, guest_spec("talker", guest_iso))
    qemu.start(machine_id)
    files = qemu.store.files(machine_id)
    runtime = qemu.store.running_runtime(files)
    assert runtime is not None
    os.kill(runtime.pid, signal.SIGTERM)
    assert process.wait_for_exit(runtime.pid, 30)
    text = files.log.read_text()
    assert "terminating on signal 15" in text, text
    assert text[:4].isdigit()  # timestamped
    info = qemu.get_machine(machine_id)
    assert info.log == str(files.log)
    qemu.start(machine_id)  # QEMU truncates its log: the last run's words move aside
    assert "terminating on signal 15" in files.previous_log.read_text()
    assert "terminating" not in files.log.read_text()
    qemu.power_off(machine_id)
    assert qemu.get_machine(machine_id).state is PowerState.OFF


@pytest.mark.qemu
def test_a_failed_start_still_says_why_and_where_the_log_is(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("broken disk", guest_iso))
    files = qemu.store.files(machine_id)
    disk = Path(qemu.get_machine(machine_id).spec.all_disks()[0][1].path)
    disk.write_bytes(b"not a disk image at all")
    with pytest.raises(CommandFailed) as failure:
        qemu.start(machine_id)
    summary = failure.value.summary
    assert summary.startswith("QEMU could not start the machine: -drive ")
    assert "not in qcow2 format" in summary and "qemu-system" not in summary
    assert str(files.log) in failure.value.details
    assert "not in qcow2 format" in files.log.read_text()
    assert qemu.get_machine(machine_id).state is PowerState.OFF
