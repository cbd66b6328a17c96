"""Errors say the cause (issue 13, must fix 4): QEMU's real reason reaches the one-line summary
that the CLI prints and the app's error dialog shows, not only the details."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from backends.qemu import process
from desktopvm.cli import main
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, CommandFailed, no_progress
from desktopvm.registry import KNOWN_BACKENDS, KnownBackend, Registry

MEMORY = KnownBackend("memory", "Memory", "desktopvm.testing.doubles.memory_plugin")

# What real QEMU 7.2 (Debian 12) writes to its -D log when a snapshot taken with 64 MiB is
# loaded into a machine of 128 MiB (reproduced by test_real_qemu_names_the_size_mismatch).
LOADVM_LOG = """\
qemu-system-x86_64: Size mismatch: pc.ram: 0x4000000 != 0x8000000: Invalid argument
qemu-system-x86_64: error while loading state for instance 0x0 of device 'ram'
qemu-system-x86_64: Error -22 while loading VM state
"""
CAUSE = "Size mismatch: pc.ram: 0x4000000 != 0x8000000: Invalid argument"


def fake_qemu(folder: Path, log_text: str, stderr: str = "") -> Path:
    """A stand-in for qemu-system-x86_64 that writes `log_text` to its -D log and fails."""
    (folder / "log.txt").write_text(log_text)
    (folder / "stderr.txt").write_text(stderr)
    script = folder / "qemu-system-x86_64"
    script.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = -D ] && log="$2"; shift; done\n'
        f'cat "{folder}/log.txt" > "$log"\n'
        f'cat "{folder}/stderr.txt" >&2\n'
        "exit 1\n")
    script.chmod(0o755)
    return script


def launch_error(binary: Path | str, log: Path, *args: str) -> CommandFailed:
    with pytest.raises(CommandFailed) as failed:
        process.launch([str(binary), *args, "-daemonize", "-D", str(log)], log=log)
    return failed.value


def test_the_cause_above_a_generic_last_line_goes_into_the_summary(tmp_path: Path):
    error = launch_error(fake_qemu(tmp_path, LOADVM_LOG), tmp_path / "qemu.log")
    assert error.summary == ("QEMU could not start the machine: " + CAUSE
                             + " (Error -22 while loading VM state)")
    assert "error while loading state for instance" in error.details  # the rest stays there


def test_a_specific_last_line_is_the_summary_as_before(tmp_path: Path):
    error = launch_error(fake_qemu(tmp_path, "", stderr=(
        "qemu-system-x86_64: warning: host doesn't support requested feature\n"
        "qemu-system-x86_64: -drive file=/gone.qcow2: Could not open '/gone.qcow2': "
        "No such file or directory\n")), tmp_path / "qemu.log")
    assert error.summary == ("QEMU could not start the machine: -drive file=/gone.qcow2: "
                             "Could not open '/gone.qcow2': No such file or directory")


def test_a_wrapper_alone_is_still_said(tmp_path: Path):
    error = launch_error(fake_qemu(tmp_path, "qemu-system-x86_64: warning: slow\n"
                                   "qemu-system-x86_64: Error -5 while loading VM state\n"),
                         tmp_path / "qemu.log")
    assert error.summary == "QEMU could not start the machine: Error -5 while loading VM state"


def test_the_cli_prints_the_cause_on_its_one_line(tmp_path: Path):
    error = launch_error(fake_qemu(tmp_path, LOADVM_LOG), tmp_path / "qemu.log")
    registry = Registry(known=(*KNOWN_BACKENDS, MEMORY))
    mem = registry.open("memory")
    mem.create(defaults_for("debian12", mem.capabilities(), name="restored"),
               progress=no_progress, cancel=CancelToken())

    def start(machine_id: str, *, mode: object = None) -> None:
        raise error
    mem.start = start  # type: ignore[method-assign]
    out, err = io.StringIO(), io.StringIO()
    code = main(["start", "restored"], registry=registry, out=out, err=err)
    assert code == 1
    first = err.getvalue().splitlines()[0]
    assert first.startswith("error: QEMU could not start the machine: Size mismatch: pc.ram")


@pytest.mark.qemu
def test_real_qemu_names_the_size_mismatch(tmp_path: Path):
    """The reproduction on the real tool: snapshot at 64 MiB, load it at 128 MiB."""
    binary = shutil.which("qemu-system-x86_64")
    qemu_img = shutil.which("qemu-img")
    if binary is None or qemu_img is None:
        pytest.skip("QEMU is not installed")
    disk = tmp_path / "d.qcow2"
    subprocess.run([qemu_img, "create", "-f", "qcow2", str(disk), "64M"], check=True,
                   capture_output=True)
    common = ["-machine", "q35,accel=tcg", "-nodefaults", "-display", "none",
              "-drive", f"file={disk},if=virtio"]
    subprocess.run([binary, *common, "-m", "64", "-monitor", "stdio"], input="savevm s1\nquit\n",
                   text=True, check=True, capture_output=True, timeout=60)
    error = launch_error(binary, tmp_path / "qemu.log", *common, "-m", "128",
                         "-loadvm", "s1", "-pidfile", str(tmp_path / "pid"))
    assert "Size mismatch: pc.ram" in error.summary, error.summary


def test_a_reader_that_goes_away_gets_no_error_text(tmp_path):
    """`desktopvm-cli show VM | head` (review D12): a closed pipe is no error to report."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).with_name("desktopvm-cli"))
    env = {**os.environ, "DESKTOPVM_HOME": str(tmp_path / "home")}
    subprocess.run([cli, "create", "--backend", "qemu", "--name", "piped", "--os", "debian12"],
                   env=env, check=True, capture_output=True)
    # `true` reads nothing and exits at once: every line `show` writes meets a closed pipe.
    piped = subprocess.run(f"{cli} show piped | true", shell=True, env=env,
                           capture_output=True, text=True, check=False)
    assert piped.stderr == ""
