"""The QEMU process door: when a process counts as gone (its files and locks released)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.qemu import process

LEADER_LEAVES_FIRST = (
    "import ctypes, threading, time\n"
    "threading.Thread(target=time.sleep, args=(60,)).start()\n"
    "ctypes.CDLL(None).pthread_exit(None)\n"  # the first thread ends, the other goes on
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_a_process_whose_first_thread_ended_is_alive_until_all_threads_end():
    child = subprocess.Popen([sys.executable, "-c", LEADER_LEAVES_FIRST])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        for _ in range(200):  # the leader turns zombie once the interpreter started the thread
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first thread never ended")
        assert process.pid_alive(child.pid)  # its other thread still holds its files
    finally:
        child.kill()
        child.wait()
    assert not process.pid_alive(child.pid)
