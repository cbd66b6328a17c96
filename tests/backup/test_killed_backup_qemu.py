"""A backup of a real QEMU machine killed half-way (SIGKILL of the whole app): no set looks
complete, nothing keeps running for nobody, and the next backup sweeps the remains and works."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backends.qemu import process, storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.backup import back_up, list_backups, restore, verify
from desktopvm.protocol import CancelToken, no_progress
from tests.backends.qemu.backup_kit import children_of, disk_paths, off_machine, random_bytes
from tests.backends.qemu.backup_kit import write as write_bytes
from tests.backup.doubles import MIB, read_bytes

pytestmark = [pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                 reason="qemu-storage-daemon is not installed")]

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from pathlib import Path
from backends.qemu.backend import QemuBackend
from desktopvm.backup import back_up
from desktopvm.protocol import CancelToken
from desktopvm.settings import Settings

library, machine_id, destination = sys.argv[1:4]
said = []

def progress(fraction, stage):
    if fraction is not None and 0 < fraction < 0.9 and not said:
        said.append(1)
        print("HALF", flush=True)

backend = QemuBackend(Settings(library_dir=library, qemu_accel="tcg"))
back_up(backend, machine_id, Path(destination), progress=progress, cancel=CancelToken())
print("DONE", flush=True)
"""


def test_a_killed_backup_of_a_qemu_machine_leaves_no_set_and_is_swept(qemu: QemuBackend,
                                                                      tmp_path: Path):
    machine = off_machine(qemu, "killed", size=64 * MIB)
    [disk] = disk_paths(qemu, machine)
    data = random_bytes(48 * MIB)  # incompressible: the copy takes a while
    write_bytes(disk, 0, data, tmp_path)
    destination = tmp_path / "backups"
    with subprocess.Popen([sys.executable, "-c", CHILD, str(qemu.store.library), machine,
                           str(destination)], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            line = child.stdout.readline()
            assert line == b"HALF\n", (line, child.stderr.read())
            helpers = children_of(child.pid)
            child.send_signal(signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
    for pid in helpers:  # qemu-storage-daemon and qemu-img die with the app
        assert process.wait_for_exit(pid, 10), f"{pid} still runs"
    [folder] = destination.iterdir()
    leftovers = list(folder.iterdir())
    assert [p.name[:9] for p in leftovers] == [".partial-"]
    assert list_backups(destination) == []  # nothing looks like a set

    made = back_up(qemu, machine, destination, progress=no_progress, cancel=CancelToken())
    assert [p.name for p in folder.iterdir()] == [made.id]  # the remains were swept
    verify(made.path, progress=no_progress, cancel=CancelToken())
    new_id = restore(made.path, qemu, name="after the kill", progress=no_progress,
                     cancel=CancelToken())
    assert read_bytes(disk_paths(qemu, new_id)[0], 40 * MIB, 4096) == \
        data[40 * MIB:40 * MIB + 4096]
