"""Killing the CLI in the middle of a conversion loses nothing and leaves nothing (review D7).

The CLI is killed with SIGKILL (no clean-up of ours runs) while qemu-img writes; then: no
file under the final name, no qemu-img still converting for nobody, and the same command
works again (removing what the killed one left).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.qemu import process
from tests.images.hostile import qemu_img

CLI = str(Path(sys.executable).with_name("desktopvm-cli"))
pytestmark = pytest.mark.slow


def qemu_img_children_of(pid: int) -> list[int]:
    """qemu-img processes whose parent (or their setpriv wrapper's parent) is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"qemu-img" in cmdline and process.pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_killed_disk_convert_leaves_no_partial_image_and_no_orphan(tmp_path: Path):
    source = tmp_path / "source.raw"
    with source.open("wb") as out:  # random data: nothing for qemu-img to skip quickly
        for _ in range(384):
            out.write(os.urandom(1 << 20))
    target = tmp_path / "converted.vdi"
    env = {**os.environ, "DESKTOPVM_HOME": str(tmp_path / "home")}
    log = tmp_path / "cli.log"
    with log.open("wb") as stderr:
        cli = subprocess.Popen([CLI, "disk", "convert", str(source), str(target)], env=env,
                               stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > (8 << 20) for p in tmp_path.glob(".part-*/*")):
            assert cli.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the conversion never started writing"
            time.sleep(0.02)
        workers = qemu_img_children_of(cli.pid)
        assert workers
        cli.send_signal(signal.SIGKILL)
        cli.wait()
    finally:
        if cli.poll() is None:
            cli.kill()
    assert not target.exists()  # nothing under the final name
    for worker in workers:  # the conversion died with the CLI
        assert process.wait_for_exit(worker, 10), f"qemu-img {worker} still converts"
    rerun = subprocess.run([CLI, "disk", "convert", str(source), str(target)], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(tmp_path.glob(".part-*"))  # the killed run's leftovers are gone
    qemu_img("compare", "-f", "raw", "-F", "vdi", str(source), str(target))


def test_folders_left_half_made_by_a_killed_process_are_swept(tmp_path: Path):
    """A create/clone/import killed before its record was written leaves no folder behind."""
    from backends.qemu.backend import QemuBackend
    from backends.qemu.inventory import MAKING
    from desktopvm.settings import Settings

    library = tmp_path / "library"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    half = library / "0b0e5a1e-half-made"
    half.mkdir(parents=True)
    (half / MAKING).write_text(dead, encoding="ascii")
    (half / "disk0.qcow2").write_bytes(b"x" * 4096)
    scratch = library / ".import-abcdef"
    scratch.mkdir()
    (scratch / MAKING).write_text(dead, encoding="ascii")
    mine = library / "1c0e5a1e-being-made"  # this process is alive: still being made
    mine.mkdir()
    (mine / MAKING).write_text(str(os.getpid()), encoding="ascii")
    backend = QemuBackend(Settings(library_dir=str(library)))
    assert backend.list_machines() == []
    assert not half.exists() and not scratch.exists()
    assert mine.exists()


@pytest.mark.qemu
def test_a_start_killed_before_its_record_leaves_no_qemu_running_for_nobody(qemu, tmp_path):
    """Found by the soak (bench/soak.py): a `start` killed after QEMU daemonized but before
    runtime.json was written showed the machine as off while its QEMU ran on. The pid file
    QEMU wrote in the run folder is enough to see it running and power it off."""
    from desktopvm.model import defaults_for
    from desktopvm.protocol import CancelToken, PowerState, no_progress

    spec = defaults_for("other-linux", qemu.capabilities(), name="orphan")
    spec = spec.model_copy(update={"storage": (), "memory": spec.memory.model_copy(
        update={"size_mib": 128})})
    machine_id = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    qemu.start(machine_id)
    files = qemu.store.files(machine_id)
    pid = qemu.store.running_runtime(files).pid
    files.runtime.unlink()  # what the killed start never got to write
    assert qemu.get_machine(machine_id).state is PowerState.RUNNING
    assert [m.state for m in qemu.list_machines()] == [PowerState.RUNNING]
    qemu.power_off(machine_id)
    assert process.wait_for_exit(pid, 10)
    assert qemu.get_machine(machine_id).state is PowerState.OFF
