"""Backups on the real VBoxManage 7.2: clonemedium of an off machine, and the temporary-snapshot
sequence (take, clone the frozen medium, delete) — which real 7.2 also runs on an off machine.

A running machine needs VirtualBox's kernel driver (see the stand-in test beside the other
VirtualBox tests and the live_virtualbox suite). Contents are compared with `qemu-img compare`,
which reads VDI and VMDK; the media registry is checked with `list hdds`.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from backends.virtualbox import backup
from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.model import DiskFormat
from desktopvm.protocol import CancelToken, CommandFailed, OperationCancelled, no_progress
from tests.backends.virtualbox.real.realvbox import RealVBox

MIB = 1024**2


def raw_disk(path: Path, marker: bytes, size: int = 8 * MIB) -> Path:
    """A raw image with `marker` at 1 MiB (and nothing else)."""
    with path.open("wb") as file:
        file.truncate(size)
        file.seek(MIB)
        file.write(marker * 64)
    return path


def machine_with_disks(vbox: RealVBox, folder: Path, *, vmdk: bool = False) -> tuple[str, Path]:
    """A machine made with VirtualBox's own commands: a VDI on SATA (and a VMDK on IDE)."""
    raw = raw_disk(folder / "first.raw", b"MARK-ONE")
    vdi = folder / "first disk.vdi"
    vbox.run("convertfromraw", str(raw), str(vdi), "--format=VDI")
    machine = str(uuid.uuid4())
    vbox.run("createvm", "--name=backed up", f"--uuid={machine}", "--register")
    vbox.run("storagectl", machine, "--name", "SATA", "--add=sata")
    vbox.run("storageattach", machine, "--storagectl=SATA", "--port=0", "--device=0",
             "--type=hdd", f"--medium={vdi}")
    if vmdk:
        vbox.run("convertfromraw", str(raw_disk(folder / "second.raw", b"MARK-TWO", 4 * MIB)),
                 str(folder / "second.vmdk"), "--format=VMDK")
        vbox.run("storagectl", machine, "--name", "IDE", "--add=ide")
        vbox.run("storageattach", machine, "--storagectl=IDE", "--port=1", "--device=0",
                 "--type=hdd", f"--medium={folder / 'second.vmdk'}")
    return machine, raw


def same_content(raw: Path, image: Path, image_format: str) -> bool:
    result = subprocess.run([shutil.which("qemu-img") or "qemu-img", "compare", "-f", "raw",
                             "-F", image_format, str(raw), str(image)],
                            capture_output=True, text=True, check=False)
    return result.returncode == 0


def registered_locations(vbox: RealVBox) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in vbox.run("list", "hdds").stdout.splitlines()
            if line.startswith("Location:")]


def recording(backend: VirtualBoxBackend) -> list[list[str]]:
    """Every argv the backend's door runs from now on."""
    calls: list[list[str]] = []
    run = backend.vbox.run

    def record(args: list[str], **options: object) -> object:
        calls.append(list(args))
        return run(args, **options)  # type: ignore[arg-type]

    backend.vbox.run = record  # type: ignore[assignment,method-assign]
    return calls


@pytest.fixture(autouse=True)
def needs_qemu_img() -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img compares the copies with their sources")


def test_an_off_machine_is_cloned_disk_by_disk_and_leaves_no_registered_media(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path):
    machine, raw = machine_with_disks(real_vbox, tmp_path, vmdk=True)
    # A user snapshot first: the current state is then a differencing image, which the
    # copy must flatten (its whole chain, not the difference alone).
    real_vbox.run("snapshot", machine, "take", "the user's own")
    current = real_vbox.machine_readable(machine)["SATA-ImageUUID-0-0"]
    registered = registered_locations(real_vbox)
    folder = tmp_path / "capture"
    folder.mkdir()
    captured = real_backend.capture(machine, folder, progress=no_progress, cancel=CancelToken())

    assert not captured.was_running and captured.point == ""
    assert [s.name for s in captured.snapshots] == ["the user's own"]
    by_slot = {(d.controller, d.port, d.device): d for d in captured.disks}
    names = [c.name for c in captured.spec.storage]
    sata, ide = by_slot[(names.index("SATA"), 0, 0)], by_slot[(names.index("IDE"), 1, 0)]
    assert (sata.format, ide.format) == (DiskFormat.VDI, DiskFormat.VMDK)
    assert (sata.virtual_size, ide.virtual_size) == (8 * MIB, 4 * MIB)
    assert sata.path.parent == folder and not sata.incremental
    assert same_content(raw, sata.path, "vdi")
    assert same_content(tmp_path / "second.raw", ide.path, "vmdk")
    # The copies are files only: VirtualBox's registry is as it was, the machine untouched.
    assert registered_locations(real_vbox) == registered
    assert real_vbox.machine_readable(machine)["SATA-ImageUUID-0-0"] == current


def test_the_temporary_snapshot_sequence_clones_the_frozen_medium_and_deletes_it(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path):
    machine, raw = machine_with_disks(real_vbox, tmp_path)
    before = real_vbox.machine_readable(machine)["SATA-ImageUUID-0-0"]
    registered = registered_locations(real_vbox)
    calls = recording(real_backend)
    folder = tmp_path / "capture"
    folder.mkdir()
    record = real_backend.record(machine)
    disks = backup.capture_through_snapshot(real_backend.inventory, record, folder,
                                            progress=no_progress, cancel=CancelToken())

    verbs = [argv[:3] for argv in calls if argv[0] in ("snapshot", "clonemedium")]
    assert [v[0] for v in verbs] == ["snapshot", "clonemedium", "snapshot"]
    take = next(a for a in calls if a[:1] == ["snapshot"] and a[2] == "take")
    assert take[3].startswith("DesktopVM backup ")
    # The medium the snapshot froze (the one attached before), never the new child.
    assert verbs[1] == ["clonemedium", "disk", before]
    assert same_content(raw, disks[0].path, "vdi")
    # Deleted again: no snapshot, the disk merged back, no differencing image or copy left.
    assert "SnapshotName" not in real_vbox.machine_readable(machine)
    assert real_vbox.machine_readable(machine)["SATA-ImageUUID-0-0"] == before
    assert registered_locations(real_vbox) == registered


def test_with_snapshots_of_its_own_the_frozen_differencing_image_is_merged_forward(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path):
    """The machine already has a snapshot: the temporary one freezes a differencing image,
    which deleting it merges into the new child (the stand-in's `_merge_frozen` does the same)."""
    machine, raw = machine_with_disks(real_vbox, tmp_path)
    real_vbox.run("snapshot", machine, "take", "the user's own")
    frozen = real_vbox.machine_readable(machine)["SATA-ImageUUID-0-0"]
    media = len(registered_locations(real_vbox))
    folder = tmp_path / "capture"
    folder.mkdir()
    calls = recording(real_backend)
    disks = backup.capture_through_snapshot(real_backend.inventory, real_backend.record(machine),
                                            folder, progress=no_progress, cancel=CancelToken())
    assert [a[:3] for a in calls if a[0] == "clonemedium"] == [["clonemedium", "disk", frozen]]
    assert same_content(raw, disks[0].path, "vdi")
    after = real_vbox.machine_readable(machine)
    assert (after["SnapshotName"], "SnapshotName-1" in after) == ("the user's own", False)
    # Merged forward: the frozen image is gone, the slot keeps the child it got.
    assert after["SATA-ImageUUID-0-0"] != frozen
    assert frozen not in real_vbox.run("list", "hdds").stdout
    assert len(registered_locations(real_vbox)) == media
    assert not any(str(folder) in location for location in registered_locations(real_vbox))


def test_a_cancelled_backup_removes_the_snapshot_and_every_copy(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path):
    machine, _ = machine_with_disks(real_vbox, tmp_path, vmdk=True)
    registered = registered_locations(real_vbox)
    folder = tmp_path / "capture"
    folder.mkdir()
    cancel = CancelToken()

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith("Copying the disk on IDE"):
            cancel.cancel()  # the first disk is copied, the second not yet

    with pytest.raises(OperationCancelled):
        backup.capture_through_snapshot(real_backend.inventory, real_backend.record(machine),
                                        folder, progress=progress, cancel=cancel)
    assert list(folder.iterdir()) == []
    assert "SnapshotName" not in real_vbox.machine_readable(machine)
    assert registered_locations(real_vbox) == registered


def test_a_snapshot_that_cannot_be_deleted_fails_the_backup_and_is_tried_again(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch):
    machine, _ = machine_with_disks(real_vbox, tmp_path)
    registered = registered_locations(real_vbox)
    folder = tmp_path / "capture"
    folder.mkdir()
    attempts: list[str] = []
    delete = backup.delete_snapshot

    def refused_once(vbox: Any, uuid_: str, snapshot: str) -> None:
        attempts.append(snapshot)
        # The first time VirtualBox itself refuses: a snapshot it does not have.
        delete(vbox, uuid_, snapshot if len(attempts) > 1 else str(uuid.uuid4()))

    monkeypatch.setattr(backup, "delete_snapshot", refused_once)
    with pytest.raises(CommandFailed, match="could not delete the temporary snapshot"):
        backup.capture_through_snapshot(real_backend.inventory, real_backend.record(machine),
                                        folder, progress=no_progress, cancel=CancelToken())
    assert len(attempts) == 2  # the clean-up deleted it
    assert list(folder.iterdir()) == []
    assert "SnapshotName" not in real_vbox.machine_readable(machine)
    assert registered_locations(real_vbox) == registered


def test_the_backup_core_makes_a_verified_set_from_the_real_copies(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path):
    """The seam with desktopvm/backup: the VDI copy is checked, turned into qcow2, verified."""
    from desktopvm.backup import back_up, verify

    machine, raw = machine_with_disks(real_vbox, tmp_path)
    real_vbox.run("snapshot", machine, "take", "the user's own")
    backup_set = back_up(real_backend, machine, tmp_path / "backups", progress=no_progress,
                         cancel=CancelToken())
    assert (backup_set.kind, backup_set.was_running) == ("full", False)
    assert verify(backup_set.path, progress=no_progress, cancel=CancelToken()) == backup_set
    [disk] = backup_set.disks
    assert same_content(raw, backup_set.path / disk.file, "qcow2")
    assert "SnapshotName-1" not in real_vbox.machine_readable(machine)  # only the user's one


def test_an_own_format_set_keeps_virtualboxs_vdi_and_vmdk_and_restores_into_virtualbox(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend, tmp_path: Path):
    """--own-format: the real clonemedium copies (VDI, VMDK) kept as they are, checked by our
    image rules, verified, and restored as a new machine by VirtualBox's own import."""
    from desktopvm.backup import back_up, restore, verify

    machine, raw = machine_with_disks(real_vbox, tmp_path, vmdk=True)
    backup_set = back_up(real_backend, machine, tmp_path / "backups", own_format=True,
                         progress=no_progress, cancel=CancelToken())
    assert backup_set.kind == "full"
    assert sorted(d.format for d in backup_set.disks) == [DiskFormat.VDI, DiskFormat.VMDK]
    assert verify(backup_set.path, progress=no_progress, cancel=CancelToken()) == backup_set
    vdi = next(d for d in backup_set.disks if d.format is DiskFormat.VDI)
    vmdk = next(d for d in backup_set.disks if d.format is DiskFormat.VMDK)
    assert same_content(raw, backup_set.path / vdi.file, "vdi")
    assert same_content(tmp_path / "second.raw", backup_set.path / vmdk.file, "vmdk")
    new_id = restore(backup_set.path, real_backend, name="from own format",
                     progress=no_progress, cancel=CancelToken())
    try:
        disks = [d for _, d in real_backend.get_machine(new_id).spec.all_disks()]
        assert len(disks) == 2
        first = next(d for d in disks if d.size_bytes == 8 * MIB)
        assert same_content(raw, Path(first.path), first.format.value)
    finally:
        real_backend.delete(new_id, delete_disks=True, progress=no_progress,
                            cancel=CancelToken())
