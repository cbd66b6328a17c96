"""A UEFI machine's variable store and swtpm TPM state through backup and restore (real QEMU,
TCG, real OVMF and swtpm): captured running and off, restored as a new machine and over the
original, which then start with them; old sets without them still restore."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from backends.qemu import process
from backends.qemu.backend import QemuBackend
from desktopvm.backup import BackupDamaged, BackupSet, back_up, restore, restore_over, verify
from desktopvm.backup.setfile import file_digest, format_sums, read_sums
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    StorageController,
)
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    PowerState,
    Progress,
    no_progress,
)
from desktopvm.protocol.backup import FirmwareState
from tests.backends.qemu.backup_kit import MIB, tool

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
PERMALL = "tpm2-00.permall"
WAIT = 180.0  # an upper bound for TCG on a busy host, not a measured time


def uefi_tpm_machine(qemu: QemuBackend, name: str) -> str:
    if qemu.uefi is None:
        pytest.skip("OVMF is not installed")
    if process.find_swtpm() is None:
        pytest.skip("swtpm is not installed")
    spec = MachineSpec(name=name, os="other-linux", memory=MemorySpec(size_mib=128),
                       firmware=FirmwareSpec(kind=Firmware.UEFI, tpm=True),
                       storage=(StorageController(name="VirtIO", kind=ControllerKind.VIRTIO,
                                                  disks=(Disk(format=DiskFormat.QCOW2,
                                                              size_bytes=16 * MIB),)),))
    return qemu.create(spec, progress=no_progress, cancel=CancelToken())


def raw_store(qemu: QemuBackend, machine_id: str, tmp: Path) -> bytes:
    """The machine's variable store as the guest sees it (-U: QEMU may be running)."""
    out = tmp / "store.raw"
    out.unlink(missing_ok=True)
    tool("qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw",
         str(qemu.store.files(machine_id).nvram), str(out))
    return out.read_bytes()


def tpm_file(qemu: QemuBackend, machine_id: str) -> Path:
    return qemu.store.files(machine_id).tpm_state / PERMALL


def wait_until(what: str, done) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, f"waited in vain for {what}"
        time.sleep(0.5)


def lines(into: list[str]) -> Progress:
    return lambda fraction, stage: into.append(stage) if fraction is None else None


def set_file(backup: BackupSet, name: str) -> bytes:
    return (backup.path / "firmware" / name).read_bytes()


def test_uefi_variables_and_tpm_state_come_back_as_backed_up(qemu: QemuBackend, tmp_path):
    machine = uefi_tpm_machine(qemu, "fw")
    template = raw_store(qemu, machine, tmp_path)  # a new machine's store: OVMF's template
    qemu.start(machine)
    # Something real in both: swtpm makes its TPM's seeds at the first start, and OVMF
    # writes its boot options and other variables into the store as it boots.
    wait_until("swtpm's state", tpm_file(qemu, machine).exists)
    wait_until("OVMF's variables", lambda: raw_store(qemu, machine, tmp_path) != template)
    said: list[str] = []
    running = back_up(qemu, machine, tmp_path / "sets", progress=lines(said),
                      cancel=CancelToken())
    assert running.was_running
    assert [f.kind for f in running.firmware] == ["nvram", "tpm"]
    # The store came through the disks' QMP transaction: the flash image, as large as OVMF's.
    assert len(set_file(running, "nvram.fd")) == len(template)
    assert set_file(running, "nvram.fd") != template
    assert any("TPM state was copied while the machine ran" in s for s in said)
    qemu.power_off(machine)
    # Compared once swtpm has stopped and nothing changes the file any more; OVMF, idle at
    # its shell since the backup, made no TPM change after the backup read it.
    assert set_file(running, f"tpm/{PERMALL}") == tpm_file(qemu, machine).read_bytes()

    off = back_up(qemu, machine, tmp_path / "sets", progress=no_progress, cancel=CancelToken())
    assert off.kind == "incremental" and not off.was_running  # the disks only changed
    backed_store = raw_store(qemu, machine, tmp_path)
    backed_tpm = tpm_file(qemu, machine).read_bytes()
    assert set_file(off, "nvram.fd") == backed_store
    assert set_file(off, f"tpm/{PERMALL}") == backed_tpm

    # Afterwards both change: a byte pattern over the variables, another TPM state file.
    tool("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 65536 4096",
         str(qemu.store.files(machine).nvram))
    tpm_file(qemu, machine).write_bytes(b"not the backed-up TPM")
    assert raw_store(qemu, machine, tmp_path) != backed_store

    # As a new machine: the same store and TPM state, the TPM's folder private.
    said.clear()
    new = restore(off.path, qemu, name="restored", progress=lines(said), cancel=CancelToken())
    assert not [s for s in said if "stay" in s]
    assert raw_store(qemu, new, tmp_path) == backed_store
    assert tpm_file(qemu, new).read_bytes() == backed_tpm
    folder = qemu.store.files(new).tpm_state
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct(tpm_file(qemu, new).stat().st_mode & 0o777) == "0o600"
    # QEMU takes the store as its flash and swtpm its state: the machine starts with them.
    qemu.start(new)
    assert qemu.get_machine(new).state is PowerState.RUNNING
    qemu.power_off(new)

    # Over the original: its own changed store and TPM state replaced by the set's.
    restore_over(off.path, qemu, machine, progress=no_progress, cancel=CancelToken())
    assert raw_store(qemu, machine, tmp_path) == backed_store
    assert tpm_file(qemu, machine).read_bytes() == backed_tpm
    assert not list(qemu.store.files(machine).folder.glob(".*restoring*"))
    assert not list(qemu.store.files(machine).folder.glob(".*before-restore*"))

    # Onto a machine without a TPM: the store goes in, the TPM state stays behind, said so.
    said.clear()
    spec = off.spec.model_copy(update={"firmware": FirmwareSpec(kind=Firmware.UEFI)})
    plain = restore(off.path, qemu, name="no-tpm", spec=spec, progress=lines(said),
                    cancel=CancelToken())
    assert raw_store(qemu, plain, tmp_path) == backed_store
    assert not qemu.store.files(plain).tpm_state.exists()
    assert any("TPM state stays behind: no-tpm has no TPM" in s for s in said)


def as_schema_2(backup: BackupSet) -> None:
    """The set as DesktopVM wrote it before sets held firmware state."""
    shutil.rmtree(backup.path / "firmware")
    record = json.loads((backup.path / "backup.json").read_text())
    record["schema"] = 2
    del record["firmware"]
    (backup.path / "backup.json").write_text(json.dumps(record))
    sums = {n: d for n, d in read_sums(backup.path).items() if not n.startswith("firmware/")}
    sums["backup.json"] = file_digest(backup.path / "backup.json")
    (backup.path / "SHA256SUMS").write_text(format_sums(sums))


def test_a_set_without_firmware_state_still_restores(qemu: QemuBackend, tmp_path):
    machine = uefi_tpm_machine(qemu, "old")  # never started: no TPM state yet
    template = raw_store(qemu, machine, tmp_path)
    old = back_up(qemu, machine, tmp_path / "sets", progress=no_progress, cancel=CancelToken())
    assert [f.kind for f in old.firmware] == ["nvram"]
    as_schema_2(old)
    assert verify(old.path, progress=no_progress, cancel=CancelToken()).firmware == ()

    new = restore(old.path, qemu, name="from-old", progress=no_progress, cancel=CancelToken())
    assert raw_store(qemu, new, tmp_path) == template  # the firmware's own, fresh

    tool("qemu-io", "-f", "qcow2", "-c", "write -P 0x77 0 512",
         str(qemu.store.files(machine).nvram))
    changed = raw_store(qemu, machine, tmp_path)
    said: list[str] = []
    restore_over(old.path, qemu, machine, progress=lines(said), cancel=CancelToken())
    assert raw_store(qemu, machine, tmp_path) == changed  # nothing to put back: its own stay
    assert any("keeps its current ones" in s for s in said)
    done = subprocess.run(["qemu-img", "check", str(qemu.store.files(machine).nvram)],
                          capture_output=True, check=False)
    assert done.returncode == 0


def test_copy_to_another_qemu_library_takes_the_state_along(qemu: QemuBackend, tmp_path):
    """What the Copy to report promises by showing no line for them: the copy on another
    QEMU has the original's UEFI variables and TPM state."""
    from desktopvm.settings import Settings
    from desktopvm.transfer import copy_to, plan_copy

    machine = uefi_tpm_machine(qemu, "src")
    qemu.start(machine)
    wait_until("swtpm's state", tpm_file(qemu, machine).exists)
    qemu.power_off(machine)
    tool("qemu-io", "-f", "qcow2", "-c", "write -P 0x3c 8192 512",
         str(qemu.store.files(machine).nvram))
    other = QemuBackend(Settings(library_dir=str(tmp_path / "other"), qemu_accel="tcg"))
    report = plan_copy(qemu, machine, other)
    assert not [c for c in report.changes if "UEFI variables" in c.what or "TPM" in c.what]
    said: list[str] = []
    copy = copy_to(qemu, machine, other, name="copy", progress=lines(said),
                   cancel=CancelToken(), scratch=tmp_path / "scratch")
    try:
        assert raw_store(other, copy, tmp_path) == raw_store(qemu, machine, tmp_path)
        assert tpm_file(other, copy).read_bytes() == tpm_file(qemu, machine).read_bytes()
        assert not [s for s in said if "stay" in s]
    finally:
        other.delete(copy, delete_disks=True, progress=no_progress, cancel=CancelToken())


def with_tpm_state(qemu: QemuBackend, machine_id: str, data: bytes) -> None:
    """A state file in the machine's TPM folder, as swtpm would have left it (a restore does
    not look inside; a start would)."""
    folder = qemu.store.files(machine_id).tpm_state
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / PERMALL).write_bytes(data)


def leftovers(qemu: QemuBackend, machine_id: str) -> list[str]:
    folder = qemu.store.files(machine_id).folder
    return sorted(p.name for p in folder.glob(".*") if "restor" in p.name)


def test_a_failed_tpm_swap_over_the_original_leaves_it_its_own_state(
        qemu: QemuBackend, tmp_path, monkeypatch):
    machine = uefi_tpm_machine(qemu, "keep")
    with_tpm_state(qemu, machine, b"the backed-up TPM")
    made = back_up(qemu, machine, tmp_path / "sets", progress=no_progress,
                   cancel=CancelToken())
    assert [f.kind for f in made.firmware] == ["nvram", "tpm"]
    files = qemu.store.files(machine)
    tool("qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 0 4096", str(files.nvram))
    with_tpm_state(qemu, machine, b"the machine's own TPM")
    store, tpm = files.nvram.read_bytes(), tpm_file(qemu, machine).read_bytes()

    rename = Path.rename

    def failing_rename(self: Path, target: Any) -> Path:
        if ".tpm.restoring-" in self.name:  # the set's TPM folder into place: the last step
            raise OSError(errno.EIO, "the TPM folder could not be renamed")
        return rename(self, target)
    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="could not be renamed"):
        restore_over(made.path, qemu, machine, progress=no_progress, cancel=CancelToken())
    assert files.nvram.read_bytes() == store
    assert tpm_file(qemu, machine).read_bytes() == tpm
    assert leftovers(qemu, machine) == []


def test_firmware_files_swapped_after_verify_are_refused(qemu: QemuBackend, tmp_path):
    machine = uefi_tpm_machine(qemu, "swapped")
    made = back_up(qemu, machine, tmp_path / "sets", progress=no_progress,
                   cancel=CancelToken())
    files = qemu.store.files(machine)
    tool("qemu-io", "-f", "qcow2", "-c", "write -P 0x21 0 4096", str(files.nvram))
    store = files.nvram.read_bytes()
    forged = made.path / "firmware/nvram.fd"
    swapped: list[float] = []

    def swap_during_the_disks(fraction: float | None, _stage: str) -> None:
        # Past verify (0 to 0.15), while the disks are reassembled: someone's own store.
        if fraction is not None and fraction > 0.15 and not swapped:
            forged.write_bytes(bytes(len(forged.read_bytes())))
            swapped.append(fraction)
    with pytest.raises(BackupDamaged) as refused:
        restore_over(made.path, qemu, machine, progress=swap_during_the_disks,
                     cancel=CancelToken())
    assert swapped
    message = str(refused.value)
    assert "firmware/nvram.fd: changed since the backup was verified" in message
    assert "\n" not in message
    assert files.nvram.read_bytes() == store
    assert leftovers(qemu, machine) == []


KILL_POINTS = ["journal written", "store aside", "store in", "tpm aside", "both in",
               "committed", "store aside removed", "done"]
ROLLED_FORWARD = ("committed", "store aside removed", "done")


def killed_at(files: Any, point: str, tag: str = "0000") -> None:
    """The machine's folder as a kill at `point` of firmware_state._put_in leaves it."""
    steps = KILL_POINTS[:KILL_POINTS.index(point) + 1]
    staged_store = files.folder / f".nvram.qcow2.restoring-{tag}"
    staged_tpm = files.folder / f".tpm.restoring-{tag}"
    staged_store.write_bytes(b"the set's store")
    staged_tpm.mkdir(mode=0o700)
    (staged_tpm / PERMALL).write_bytes(b"the set's TPM")
    (files.folder / f".firmware-restore-{tag}").write_text(
        json.dumps({"nvram.qcow2": True, "tpm": True}))
    if "store aside" in steps:
        files.nvram.rename(files.folder / f".nvram.qcow2.before-restore-{tag}")
    if "store in" in steps:
        staged_store.rename(files.nvram)
    if "tpm aside" in steps:
        files.tpm_state.rename(files.folder / f".tpm.before-restore-{tag}")
    if "both in" in steps:
        staged_tpm.rename(files.tpm_state)
    journal = files.folder / f".firmware-restore-{tag}"
    if "committed" in steps:
        journal = journal.rename(journal.with_name(journal.name + ".done"))
    if "store aside removed" in steps:
        (files.folder / f".nvram.qcow2.before-restore-{tag}").unlink()
    if "done" in steps:
        shutil.rmtree(files.folder / f".tpm.before-restore-{tag}")
        journal.unlink()


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_restore_killed_at_any_step_leaves_both_old_or_both_new(qemu: QemuBackend,
                                                                 point: str):
    machine = uefi_tpm_machine(qemu, "killed")
    files = qemu.store.files(machine)
    with_tpm_state(qemu, machine, b"the machine's own TPM")
    store = files.nvram.read_bytes()
    killed_at(files, point)
    # The next put recovers first (as a start, a backup, a clone and a new store do).
    assert qemu.put_firmware_state(machine, FirmwareState(), cancel=CancelToken()) == ()
    if point in ROLLED_FORWARD:
        assert files.nvram.read_bytes() == b"the set's store"
        assert tpm_file(qemu, machine).read_bytes() == b"the set's TPM"
    else:
        assert files.nvram.read_bytes() == store
        assert tpm_file(qemu, machine).read_bytes() == b"the machine's own TPM"
    assert leftovers(qemu, machine) == []


def test_a_settings_change_after_a_killed_restore_gets_the_machines_own_store_back(
        qemu: QemuBackend):
    machine = uefi_tpm_machine(qemu, "edited")
    files = qemu.store.files(machine)
    store = files.nvram.read_bytes()
    killed_at(files, "store aside")  # no store in place: an edit would have made a fresh one
    info = qemu.get_machine(machine)
    more = info.spec.model_copy(update={"memory": MemorySpec(size_mib=384)})
    qemu.update(machine, info.spec, more, progress=no_progress, cancel=CancelToken())
    assert files.nvram.read_bytes() == store
    assert leftovers(qemu, machine) == []


def test_a_deleted_machine_takes_what_a_killed_restore_left(qemu: QemuBackend):
    machine = uefi_tpm_machine(qemu, "gone")
    files = qemu.store.files(machine)
    with_tpm_state(qemu, machine, b"the machine's own TPM")
    killed_at(files, "tpm aside")
    qemu.delete(machine, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not files.folder.exists()  # the TPM secrets went with it


def test_a_backup_takes_the_state_a_killed_restore_left_aside(qemu: QemuBackend, tmp_path):
    machine = uefi_tpm_machine(qemu, "backed")
    files = qemu.store.files(machine)
    with_tpm_state(qemu, machine, b"the machine's own TPM")
    killed_at(files, "tpm aside")
    made = back_up(qemu, machine, tmp_path / "sets", progress=no_progress,
                   cancel=CancelToken())
    assert set_file(made, f"tpm/{PERMALL}") == b"the machine's own TPM"
    assert leftovers(qemu, machine) == []


def test_a_store_of_another_size_stays_behind_and_the_machine_keeps_its_own(
        qemu: QemuBackend, tmp_path):
    machine = uefi_tpm_machine(qemu, "sized")
    files = qemu.store.files(machine)
    store = files.nvram.read_bytes()
    other = tmp_path / "nvram.fd"
    other.write_bytes(bytes(64 * 1024))  # no OVMF build here has 64 KiB stores
    [line] = qemu.put_firmware_state(machine, FirmwareState(nvram=other), cancel=CancelToken())
    assert line.startswith("The UEFI variables stay behind: the backup's store is 65536 bytes")
    assert line.endswith("sized keeps the variables it has")
    assert files.nvram.read_bytes() == store


def test_a_start_puts_the_tpm_a_killed_restore_left_aside_back_first(qemu: QemuBackend):
    machine = uefi_tpm_machine(qemu, "aside")
    files = qemu.store.files(machine)
    files.tpm_state.mkdir(mode=0o700)  # a TPM that has not run yet: swtpm makes its state
    (files.tpm_state / "mark").write_text("the machine's own TPM folder")
    killed_at(files, "tpm aside")
    stale = files.folder / ".tpm.before-restore-9999"  # a finished restore's, not removed
    stale.mkdir(mode=0o700)
    qemu.start(machine)
    try:
        assert (files.tpm_state / "mark").read_text() == "the machine's own TPM folder"
        assert leftovers(qemu, machine) == []  # the stale copy went too
        wait_until("swtpm's state", tpm_file(qemu, machine).exists)  # swtpm ran in it
    finally:
        qemu.power_off(machine)


def test_a_fifo_in_place_of_a_tpm_state_file_is_refused_not_waited_on(qemu: QemuBackend,
                                                                       tmp_path):
    machine = uefi_tpm_machine(qemu, "fifo")
    folder = qemu.store.files(machine).tpm_state
    folder.mkdir(mode=0o700)
    os.mkfifo(folder / PERMALL)  # no writer ever opens it: a blocking open never returns
    with pytest.raises(BackendError, match=f"{PERMALL} is not a plain file"):
        back_up(qemu, machine, tmp_path / "sets", progress=no_progress, cancel=CancelToken())
