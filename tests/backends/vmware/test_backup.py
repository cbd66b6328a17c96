"""VMware backups (backends/vmware/backup.py): the stand-in's real VMDKs, real qemu-img/qemu-io."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.vmware import vmsd, vmx
from backends.vmware.chains import parent_path, read_layer
from backends.vmware.vmx import VmxDocument
from desktopvm.backup import back_up, restore, verify
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    StorageController,
    defaults_for,
)
from desktopvm.protocol import (
    CancelToken,
    CapturingBackend,
    CommandFailed,
    InvalidSpec,
    InvalidState,
    OperationCancelled,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.protocol.undo import Undo
from desktopvm.testing.doubles.vmware import fakedisk
from desktopvm.testing.doubles.vmware.standin import FakeVMware
from tests.backends.qemu.conftest import qemu  # noqa: F401 - the real QEMU backend
from tests.backends.vmware.test_live_vmware import harness  # noqa: F401 - the live suite's

if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
    pytest.skip("qemu-img and qemu-io are needed (sudo apt-get install qemu-utils)",
                allow_module_level=True)

MIB = 1024 * 1024


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeVMware]:
    fake = FakeVMware(tmp_path / "vmware")
    yield fake
    fake.close()


def made(fake: FakeVMware, name: str = "m1") -> tuple[str, Path]:
    """A new machine (its disk a real, empty monolithicSparse VMDK) and its disk."""
    backend = fake.backend()
    spec = defaults_for("other-linux", backend.capabilities(), name=name)
    machine = backend.create(spec, progress=no_progress, cancel=CancelToken())
    return machine, Path(backend.get_machine(machine).spec.all_disks()[0][1].path)


def qemu_io(path: Path, command: str, fmt: str = "vmdk") -> None:
    subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(path)], check=True,
                   capture_output=True)


def holds(path: Path, pattern: int, offset: int, length: int, fmt: str = "qcow2") -> bool:
    """Whether the image reads `pattern` over the range (qemu-io's own pattern check)."""
    done = subprocess.run(["qemu-io", "-f", fmt, "-c", f"read -P {pattern:#x} {offset} "
                           f"{length}", str(path)], check=False, capture_output=True, text=True)
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


def current_disk(vmx: Path) -> Path:
    """The disk file the .vmx names now (the stand-in's only disk: sata0:0)."""
    return vmx.parent / VmxDocument.read(vmx).get("sata0:0.fileName")


def capture(fake: FakeVMware, machine: str, folder: Path, **options: Any) -> Any:
    folder.mkdir(exist_ok=True)
    options.setdefault("progress", no_progress)
    options.setdefault("cancel", CancelToken())
    return fake.backend().capture(machine, folder, **options)


def test_vmware_is_a_capturing_backend_for_running_machines(fake: FakeVMware):
    backend = fake.backend()
    assert isinstance(backend, CapturingBackend)
    caps = backend.capabilities()
    assert caps.backup_running and not caps.backup_incremental
    player = FakeVMware(fake.folder.parent / "player", product="player").backend()
    assert not player.capabilities().backup_running  # Player has no snapshots


def test_the_stand_in_snapshots_disks_as_workstation_does(fake: FakeVMware):
    # what backup.py relies on: a snapshot moves the machine onto a new delta naming its
    # parent, the parent stays as it was; deleting it merges the delta back
    machine, disk = made(fake)
    backend = fake.backend()
    qemu_io(disk, "write -P 0x11 0 64k")
    backend.start(machine)
    parent_bytes, parent_cid = disk.read_bytes(), fakedisk.read_descriptor(disk)["CID"]
    taken = backend.take_snapshot(machine, "s1", progress=no_progress, cancel=CancelToken())
    delta = current_disk(Path(machine))
    assert delta == disk.with_name("m1-disk0-000001.vmdk")
    descriptor = fakedisk.read_descriptor(delta)
    assert (descriptor["parentFileNameHint"], descriptor["parentCID"]) == (disk.name,
                                                                           parent_cid)
    qemu_io(delta, "write -P 0x22 0 64k")  # the running guest writes: into the delta only
    assert disk.read_bytes() == parent_bytes
    backend.delete_snapshot(machine, taken.id, progress=no_progress, cancel=CancelToken())
    assert current_disk(Path(machine)) == disk and not delta.exists()
    assert holds(disk, 0x22, 0, 64 * 1024, "vmdk")
    again = backend.take_snapshot(machine, "s2", progress=no_progress, cancel=CancelToken())
    discarded = current_disk(Path(machine))
    qemu_io(discarded, "write -P 0x33 0 64k")
    backend.restore_snapshot(machine, again.id, progress=no_progress, cancel=CancelToken())
    assert holds(current_disk(Path(machine)), 0x22, 0, 64 * 1024, "vmdk")  # back to s2
    assert not discarded.exists()  # on a new child; what ran since s2 is gone


def test_running_machine_backup_holds_its_point_in_time_and_keeps_running(
        fake: FakeVMware, tmp_path: Path):
    machine, disk = made(fake)
    qemu_io(disk, "write -P 0x11 0 1M")
    fake.backend().start(machine)
    seen: dict[str, Any] = {}

    def hook(_fraction: float | None, message: str) -> None:
        # Between the snapshot and the copy: the guest writes on, into its new delta.
        if message.startswith("Copying") and "live" not in seen:
            live = current_disk(Path(machine))
            seen["live"] = live
            seen["parent"] = fakedisk.parent_of(live)
            qemu_io(live, "write -P 0x22 0 64k")

    captured = capture(fake, machine, tmp_path / "out", progress=hook)
    live = seen["live"]
    assert live.name == "m1-disk0-000001.vmdk" and seen["parent"] == disk
    [copy] = captured.disks
    assert holds(copy.path, 0x11, 0, MIB)  # the snapshot's bytes, not the later write
    assert copy.virtual_size == fakedisk.capacity(disk) * 512
    assert captured.was_running and captured.point == ""
    assert [d.path for _, d in captured.spec.all_disks()] == [str(disk)]
    assert captured.snapshots == ()  # the temporary snapshot is no part of the metadata
    # Afterwards: no snapshot, the .vmx on the original disk, the delta merged and gone.
    assert vmsd.read(Path(machine))[0] == []
    assert current_disk(Path(machine)) == disk and not live.exists()
    assert holds(disk, 0x22, 0, 64 * 1024, "vmdk")  # the guest's write is kept
    assert fake.backend().get_machine(machine).state is PowerState.RUNNING
    names = [c[2] for c in fake.calls() if len(c) > 2]
    assert names.count("snapshot") == 1 and names.count("deleteSnapshot") == 1


def test_a_paused_machine_is_backed_up_through_the_snapshot_and_stays_paused(
        fake: FakeVMware, tmp_path: Path):
    machine, disk = made(fake)
    qemu_io(disk, "write -P 0x3c 0 64k")
    backend = fake.backend()
    backend.start(machine)
    backend.pause(machine)  # remembered by this backend: vmrun cannot report a pause
    assert backend.get_machine(machine).state is PowerState.PAUSED
    before = len(fake.calls())
    captured = capture_with(backend, machine, tmp_path / "out")
    assert holds(captured.disks[0].path, 0x3c, 0, 64 * 1024) and captured.was_running
    names = [c[2] for c in fake.calls()[before:] if len(c) > 2]
    assert names.count("snapshot") == 1 and names.count("deleteSnapshot") == 1
    assert vmsd.read(Path(machine))[0] == [] and current_disk(Path(machine)) == disk
    assert backend.get_machine(machine).state is PowerState.PAUSED


def test_each_disk_comes_from_its_own_place_in_the_spec(fake: FakeVMware, tmp_path: Path):
    backend = fake.backend()
    spec = defaults_for("other-linux", backend.capabilities(), name="two")
    scsi = StorageController(name="SCSI", kind=ControllerKind.SCSI, disks=(
        Disk(format=DiskFormat.VMDK, size_bytes=8 * MIB, port=3),))
    machine = backend.create(spec.model_copy(update={"storage": (*spec.storage, scsi)}),
                             progress=no_progress, cancel=CancelToken())
    made_spec = backend.get_machine(machine).spec
    for number, (_index, disk) in enumerate(made_spec.all_disks()):
        qemu_io(Path(disk.path), f"write -P {0x70 + number:#x} 0 64k")
    backend.start(machine)
    captured = capture(fake, machine, tmp_path / "out")
    assert [(d.controller, d.port, d.device) for d in captured.disks] == [
        (index, disk.port, disk.device) for index, disk in made_spec.all_disks()]
    for number, (copy, (_index, disk)) in enumerate(zip(captured.disks,
                                                        made_spec.all_disks(), strict=True)):
        assert holds(copy.path, 0x70 + number, 0, 64 * 1024)
        assert copy.virtual_size == fakedisk.capacity(Path(disk.path)) * 512


def test_cancel_midway_leaves_no_snapshot_and_an_empty_folder(fake: FakeVMware,
                                                              tmp_path: Path):
    machine, disk = made(fake)
    qemu_io(disk, "write -P 0x11 0 1M")
    fake.backend().start(machine)
    token = CancelToken()

    def hook(fraction: float | None, message: str) -> None:
        if message.startswith("Copying") and fraction and fraction > 0.1:
            token.cancel()  # qemu-img is copying now

    with pytest.raises(OperationCancelled):
        capture(fake, machine, tmp_path / "out", progress=hook, cancel=token)
    assert list((tmp_path / "out").iterdir()) == []
    assert vmsd.read(Path(machine))[0] == []
    assert current_disk(Path(machine)) == disk
    assert sorted(p.name for p in disk.parent.glob("*.vmdk")) == [disk.name]
    assert fake.backend().get_machine(machine).state is PowerState.RUNNING


def test_a_snapshot_that_cannot_be_deleted_fails_the_backup_in_words(fake: FakeVMware,
                                                                     tmp_path: Path):
    machine, _disk = made(fake)
    fake.backend().start(machine)
    fake.set(fail={"deleteSnapshot": "Insufficient permissions in the host operating system"})
    with pytest.raises(CommandFailed, match=r"could not delete the temporary snapshot "
                                            r"'DesktopVM backup .*after copying its disks"):
        capture(fake, machine, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # the backup was not kept
    [left] = vmsd.read(Path(machine))[0]  # the error says it may still be listed: it is
    assert left.name.startswith("DesktopVM backup ")
    fake.set(fail={})
    fake.backend().delete_snapshot(machine, left.uid, progress=no_progress, cancel=CancelToken())


def test_an_off_machine_with_a_snapshot_chain_is_captured_flattened(fake: FakeVMware,
                                                                    tmp_path: Path):
    machine, disk = made(fake)
    backend = fake.backend()
    qemu_io(disk, "write -P 0x11 0 1M")
    backend.take_snapshot(machine, "one", progress=no_progress, cancel=CancelToken())
    qemu_io(current_disk(Path(machine)), "write -P 0x22 1M 1M")
    backend.take_snapshot(machine, "two", progress=no_progress, cancel=CancelToken())
    top = current_disk(Path(machine))
    qemu_io(top, "write -P 0x33 2M 64k")
    assert [p.name for p in fakedisk.chain(top)] == [
        "m1-disk0-000002.vmdk", "m1-disk0-000001.vmdk", "m1-disk0.vmdk"]
    before = len(fake.calls())
    captured = capture(fake, machine, tmp_path / "out")
    assert not [c for c in fake.calls()[before:] if "snapshot" in c or "deleteSnapshot" in c]
    [copy] = captured.disks
    assert holds(copy.path, 0x11, 0, MIB) and holds(copy.path, 0x22, MIB, MIB)
    assert holds(copy.path, 0x33, 2 * MIB, 64 * 1024)
    info = subprocess.run(["qemu-img", "info", "--output=json", str(copy.path)],
                          capture_output=True, text=True, check=True).stdout
    assert "backing" not in info  # one standalone file
    assert subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", str(top),
                           str(copy.path)], check=False, capture_output=True).returncode == 0
    assert [s.name for root in captured.snapshots for s in root.walk()] == ["one", "two"]
    assert not captured.was_running


def test_a_suspended_machine_is_copied_without_a_snapshot_and_called_crash_consistent(
        fake: FakeVMware, tmp_path: Path):
    machine, disk = made(fake)
    backend = fake.backend()
    qemu_io(disk, "write -P 0x5a 0 64k")
    backend.start(machine)
    backend.save_state(machine, progress=no_progress, cancel=CancelToken())
    before = len(fake.calls())
    captured = capture(fake, machine, tmp_path / "out")
    assert captured.was_running  # what it had not written is in its saved memory
    assert holds(captured.disks[0].path, 0x5a, 0, 64 * 1024)
    assert not [c for c in fake.calls()[before:] if "snapshot" in c]
    assert backend.get_machine(machine).state is PowerState.SAVED


def test_player_backs_up_running_machines_never(tmp_path: Path):
    player = FakeVMware(tmp_path / "player", product="player")
    try:
        machine, _disk = made(player)
        player.backend().start(machine)
        with pytest.raises(UnsupportedOperation, match="Player has no snapshots"):
            capture(player, machine, tmp_path / "out")
    finally:
        player.close()


def test_a_split_delta_qemu_img_made_is_read_through_its_parent_hint(fake: FakeVMware,
                                                                      tmp_path: Path):
    # twoGbMaxExtentSparse: a text descriptor naming its extents and parentFileNameHint,
    # written by the real qemu-img over the stand-in's disk (QEMU's vmdk_create writes both)
    machine, disk = made(fake)
    qemu_io(disk, "write -P 0x44 0 64k")
    split = disk.with_name("m1-disk0-000001.vmdk")
    subprocess.run(["qemu-img", "create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse",
                    "-b", disk.name, "-F", "vmdk", str(split)], check=True, capture_output=True)
    assert b"parentFileNameHint" in split.read_bytes()
    qemu_io(split, "write -P 0x55 1M 64k")
    vmx.update(Path(machine), {"sata0:0.fileName": split.name})  # off: ours to edit
    [copy] = capture(fake, machine, tmp_path / "out").disks
    assert holds(copy.path, 0x44, 0, 64 * 1024) and holds(copy.path, 0x55, MIB, 64 * 1024)


@pytest.mark.parametrize("damage", ["parent modified", "parent missing", "unreadable type"])
def test_a_chain_qemu_img_would_read_wrong_is_refused_in_words(fake: FakeVMware,
                                                                tmp_path: Path, damage: str):
    machine, disk = made(fake)
    fake.backend().take_snapshot(machine, "one", progress=no_progress, cancel=CancelToken())
    expected: tuple[type[Exception], str]
    if damage == "parent modified":
        fakedisk.write_descriptor(disk, CID="0badc0de")
        expected = CommandFailed, "was modified after m1-disk0-000001.vmdk was made from it"
    elif damage == "parent missing":
        disk.unlink()
        expected = CommandFailed, f"The disk {disk} is missing"
    else:
        fakedisk.write_descriptor(disk, createType="custom")
        expected = UnsupportedOperation, "of type custom, which qemu-img cannot read"
    with pytest.raises(expected[0], match=expected[1]):
        capture(fake, machine, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_running_backup_refuses_independent_disks(fake: FakeVMware, tmp_path: Path):
    machine, _disk = made(fake)
    vmx.update(Path(machine), {"sata0:0.mode": "independent-persistent"})
    fake.backend().start(machine)
    with pytest.raises(UnsupportedOperation, match="snapshots do not freeze"):
        capture(fake, machine, tmp_path / "out")
    assert not [c for c in fake.calls() if "snapshot" in c]


@pytest.mark.qemu
def test_end_to_end_running_vmware_backup_verified_and_restored_into_qemu(
        fake: FakeVMware, qemu: Any, tmp_path: Path):  # noqa: F811 - the fixture
    machine, disk = made(fake, "web")
    qemu_io(disk, "write -P 0x66 0 1M")
    qemu_io(disk, "write -P 0x77 5M 64k")
    backend = fake.backend()
    backend.start(machine)
    made_set = back_up(backend, machine, tmp_path / "backups", progress=no_progress,
                       cancel=CancelToken())
    assert made_set.kind == "full" and made_set.was_running
    assert verify(made_set.path, progress=no_progress, cancel=CancelToken()).id == made_set.id
    backend.power_off(machine)
    new_id = restore(made_set.path, qemu, name="web-restored", progress=no_progress,
                     cancel=CancelToken())
    restored_disk = Path(qemu.get_machine(new_id).spec.all_disks()[0][1].path)
    compared = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", str(disk),
                               str(restored_disk)], check=False, capture_output=True,
                              text=True)
    assert compared.returncode == 0, compared.stdout + compared.stderr


# -- on a real Workstation (opt-in: --live-vmware -m live_vmware; not run where this was built) --
@pytest.mark.live_vmware
@pytest.mark.slow
def test_live_running_backup_on_real_workstation(harness: Any,  # noqa: F811
                                                   tmp_path: Path):
    """What only a real Workstation can prove: `vmrun snapshot` moves the running machine
    onto a delta naming the disk it ran on, the copy of that disk reads as the disk does once
    the machine is off (the test guest boots from its ISO and never writes its disk), and
    `vmrun deleteSnapshot` leaves no snapshot and the .vmx on the original disk."""
    from tests.conformance.test_conformance import power_off, start_running

    backend = harness.backend
    machine = start_running(harness, "backup")
    disk = Path(backend.get_machine(machine).spec.all_disks()[0][1].path)
    seen: dict[str, Path | None] = {}

    def hook(_fraction: float | None, message: str) -> None:
        if message.startswith("Copying") and "live" not in seen:
            live = seen["live"] = current_disk(Path(machine))
            layer = read_layer(live)  # a sparse file's or a split disk's descriptor
            seen["parent"] = parent_path(layer, windows=False) if layer.parent_hint else None

    captured = capture_with(backend, machine, tmp_path / "out", progress=hook)
    assert seen["live"] != disk and seen["parent"] == disk
    assert vmsd.read(Path(machine))[0] == [] and current_disk(Path(machine)) == disk
    assert backend.get_machine(machine).state is PowerState.RUNNING
    power_off(harness, machine)
    compared = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", str(disk),
                               str(captured.disks[0].path)], check=False, capture_output=True,
                              text=True)
    assert compared.returncode == 0, compared.stdout + compared.stderr


def capture_with(backend: Any, machine: str, folder: Path, **options: Any) -> Any:
    folder.mkdir(exist_ok=True)
    return backend.capture(machine, folder, progress=options.get("progress", no_progress),
                           cancel=CancelToken())



# -- guards, each seen failing with the guard disabled --------------------------------------

def test_an_off_machines_disk_written_while_it_is_copied_fails_the_copy(fake: FakeVMware,
                                                                       tmp_path: Path):
    machine, disk = made(fake)
    qemu_io(disk, "write -P 0x11 0 64k")

    written: list[bool] = []

    def hook(_fraction: float | None, message: str) -> None:
        if message.startswith("Copying") and not written:  # the chain was read just now,
            written.append(True)  # before qemu-img opens it: someone writes the disk
            qemu_io(disk, "write -P 0x22 0 64k")  # QEMU gives the disk a new CID (VMDK 1.1)

    with pytest.raises(CommandFailed, match=r"m1-disk0\.vmdk changed while it was copied"):
        capture(fake, machine, tmp_path / "out", progress=hook)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_temporary_name_the_machine_has_already_is_refused(fake: FakeVMware, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    from backends.vmware import backup

    machine, _disk = made(fake)
    backend = fake.backend()
    backend.take_snapshot(machine, "mine (same second)", progress=no_progress,
                          cancel=CancelToken())
    backend.start(machine)
    monkeypatch.setattr(backup, "temporary_name", lambda: "mine")
    monkeypatch.setattr(backup, "NAME_NOTE", "(same second)")
    with pytest.raises(InvalidSpec, match="already has a snapshot named 'mine \\(same second"):
        capture(fake, machine, tmp_path / "out")
    assert [e.name for e in vmsd.read(Path(machine))[0]] == ["mine (same second)"]
    assert not [c for c in fake.calls() if len(c) > 2 and c[2] == "snapshot"][1:]


def test_a_snapshot_that_left_the_vmx_on_its_disks_is_not_copied_as_frozen(
        fake: FakeVMware, tmp_path: Path):
    machine, disk = made(fake)
    fake.backend().start(machine)
    fake.set(snapshot_keeps_disks=True)  # the stand-in's fault: no delta, the .vmx unchanged
    with pytest.raises(CommandFailed, match=r"disks of m1 changed while the backup started "
                                            r"\(sata0 port 0\)"):
        capture(fake, machine, tmp_path / "out")
    fake.set(snapshot_keeps_disks=False)
    assert list((tmp_path / "out").iterdir()) == []
    assert vmsd.read(Path(machine))[0] == [] and current_disk(Path(machine)) == disk


def test_a_temporary_snapshot_left_behind_is_named_and_kept(fake: FakeVMware, tmp_path: Path):
    machine, _disk = made(fake)
    backend = fake.backend()
    backend.start(machine)
    left = "DesktopVM backup 2026-01-02 03:04:05 UTC (temporary; delete it if the backup " \
        "was interrupted)"
    backend.take_snapshot(machine, left, progress=no_progress, cancel=CancelToken())
    before = len(fake.calls())
    with pytest.raises(InvalidState, match=r"left by an interrupted backup \(or another backup "
                                           r"of it is running now\); delete it in Snapshots"):
        capture(fake, machine, tmp_path / "out")
    assert [e.name for e in vmsd.read(Path(machine))[0]] == [left]  # never deleted here
    assert not [c for c in fake.calls()[before:] if "snapshot" in c or "deleteSnapshot" in c]


def test_a_cancel_while_workstation_takes_the_snapshot_still_deletes_it(fake: FakeVMware,
                                                                        tmp_path: Path):
    """Killing vmrun does not stop Workstation (the stand-in's `detach` knob: the snapshot is
    made by another process, later): the capture lets vmrun finish, then sees the cancel and
    deletes the snapshot, its delta and its memory file."""
    machine, disk = made(fake)
    fake.backend().start(machine)
    fake.set(detach={"snapshot": 1.0})
    token = CancelToken()

    def cancel_once_vmrun_runs() -> None:
        for _ in range(600):
            if any(len(c) > 2 and c[2] == "snapshot" for c in fake.calls()):
                break  # vmrun snapshot has started; the snapshot is made a second later
            time.sleep(0.01)
        token.cancel()

    def hook(_fraction: float | None, message: str) -> None:
        if message == "Taking a temporary snapshot":
            threading.Thread(target=cancel_once_vmrun_runs, daemon=True).start()

    with pytest.raises(OperationCancelled):
        capture(fake, machine, tmp_path / "out", progress=hook, cancel=token)
    done = fake.folder / "detached-done"
    for _ in range(600):  # until the stand-in's Workstation has ended too (it may be later)
        if done.exists():
            break
        time.sleep(0.05)
    assert done.exists()
    fake.set(detach={})
    assert token.cancelled
    assert vmsd.read(Path(machine))[0] == [] and current_disk(Path(machine)) == disk
    assert sorted(p.name for p in disk.parent.glob("*.vmdk")) == [disk.name]
    assert not list(disk.parent.glob("*.vmem")) and not list(disk.parent.glob("*.vmsn"))
    assert list((tmp_path / "out").iterdir()) == []


def test_on_windows_a_disk_vmware_holds_open_is_named_in_words(
        fake: FakeVMware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """qemu-img for Windows opens files sharing reads only (block/file-win32.c), so a parent
    vmware-vmx holds open fails with Windows' sharing-violation text: faked here as that line."""
    from backends.vmware import backup, qemu_img

    _machine, disk = made(fake)
    held = "C:\\VMs\\m1\\m1-disk0.vmdk"
    line = (f"qemu-img: Could not open '{held}': The process cannot access the file because "
            "it is being used by another process.")
    monkeypatch.setattr(qemu_img, "spawn", lambda *_a, **_k: (1, b"", line.encode()))
    source = backup.Source(0, 0, 0, "sata0:0", disk, "sata0 port 0")
    folder = tmp_path / "out"
    folder.mkdir()
    with Undo() as undo, pytest.raises(CommandFailed) as raised:
        backup.copy_disk(source, folder, undo, compress=True, windows=True,
                         progress=no_progress, cancel=CancelToken(), low=0.0, share=1.0)
    assert raised.value.summary == (f"VMware keeps {held} open while the machine runs on "
                                    "Windows; shut it down to back it up")
    with Undo() as undo, pytest.raises(CommandFailed, match="qemu-img could not convert"):
        backup.copy_disk(source, folder, undo, compress=True, windows=False,
                         progress=no_progress, cancel=CancelToken(), low=0.0, share=1.0)
