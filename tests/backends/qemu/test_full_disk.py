"""A full disk loses nothing and leaks nothing (review-security.md D10), on a real small tmpfs.

The library lives on a tmpfs of a few MiB filled up by a file; a snapshot then fails with a
clear error, the image is left without leaked clusters, and with space again it works.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.model import Disk, DiskFormat, defaults_for
from desktopvm.protocol import BackendError, CancelToken, no_progress
from desktopvm.settings import Settings
from tests.images.hostile import qemu_img


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs (root only: mounting needs it)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """A file that takes all free space of `folder`'s file system but `leave` bytes."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    filler = folder / "filler"
    with filler.open("wb") as out:
        out.write(b"\0" * max(free - leave, 0))
    return filler


@pytest.mark.parametrize("free", [0, 4096, 16384])
def test_a_snapshot_on_a_full_disk_fails_cleanly_without_leaking(small_disk: Path, free: int):
    backend = QemuBackend(Settings(library_dir=str(small_disk / "library")))
    raw, used = small_disk / "data.raw", small_disk / "used.qcow2"
    raw.write_bytes(os.urandom(3 << 20))  # a disk in use: snapshots must copy its tables
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(used))
    raw.unlink()
    spec = defaults_for("debian12", backend.capabilities()).model_copy(update={"name": "full"})
    spec = spec.model_copy(update={"storage": (spec.storage[0].model_copy(update={
        "disks": (Disk(path=str(used), existing=True, format=DiskFormat.QCOW2),),
        "optical": ()}),)})
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    [(_, disk)] = backend.get_machine(machine_id).spec.all_disks()
    filler = fill(small_disk, leave=free)  # room to start a snapshot, not to finish
    with pytest.raises(BackendError) as failed:
        backend.take_snapshot(machine_id, "too big", progress=no_progress, cancel=CancelToken())
    assert "\n" not in failed.value.summary
    qemu_img("check", disk.path)  # exit 0: no leaked clusters, no corruption
    assert backend.list_snapshots(machine_id) == ((), "")
    listed = subprocess.run(["qemu-img", "snapshot", "-l", disk.path], capture_output=True,
                            text=True, check=True).stdout
    assert "dvm-" not in listed  # no snapshot inside the image that no record names
    filler.unlink()
    backend.take_snapshot(machine_id, "fits now", progress=no_progress, cancel=CancelToken())
    assert [s.name for s in backend.list_snapshots(machine_id)[0]] == ["fits now"]
