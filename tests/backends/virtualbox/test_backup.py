"""VirtualBox backups of running and paused machines, over the VBoxManage stand-in.

The real VBoxManage 7.2 proves the off path and the snapshot sequence (real/test_backup_real.py);
a running machine needs VirtualBox's kernel driver, so here the stand-in plays it, enforcing
what real VirtualBox does (each rule's source beside it in fakevbox): `snapshot take` moves the
running machine onto new differencing images and freezes the old media, a medium the running
machine writes to cannot be cloned ("locked for writing"), `snapshot delete` merges back.
The guest "writes" between the snapshot and the copy through the progress callback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.model import DiskFormat, defaults_for
from desktopvm.protocol import (
    CancelToken,
    CapturingBackend,
    CommandFailed,
    InvalidState,
    OperationCancelled,
    PowerState,
    no_progress,
)
from desktopvm.protocol.backup import TEMPORARY_SNAPSHOT
from desktopvm.testing.doubles.virtualbox.double import FakeVBox

BEFORE, AFTER = b"MARK-1 written before the backup\n", b"MARK-2 written while it ran\n"


def running_machine(backend: VirtualBoxBackend, *, paused: bool = False) -> tuple[str, Path]:
    spec = defaults_for("debian12", backend.capabilities(), name="busy ‘guest’")
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    disk = Path(backend.get_machine(machine_id).spec.all_disks()[0][1].path)
    disk.write_bytes(BEFORE)
    backend.start(machine_id)
    if paused:
        backend.pause(machine_id)
    return machine_id, disk


def attached(fake: FakeVBox, machine_id: str) -> dict[str, Any]:
    """The one hard-disk slot of the machine, as the stand-in holds it."""
    vm: dict[str, Any] = fake.state()["vms"][machine_id]
    slot: dict[str, Any]
    [slot] = [s for c in vm["controllers"] for s in c["attachments"].values()
              if s["type"] == "hdd"]
    return slot


def guest_writes(fake: FakeVBox, machine_id: str) -> None:
    """The guest writes to the disk it runs on now (after the snapshot: the new child)."""
    Path(attached(fake, machine_id)["medium"]).write_bytes(AFTER)


def folder_in(tmp_path: Path) -> Path:
    folder = tmp_path / "backup ‘set’"
    folder.mkdir()
    return folder


def calls_of(fake: FakeVBox, *verbs: str) -> list[list[str]]:
    return [argv for argv in fake.calls() if argv[:1] and argv[0] in verbs]


@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
def test_a_running_machine_is_copied_as_it_was_at_the_snapshot_and_keeps_running(
        backend: VirtualBoxBackend, fake: FakeVBox, tmp_path: Path, paused: bool):
    assert isinstance(backend, CapturingBackend)
    caps = backend.capabilities()
    assert (caps.backup_running, caps.backup_incremental) == (True, False)
    machine_id, disk = running_machine(backend, paused=paused)
    base = attached(fake, machine_id)["uuid"]
    folder = folder_in(tmp_path)
    fake.forget_calls()

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith("Copying"):
            guest_writes(fake, machine_id)

    captured = backend.capture(machine_id, folder, progress=progress, cancel=CancelToken())

    [copy] = captured.disks
    assert copy.path.read_bytes() == BEFORE  # the point in time, not the write after it
    assert (copy.format, copy.path.parent, captured.was_running) == (DiskFormat.VDI, folder, True)
    assert captured.snapshots == ()  # the temporary snapshot is no part of the machine's tree
    take = calls_of(fake, "snapshot")[0]
    assert take[2] == "take" and take[3].startswith("DesktopVM backup ")
    assert ("--live" in take) is not paused  # running: never paused for the snapshot
    assert [a[:3] for a in calls_of(fake, "clonemedium")] == [["clonemedium", "disk", base]]
    assert not calls_of(fake, "controlvm")  # never stopped, paused or saved
    state = PowerState.PAUSED if paused else PowerState.RUNNING
    assert backend.get_machine(machine_id).summary.state is state
    # The snapshot is gone and merged: the guest's write is on its disk, nothing else is left.
    assert backend.list_snapshots(machine_id) == ((), "")
    assert attached(fake, machine_id)["uuid"] == base and disk.read_bytes() == AFTER
    assert sorted(fake.state()["media"]) == [str(disk)]
    assert sorted(p.name for p in folder.iterdir()) == [copy.path.name]


def test_the_stand_in_refuses_to_clone_the_disk_a_running_machine_writes(
        backend: VirtualBoxBackend, fake: FakeVBox, tmp_path: Path):
    """The rule that makes the temporary snapshot necessary (VirtualBox's medium lock)."""
    machine_id, _ = running_machine(backend)
    with pytest.raises(InvalidState, match="locked for writing"):
        fake.runner().run(["clonemedium", "disk", attached(fake, machine_id)["uuid"],
                           str(tmp_path / "copy.vdi")], retry_locked=False)


@pytest.mark.parametrize("how", ["fails", "cancelled"])
def test_a_copy_that_fails_or_is_cancelled_leaves_no_snapshot_no_file_no_medium(
        backend: VirtualBoxBackend, fake: FakeVBox, tmp_path: Path, how: str):
    machine_id, disk = running_machine(backend)
    base = attached(fake, machine_id)["uuid"]
    folder = folder_in(tmp_path)
    cancel = CancelToken()
    if how == "fails":
        fake.fault(["clonemedium"], stderr="VBoxManage: error: VD: write error (VERR_DISK_FULL)\n",
                   exit=1, times=1)
    else:
        fake.set(progress_delay=0.2)  # the clone's progress is slow; cancel arrives during it

    def progress(fraction: float | None, stage: str) -> None:
        if how == "cancelled" and stage.startswith("Copying") and fraction and fraction > 0.15:
            cancel.cancel()

    with pytest.raises(CommandFailed if how == "fails" else OperationCancelled):
        backend.capture(machine_id, folder, progress=progress, cancel=cancel)
    fake.set(progress_delay=0.0)
    assert backend.list_snapshots(machine_id) == ((), "")
    assert list(folder.iterdir()) == []
    assert attached(fake, machine_id)["uuid"] == base
    assert sorted(fake.state()["media"]) == [str(disk)]
    assert backend.get_machine(machine_id).summary.state is PowerState.RUNNING


def test_an_off_machine_needs_no_snapshot_and_forget_capture_points_is_a_no_op(
        backend: VirtualBoxBackend, fake: FakeVBox, tmp_path: Path):
    spec = defaults_for("debian12", backend.capabilities(), name="resting")
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    fake.forget_calls()
    captured = backend.capture(machine_id, folder_in(tmp_path), since="anything",
                               progress=no_progress, cancel=CancelToken())
    assert not captured.was_running and len(captured.disks) == 1
    assert not calls_of(fake, "snapshot")
    fake.forget_calls()
    backend.forget_capture_points(machine_id)
    assert fake.calls() == []


def test_a_running_machine_with_snapshots_of_its_own_keeps_them(
        backend: VirtualBoxBackend, fake: FakeVBox, tmp_path: Path):
    """The temporary snapshot then freezes a differencing image; its deletion merges that
    forward into the new child (real 7.2, real/test_backup_real.py) and leaves the user's."""
    spec = defaults_for("debian12", backend.capabilities(), name="with history")
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    own = backend.take_snapshot(machine_id, "mine", include_memory=False, progress=no_progress,
                                cancel=CancelToken())
    Path(attached(fake, machine_id)["medium"]).write_bytes(BEFORE)
    frozen = attached(fake, machine_id)["uuid"]
    media = len(fake.state()["media"])
    backend.start(machine_id)

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith("Copying"):
            guest_writes(fake, machine_id)

    captured = backend.capture(machine_id, folder_in(tmp_path), progress=progress,
                               cancel=CancelToken())
    assert captured.disks[0].path.read_bytes() == BEFORE
    assert [s.id for s in captured.snapshots] == [own.id]
    roots, current = backend.list_snapshots(machine_id)
    assert ([r.id for r in roots], current) == ([own.id], own.id)
    slot = attached(fake, machine_id)
    assert slot["uuid"] != frozen and Path(slot["medium"]).read_bytes() == AFTER
    assert len(fake.state()["media"]) == media
    assert frozen not in {m["uuid"] for m in fake.state()["media"].values()}


def test_a_temporary_snapshot_left_behind_is_named_and_kept(backend: VirtualBoxBackend,
                                                           fake: FakeVBox, tmp_path: Path):
    """A crashed backup's snapshot (or a backup running now) is refused in words, never
    deleted, and no second one is added."""
    spec = defaults_for("debian12", backend.capabilities(), name="left behind")
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    left = f"{TEMPORARY_SNAPSHOT} 2026-01-02 03:04:05 UTC"
    backend.take_snapshot(machine_id, left, include_memory=False, progress=no_progress,
                          cancel=CancelToken())
    backend.start(machine_id)
    before = len(fake.calls())
    with pytest.raises(InvalidState, match=f"'{left}' left by an interrupted backup \\(or "
                                           "another backup of it is running now\\); delete it "
                                           "in Snapshots and back up again"):
        backend.capture(machine_id, folder_in(tmp_path), progress=no_progress,
                        cancel=CancelToken())
    assert not [a for a in fake.calls()[before:] if a[:1] == ["snapshot"] and "list" not in a]
    roots, _ = backend.list_snapshots(machine_id)
    assert [r.name for r in roots] == [left]
