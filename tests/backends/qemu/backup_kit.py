"""Helpers of the QEMU backup tests: machines with known bytes, chains put together, QMP looks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backends.qemu import backup_points, process, qmp
from backends.qemu.backend import QemuBackend
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    MachineSpec,
    StorageController,
)
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.protocol.backup import Capture

MIB = 1 << 20


def tool(*args: str) -> str:
    """Run qemu-img / qemu-io for real (skip where QEMU's tools are missing)."""
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is not installed")
    done = subprocess.run(list(args), check=True, capture_output=True, text=True)
    return done.stdout


def off_machine(backend: QemuBackend, name: str, *, size: int = 16 * MIB,
                fmt: DiskFormat = DiskFormat.QCOW2, disks: int = 1) -> str:
    """A machine with `disks` empty disks and nothing else (never started)."""
    spec = MachineSpec(name=name, os="other-linux", storage=(StorageController(
        name="disks", kind=ControllerKind.VIRTIO,
        disks=tuple(Disk(format=fmt, size_bytes=size, port=n) for n in range(disks))),))
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def disk_paths(backend: QemuBackend, machine_id: str) -> list[Path]:
    return [Path(d.path) for _, d in backend.get_machine(machine_id).spec.all_disks()]


def write(image: Path, offset: int, data: bytes, tmp: Path, fmt: str = "qcow2") -> None:
    """Write `data` at `offset` into an image of a machine that is off (qemu-io)."""
    source = tmp / "chunk.bin"
    source.write_bytes(data)
    tool("qemu-io", "-f", fmt, "-c", f"write -s {source} {offset} {len(data)}", str(image))


def zero(image: Path, offset: int, length: int) -> None:
    tool("qemu-io", "-f", "qcow2", "-c", f"write -z {offset} {length}", str(image))


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def chain(files: list[Path]) -> str:
    """The backup chain (full first) as one image: a json: node with explicit backing files."""
    node: dict[str, Any] | None = None
    for path in files:
        node = {"driver": "qcow2", "file": {"driver": "file", "filename": str(path)},
                "backing": node}
    return "json:" + json.dumps(node)


def same(a: str, b: Path, fmt: str = "qcow2") -> bool:
    """qemu-img compare: the guest would read the same bytes from both."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    done = subprocess.run(["qemu-img", "compare", "-F", fmt, a, str(b)], capture_output=True,
                          text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def read(image: str, offset: int, length: int, tmp: Path) -> bytes:
    """Bytes the guest would read at `offset` of an image or a json: chain."""
    raw = tmp / "read.raw"
    raw.unlink(missing_ok=True)
    tool("qemu-img", "convert", "-O", "raw", image, str(raw))
    with raw.open("rb") as data:
        data.seek(offset)
        return data.read(length)


def allocated(path: Path) -> int:
    """Bytes the file takes on disk."""
    return path.stat().st_blocks * 512


def points_off(backend: QemuBackend, machine_id: str) -> list[list[str]]:
    """Our points in each disk of a machine that is off, read from the qcow2 headers."""
    return [backup_points.offline_points(backend.qemu_img, p)
            for p in disk_paths(backend, machine_id)]


def capture(backend: QemuBackend, machine_id: str, folder: Path, since: str = "",
            **kwargs: Any) -> Capture:
    folder.mkdir(parents=True, exist_ok=True)
    return backend.capture(machine_id, folder, since=since,
                           progress=kwargs.pop("progress", no_progress),
                           cancel=kwargs.pop("cancel", CancelToken()), **kwargs)


def qemu_state(backend: QemuBackend, machine_id: str) -> dict[str, Any]:
    """What a running machine's QEMU holds: jobs, node names, our bitmaps per node."""
    run = backend.store.require_running(backend.store.files(machine_id), "look at")
    with qmp.connect(run.qmp) as session:
        jobs = session.execute("query-jobs")
        nodes = session.execute("query-named-block-nodes", {"flat": True})
    return {"jobs": jobs, "nodes": sorted(str(n["node-name"]) for n in nodes),
            "bitmaps": sorted(b["name"] for n in nodes for b in n.get("dirty-bitmaps", []))}


# A capture in a child process that prints HALF once the copy is under way, then goes on.
CHILD = """
import sys
from pathlib import Path
from backends.qemu.backend import QemuBackend
from desktopvm.protocol import CancelToken
from desktopvm.settings import Settings

library, machine_id, folder, since = sys.argv[1:5]
said = []

def progress(fraction, stage):
    if fraction is not None and 0 < fraction < 1 and not said:
        said.append(1)
        print("HALF", flush=True)

backend = QemuBackend(Settings(library_dir=library, qemu_accel="tcg"))
backend.capture(machine_id, Path(folder), since=since, progress=progress, cancel=CancelToken())
print("DONE", flush=True)
"""


def kill_capture_half_way(backend: QemuBackend, machine_id: str, folder: Path,
                          since: str = "") -> list[int]:
    """SIGKILL a capture running in another process once its copy is under way; the pids
    of the processes it had started (a storage daemon), gone by now."""
    folder.mkdir(parents=True)
    with subprocess.Popen(
            [sys.executable, "-c", CHILD, str(backend.store.library), machine_id, str(folder),
             since], cwd=Path(__file__).parents[3], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            line = child.stdout.readline()
            assert line == b"HALF\n", (line, child.stderr.read())
            daemons = children_of(child.pid)
            child.send_signal(signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
    for pid in daemons:  # a storage daemon dies with the capture
        assert process.wait_for_exit(pid, 10), f"qemu-storage-daemon {pid} still runs"
    return daemons


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid and process.pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found
