"""Backups of QEMU machines that are off, through the real qemu-storage-daemon and qemu-img.

Known bytes are written with qemu-io; each backup chain (full, then incrementals) is put
together with an explicit json: backing chain and compared with `qemu-img compare` against a
copy of the disk taken at that point.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.model import DiskFormat
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidState,
    OperationCancelled,
    no_progress,
)
from desktopvm.settings import Settings
from tests.backends.qemu.backup_kit import (
    MIB,
    allocated,
    capture,
    chain,
    disk_paths,
    kill_capture_half_way,
    off_machine,
    points_off,
    random_bytes,
    read,
    same,
    tool,
    write,
    zero,
)

pytestmark = pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                reason="qemu-storage-daemon is not installed")


@pytest.fixture
def backend(tmp_path: Path) -> QemuBackend:
    return QemuBackend(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))


def test_full_then_incrementals_give_each_point_exactly(backend: QemuBackend, tmp_path: Path):
    machine = off_machine(backend, "m", size=32 * MIB, disks=2)
    first, second = disk_paths(backend, machine)
    write(first, 0, random_bytes(4 * MIB), tmp_path)
    write(second, 8 * MIB, random_bytes(2 * MIB), tmp_path)

    full = capture(backend, machine, tmp_path / "b1")
    assert [d.incremental for d in full.disks] == [False, False]
    assert full.point and not full.was_running
    assert points_off(backend, machine) == [[full.point], [full.point]]
    at_full = [shutil.copy(p, tmp_path / f"at-full-{n}.qcow2") for n, p in enumerate((first,
                                                                                       second))]

    write(first, 1 * MIB, b"CHANGED-1" * 100, tmp_path)
    zero(first, 2 * MIB, 64 * 1024)  # zeros over data: the incremental must carry them
    inc = capture(backend, machine, tmp_path / "b2", since=full.point)
    assert [d.incremental for d in inc.disks] == [True, True]
    assert inc.point and inc.point != full.point
    assert points_off(backend, machine) == [[inc.point], [inc.point]]  # only the newest

    write(second, 20 * MIB, b"CHANGED-2" * 100, tmp_path)
    inc2 = capture(backend, machine, tmp_path / "b3", since=inc.point)
    assert all(d.incremental for d in inc2.disks)

    for n, disk in enumerate((first, second)):
        files = [b.disks[n].path for b in (full, inc, inc2)]
        assert same(chain(files[:1]), Path(at_full[n]))
        assert same(chain(files), disk)
        assert not same(chain(files[:1]), disk)
        # The target files name no backing file: the set is self-contained.
        assert "backing-filename" not in tool("qemu-img", "info", "--output=json", str(files[1]))
    assert read(chain([full.disks[0].path, inc.disks[0].path]), 2 * MIB, 8, tmp_path) == \
        b"\0" * 8
    # Little changed, little copied (the full holds 6 MiB of random data).
    assert allocated(inc.disks[0].path) * 8 < allocated(full.disks[0].path)
    assert allocated(inc.disks[1].path) * 8 < allocated(full.disks[1].path)


def test_a_point_that_is_gone_or_foreign_gives_a_full_copy(backend: QemuBackend,
                                                          tmp_path: Path):
    machine = off_machine(backend, "m")
    [disk] = disk_paths(backend, machine)
    write(disk, 0, random_bytes(MIB), tmp_path)
    first = capture(backend, machine, tmp_path / "b1")
    for n, since in enumerate(["desktopvm-backup-never-made", "someone-elses-bitmap", ""]):
        again = capture(backend, machine, tmp_path / f"again{n}", since=since)
        assert not again.disks[0].incremental
        assert same(chain([again.disks[0].path]), disk)
    assert first.point not in points_off(backend, machine)[0]  # superseded, removed
    backend.forget_capture_points(machine)
    assert points_off(backend, machine) == [[]]
    after = capture(backend, machine, tmp_path / "after", since=again.point)
    assert not after.disks[0].incremental


@pytest.mark.parametrize(("fmt", "qemu_fmt"), [(DiskFormat.RAW, "raw"),
                                               (DiskFormat.VDI, "vdi")])
def test_other_formats_are_copied_whole_with_no_point(backend: QemuBackend, tmp_path: Path,
                                                      fmt: DiskFormat, qemu_fmt: str):
    machine = off_machine(backend, "other", fmt=fmt)
    [disk] = disk_paths(backend, machine)
    write(disk, MIB, b"SOME-DATA" * 512, tmp_path, fmt=qemu_fmt)
    first = capture(backend, machine, tmp_path / "b1")
    assert first.point == ""  # only qcow2 files keep bitmaps
    assert first.disks[0].format is DiskFormat.QCOW2 and not first.disks[0].incremental
    assert same(chain([first.disks[0].path]), disk, fmt=qemu_fmt)
    again = capture(backend, machine, tmp_path / "b2", since=first.point)
    assert not again.disks[0].incremental


def test_the_capture_holds_the_spec_and_the_snapshot_tree(backend: QemuBackend,
                                                         tmp_path: Path):
    machine = off_machine(backend, "with snapshots")
    taken = backend.take_snapshot(machine, "before", progress=no_progress,
                                  cancel=CancelToken())
    result = capture(backend, machine, tmp_path / "b1")
    assert result.spec == backend.get_machine(machine).spec
    assert [s.id for s in result.snapshots] == [taken.id]
    d = result.disks[0]
    assert (d.controller, d.port, d.device, d.virtual_size) == (0, 0, 0, 16 * MIB)


def test_reverting_a_snapshot_forgets_the_points(backend: QemuBackend, tmp_path: Path):
    """QEMU refuses to revert a disk that carries a bitmap; the revert drops our points and
    the next backup is full (the revert changed the disk behind the bitmap's back)."""
    machine = off_machine(backend, "snap")
    [disk] = disk_paths(backend, machine)
    write(disk, 0, b"BEFORE" * 1000, tmp_path)
    snap = backend.take_snapshot(machine, "s", progress=no_progress, cancel=CancelToken())
    write(disk, 0, b"AFTER!" * 1000, tmp_path)
    first = capture(backend, machine, tmp_path / "b1")
    backend.restore_snapshot(machine, snap.id, progress=no_progress, cancel=CancelToken())
    assert points_off(backend, machine) == [[]]
    assert read(str(disk), 0, 6, tmp_path) == b"BEFORE"
    second = capture(backend, machine, tmp_path / "b2", since=first.point)
    assert not second.disks[0].incremental
    assert same(chain([second.disks[0].path]), disk)


def test_a_linked_clone_is_backed_up_whole(backend: QemuBackend, tmp_path: Path):
    source = off_machine(backend, "base")
    [disk] = disk_paths(backend, source)
    write(disk, 0, b"FROM-THE-BASE" * 4000, tmp_path)
    clone = backend.clone(source, "linked", linked=True, progress=no_progress,
                          cancel=CancelToken())
    [overlay] = disk_paths(backend, clone)
    assert "backing-filename" in tool("qemu-img", "info", "--output=json", str(overlay))
    write(overlay, 4 * MIB, b"THE-CLONE" * 100, tmp_path)
    full = capture(backend, clone, tmp_path / "b1")
    assert "backing-filename" not in tool("qemu-img", "info", "--output=json",
                                          str(full.disks[0].path))
    assert same(chain([full.disks[0].path]), overlay)
    write(overlay, 5 * MIB, b"AGAIN" * 100, tmp_path)
    inc = capture(backend, clone, tmp_path / "b2", since=full.point)
    assert inc.disks[0].incremental
    assert same(chain([full.disks[0].path, inc.disks[0].path]), overlay)


def test_a_cancelled_backup_leaves_nothing_behind(backend: QemuBackend, tmp_path: Path):
    machine = off_machine(backend, "big", size=256 * MIB)
    [disk] = disk_paths(backend, machine)
    write(disk, 0, random_bytes(48 * MIB), tmp_path)
    first = capture(backend, machine, tmp_path / "b1")
    write(disk, 0, random_bytes(48 * MIB), tmp_path)  # all of it changes
    token = CancelToken()
    seen: list[float | None] = []

    def progress(fraction: float | None, stage: str) -> None:
        seen.append(fraction)
        if fraction is not None and 0 < fraction < 1:
            token.cancel()  # half-way through the copy

    folder = tmp_path / "cancelled"
    with pytest.raises(OperationCancelled):
        capture(backend, machine, folder, since=first.point, progress=progress, cancel=token)
    assert any(f is not None and 0 < f < 1 for f in seen)
    assert list(folder.iterdir()) == []
    assert points_off(backend, machine) == [[first.point]]  # the old point is intact
    again = capture(backend, machine, tmp_path / "b2", since=first.point)
    assert again.disks[0].incremental
    assert same(chain([first.disks[0].path, again.disks[0].path]), disk)


def test_refuses_a_folder_that_is_not_empty(backend: QemuBackend, tmp_path: Path):
    machine = off_machine(backend, "m")
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "someone.txt").write_text("keep me")
    with pytest.raises(Exception, match="empty folder"):
        capture(backend, machine, folder)
    assert (folder / "someone.txt").read_text() == "keep me"


def test_a_machine_busy_starting_is_refused(backend: QemuBackend, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch):
    from desktopvm.protocol import PowerState

    machine = off_machine(backend, "m")
    monkeypatch.setattr(backend.store, "state", lambda files: PowerState.STARTING)
    with pytest.raises(InvalidState, match="wait until"):
        capture(backend, machine, tmp_path / "b")


def test_a_killed_backup_leaves_the_machine_usable(backend: QemuBackend, tmp_path: Path):
    """SIGKILL half-way: no daemon keeps the disk locked, the next backup is right (full:
    the daemon's death leaves every bitmap it had open marked inconsistent)."""
    machine = off_machine(backend, "m", size=256 * MIB)
    [disk] = disk_paths(backend, machine)
    write(disk, 0, random_bytes(48 * MIB), tmp_path)
    first = capture(backend, machine, tmp_path / "b1")
    write(disk, 0, random_bytes(48 * MIB), tmp_path)
    daemons = kill_capture_half_way(backend, machine, tmp_path / "killed", since=first.point)
    assert len(daemons) == 1  # it was killed while its daemon copied
    tool("qemu-io", "-f", "qcow2", "-c", "read 0 512", str(disk))  # not locked by anyone
    assert backend.get_machine(machine).state.value == "off"
    again = capture(backend, machine, tmp_path / "b2", since=first.point)
    assert not again.disks[0].incremental
    assert same(chain([again.disks[0].path]), disk)
    assert points_off(backend, machine) == [[again.point]]
    write(disk, MIB, b"AFTER" * 10, tmp_path)
    inc = capture(backend, machine, tmp_path / "b3", since=again.point)
    assert inc.disks[0].incremental
    assert same(chain([again.disks[0].path, inc.disks[0].path]), disk)


def test_compress_false_writes_plain_clusters(backend: QemuBackend, tmp_path: Path):
    machine = off_machine(backend, "m")
    [disk] = disk_paths(backend, machine)
    write(disk, 0, b"compressible " * 400_000, tmp_path)
    packed = capture(backend, machine, tmp_path / "packed")
    plain = capture(backend, machine, tmp_path / "plain", compress=False)
    assert allocated(packed.disks[0].path) * 4 < allocated(plain.disks[0].path)
    for result in (packed, plain):
        assert same(chain([result.disks[0].path]), disk)


def test_each_disk_is_incremental_only_where_its_point_is_intact(backend: QemuBackend,
                                                                 tmp_path: Path):
    machine = off_machine(backend, "two", disks=2)
    first, second = disk_paths(backend, machine)
    full = capture(backend, machine, tmp_path / "b1")
    # As if the second disk had been put back from an older copy: its point is gone.
    tool("qemu-img", "bitmap", "--remove", str(second), full.point)
    write(first, 0, b"ONE" * 100, tmp_path)
    write(second, 0, b"TWO" * 100, tmp_path)
    inc = capture(backend, machine, tmp_path / "b2", since=full.point)
    assert [d.incremental for d in inc.disks] == [True, False]
    assert same(chain([full.disks[0].path, inc.disks[0].path]), first)
    assert same(chain([inc.disks[1].path]), second)


def test_a_disk_grown_between_points_still_gives_each_point(backend: QemuBackend,
                                                            tmp_path: Path):
    machine = off_machine(backend, "grows")
    [disk] = disk_paths(backend, machine)
    write(disk, 0, random_bytes(MIB), tmp_path)
    full = capture(backend, machine, tmp_path / "b1")
    backend.resize_disk(disk, 32 * MIB, progress=no_progress, cancel=CancelToken())
    write(disk, 24 * MIB, b"IN-THE-NEW-PART" * 10, tmp_path)
    inc = capture(backend, machine, tmp_path / "b2", since=full.point)
    assert inc.disks[0].incremental and inc.disks[0].virtual_size == 32 * MIB
    assert same(chain([full.disks[0].path, inc.disks[0].path]), disk)


def test_without_the_storage_daemon_an_off_machine_gets_a_plain_full_copy(
        backend: QemuBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    machine = off_machine(backend, "m")
    [disk] = disk_paths(backend, machine)
    write(disk, 0, random_bytes(MIB), tmp_path)
    first = capture(backend, machine, tmp_path / "b1")
    monkeypatch.setattr(storage_daemon, "find_daemon", lambda: None)
    assert not backend.capabilities().backup_incremental
    assert backend.capabilities().backup_running
    plain = capture(backend, machine, tmp_path / "b2", since=first.point)
    assert plain.point == "" and not plain.disks[0].incremental
    assert plain.disks[0].virtual_size == 16 * MIB
    assert same(chain([plain.disks[0].path]), disk)


def test_a_disk_another_program_holds_is_refused_in_words(backend: QemuBackend,
                                                         tmp_path: Path):
    machine = off_machine(backend, "held")
    [disk] = disk_paths(backend, machine)
    with subprocess.Popen(["qemu-io", "-f", "qcow2", str(disk)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE) as holder:
        try:
            holding(holder)  # qemu-io holds the image open (and locked) until its stdin closes
            folder = tmp_path / "b1"
            with pytest.raises(CommandFailed, match="in use by another program"):
                capture(backend, machine, folder)
            assert list(folder.iterdir()) == []
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait()


def holding(holder: subprocess.Popen[bytes]) -> None:
    """Wait until qemu-io has the image open (and locked): it answers a command only then.
    (Polling with `qemu-img info` raced it: info's own brief lock made qemu-io's fail.)"""
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write(b"info\n")
    holder.stdin.flush()
    assert b"format name" in holder.stdout.readline(), "qemu-io could not open the image"


def test_a_raw_disk_beside_a_qcow2_one_is_copied_whole_each_time(backend: QemuBackend,
                                                                 tmp_path: Path):
    from desktopvm.model import ControllerKind, Disk, MachineSpec, StorageController

    spec = MachineSpec(name="mixed", os="other-linux", storage=(StorageController(
        name="disks", kind=ControllerKind.VIRTIO, disks=(
            Disk(format=DiskFormat.QCOW2, size_bytes=16 * MIB, port=0),
            Disk(format=DiskFormat.RAW, size_bytes=16 * MIB, port=1))),))
    machine = backend.create(spec, progress=no_progress, cancel=CancelToken())
    qcow2, raw = disk_paths(backend, machine)
    full = capture(backend, machine, tmp_path / "b1")
    assert full.point and points_off(backend, machine)[0] == [full.point]
    write(qcow2, 0, b"Q" * 4096, tmp_path)
    write(raw, 0, b"R" * 4096, tmp_path, fmt="raw")
    inc = capture(backend, machine, tmp_path / "b2", since=full.point)
    assert [d.incremental for d in inc.disks] == [True, False]
    assert same(chain([full.disks[0].path, inc.disks[0].path]), qcow2)
    assert same(chain([inc.disks[1].path]), raw, fmt="raw")
