"""Backups of running QEMU machines (TCG, the test guest): the guest goes on throughout.

Markers are written on the guest's raw disk through its serial shell; the backup chains are
put together with explicit json: backing chains and compared with the disk once it is off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.qemu import process, storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    OperationCancelled,
    PowerState,
    no_progress,
)
from desktopvm.testing.qemu_guest import SerialReader, guest_spec
from tests.backends.qemu.backup_kit import (
    MIB,
    allocated,
    capture,
    chain,
    disk_paths,
    kill_capture_half_way,
    points_off,
    qemu_state,
    random_bytes,
    read,
    same,
    write,
)
from tests.backends.qemu.test_qemu_machines import boot, create

pytestmark = [pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                 reason="qemu-storage-daemon is not installed")]

SECTOR = 2048  # where the markers go on the guest's disk (512-byte sectors)


def mark(reader: SerialReader, text: str, sector: int = SECTOR) -> None:
    """Write `text` on the guest's raw disk and flush it (the guest's own page cache too)."""
    reader.run(f"echo {text} | dd of=/dev/vda bs=512 seek={sector} conv=notrunc && sync "
               "&& echo WROTE-$((40+2))", b"WROTE-42")


def still_running(backend: QemuBackend, machine: str, reader: SerialReader) -> None:
    assert backend.get_machine(machine).state is PowerState.RUNNING
    reader.run("echo ALIVE-$((1+1))", b"ALIVE-2")


def clean(backend: QemuBackend, machine: str, points: list[str]) -> None:
    """No backup job, no target node, and exactly `points` as bitmaps in the machine's QEMU."""
    state = qemu_state(backend, machine)
    assert state["jobs"] == []
    assert not [n for n in state["nodes"] if n.startswith("dvm-backup")]
    assert state["bitmaps"] == points


def test_full_and_incremental_while_running_then_off(qemu: QemuBackend, guest_iso: Path,
                                                     tmp_path: Path):
    machine = create(qemu, guest_spec("running", guest_iso))
    [disk] = disk_paths(qemu, machine)
    reader = boot(qemu, machine)
    mark(reader, "MARK-1")
    states: list[PowerState] = []  # what the app sees while the backup runs
    full = capture(qemu, machine, tmp_path / "b1",
                   progress=lambda f, stage: states.append(qemu.get_machine(machine).state))
    assert states and set(states) == {PowerState.RUNNING}
    assert full.was_running and full.point and not full.disks[0].incremental
    still_running(qemu, machine, reader)
    clean(qemu, machine, [full.point])

    mark(reader, "MARK-2")
    mark(reader, "OTHER", sector=40000)
    inc = capture(qemu, machine, tmp_path / "b2", since=full.point)
    assert inc.disks[0].incremental and inc.point != full.point
    assert allocated(inc.disks[0].path) < MIB  # two sectors changed
    still_running(qemu, machine, reader)
    clean(qemu, machine, [inc.point])

    reader.close()
    qemu.power_off(machine)
    files = [full.disks[0].path, inc.disks[0].path]
    assert same(chain(files), disk)
    offset = SECTOR * 512
    assert read(chain(files[:1]), offset, 7, tmp_path) == b"MARK-1\n"
    assert read(chain(files), offset, 7, tmp_path) == b"MARK-2\n"
    assert read(chain(files[:1]), 40000 * 512, 6, tmp_path) == b"\0" * 6
    # The point made while running is in the qcow2 now: off, the next backup is incremental.
    assert points_off(qemu, machine) == [[inc.point]]
    write(disk, 8 * MIB, b"OFFLINE" * 10, tmp_path)
    off = capture(qemu, machine, tmp_path / "b3", since=inc.point)
    assert off.disks[0].incremental and not off.was_running
    assert same(chain([*files, off.disks[0].path]), disk)


def test_points_survive_starts_stops_and_a_saved_state(qemu: QemuBackend, guest_iso: Path,
                                                       tmp_path: Path):
    machine = create(qemu, guest_spec("cycles", guest_iso))
    [disk] = disk_paths(qemu, machine)
    full = capture(qemu, machine, tmp_path / "b1")  # off, before it ever ran
    reader = boot(qemu, machine)
    mark(reader, "STARTED")
    reader.close()
    qemu.save_state(machine, progress=no_progress, cancel=CancelToken())
    saved = capture(qemu, machine, tmp_path / "b2", since=full.point)
    assert saved.disks[0].incremental and saved.was_running  # no memory: crash-consistent
    qemu.start(machine)  # resumes the saved state with the point in the disk
    reader = SerialReader(qemu, machine)
    mark(reader, "RESUMED", sector=SECTOR + 8)
    reader.close()
    qemu.power_off(machine)
    last = capture(qemu, machine, tmp_path / "b3", since=saved.point)
    assert last.disks[0].incremental
    files = [b.disks[0].path for b in (full, saved, last)]
    assert same(chain(files), disk)
    assert read(chain(files[:2]), SECTOR * 512, 8, tmp_path) == b"STARTED\n"
    assert read(chain(files[:2]), (SECTOR + 8) * 512, 8, tmp_path) == b"\0" * 8
    assert read(chain(files), (SECTOR + 8) * 512, 8, tmp_path) == b"RESUMED\n"
    assert allocated(files[2]) < MIB


def big_guest(qemu: QemuBackend, iso: Path, tmp_path: Path) -> str:
    """The test guest with a 256 MiB disk holding 48 MiB of random data (slow to compress)."""
    spec = guest_spec("big", iso)
    disks = spec.storage[0]
    spec = spec.model_copy(update={"storage": (disks.model_copy(update={"disks": (
        disks.disks[0].model_copy(update={"size_bytes": 256 * MIB}),)}), *spec.storage[1:])})
    machine: str = create(qemu, spec)
    [disk] = disk_paths(qemu, machine)
    write(disk, 0, random_bytes(48 * MIB), tmp_path)
    return machine


def test_a_cancelled_backup_of_a_running_machine_leaves_nothing(qemu: QemuBackend,
                                                                guest_iso: Path,
                                                                tmp_path: Path):
    machine = big_guest(qemu, guest_iso, tmp_path)
    reader = boot(qemu, machine)
    token = CancelToken()
    seen: list[float | None] = []

    def progress(fraction: float | None, stage: str) -> None:
        seen.append(fraction)
        if fraction is not None and 0 < fraction < 1:
            token.cancel()

    folder = tmp_path / "cancelled"
    with pytest.raises(OperationCancelled):
        capture(qemu, machine, folder, progress=progress, cancel=token)
    assert any(f is not None and 0 < f < 1 for f in seen)
    assert list(folder.iterdir()) == []
    clean(qemu, machine, [])
    still_running(qemu, machine, reader)
    reader.close()


def test_a_killed_backup_leaves_the_running_machine_usable(qemu: QemuBackend, guest_iso: Path,
                                                          tmp_path: Path):
    machine = big_guest(qemu, guest_iso, tmp_path)
    [disk] = disk_paths(qemu, machine)
    reader = boot(qemu, machine)
    kill_capture_half_way(qemu, machine, tmp_path / "killed")
    still_running(qemu, machine, reader)
    after = capture(qemu, machine, tmp_path / "b1")  # ends what the killed one left in QEMU
    clean(qemu, machine, [after.point])
    mark(reader, "AFTER-KILL")
    inc = capture(qemu, machine, tmp_path / "b2", since=after.point)
    assert inc.disks[0].incremental
    still_running(qemu, machine, reader)
    reader.close()
    qemu.power_off(machine)
    assert same(chain([after.disks[0].path, inc.disks[0].path]), disk)


def test_reverting_to_a_memory_snapshot_while_running_forgets_the_points(
        qemu: QemuBackend, guest_iso: Path, tmp_path: Path):
    machine = create(qemu, guest_spec("snap", guest_iso))
    reader = boot(qemu, machine)
    snap = qemu.take_snapshot(machine, "s", progress=no_progress, cancel=CancelToken())
    first = capture(qemu, machine, tmp_path / "b1")
    qemu.restore_snapshot(machine, snap.id, progress=no_progress, cancel=CancelToken())
    clean(qemu, machine, [])
    second = capture(qemu, machine, tmp_path / "b2", since=first.point)
    assert not second.disks[0].incremental
    assert [s.id for s in second.snapshots] == [snap.id]
    still_running(qemu, machine, reader)  # the guest goes on from the snapshot
    reader.close()


def test_a_memory_snapshot_restored_while_off_still_starts_after_a_backup(
        qemu: QemuBackend, guest_iso: Path, tmp_path: Path):
    """Restored while off, a memory snapshot is loaded at the next start (-loadvm), which
    QEMU refuses while a disk carries a bitmap: a backup in between sets no point."""
    machine = create(qemu, guest_spec("loadvm", guest_iso))
    reader = boot(qemu, machine)
    snap = qemu.take_snapshot(machine, "s", progress=no_progress, cancel=CancelToken())
    reader.close()
    qemu.power_off(machine)
    qemu.restore_snapshot(machine, snap.id, progress=no_progress, cancel=CancelToken())
    assert qemu.get_machine(machine).state is PowerState.SAVED
    backup = capture(qemu, machine, tmp_path / "b1")
    assert backup.point == "" and backup.was_running
    assert points_off(qemu, machine) == [[]]
    qemu.start(machine)
    reader = SerialReader(qemu, machine)
    still_running(qemu, machine, reader)
    reader.close()


def test_a_paused_machine_is_backed_up_and_stays_paused(qemu: QemuBackend, guest_iso: Path,
                                                       tmp_path: Path):
    machine = create(qemu, guest_spec("paused", guest_iso))
    [disk] = disk_paths(qemu, machine)
    reader = boot(qemu, machine)
    mark(reader, "BEFORE-PAUSE")
    qemu.pause(machine)
    paused = capture(qemu, machine, tmp_path / "b1")
    assert paused.was_running and paused.point
    assert qemu.get_machine(machine).state is PowerState.PAUSED
    qemu.resume(machine)
    still_running(qemu, machine, reader)
    reader.close()
    qemu.power_off(machine)
    assert same(chain([paused.disks[0].path]), disk)


def test_a_machine_that_dies_during_its_backup_leaves_no_copy(qemu: QemuBackend,
                                                             guest_iso: Path, tmp_path: Path):
    machine = big_guest(qemu, guest_iso, tmp_path)
    [disk] = disk_paths(qemu, machine)
    reader = boot(qemu, machine)
    reader.close()
    runtime = qemu.store.running_runtime(qemu.store.files(machine))
    assert runtime is not None

    def progress(fraction: float | None, stage: str) -> None:
        if fraction is not None and 0 < fraction < 1:
            process.kill(runtime.pid)  # QEMU crashes half-way through the copy
            process.wait_for_exit(runtime.pid, 10)

    folder = tmp_path / "died"
    with pytest.raises(BackendError):
        capture(qemu, machine, folder, progress=progress)
    assert list(folder.iterdir()) == []
    assert qemu.get_machine(machine).state is PowerState.ABORTED
    after = capture(qemu, machine, tmp_path / "after")  # off now, through the daemon
    assert after.was_running and not after.disks[0].incremental
    assert same(chain([after.disks[0].path]), disk)
