"""Sets crafted by someone else: they choose no file on this computer, and hang nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from desktopvm.backup import (
    BackupDamaged,
    Retention,
    back_up,
    list_backups,
    prune,
    restore,
    restore_over,
    verify,
)
from desktopvm.backup.setfile import file_digest, format_sums, read_sums
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    MachineSpec,
    MemorySpec,
    OpticalDrive,
    SerialMode,
    StorageController,
)
from desktopvm.protocol import CancelToken, PowerState, no_progress
from tests.backup.conftest import backup
from tests.backup.doubles import MIB

WHY = "a backup cannot choose files on this computer"


def forge_spec(set_path: Path, victim: Path, secret: Path) -> None:
    """spec.json names host files (serial output, an ISO); SHA256SUMS made to agree."""
    data = json.loads((set_path / "spec.json").read_text())
    data["serial"] = [{"number": 1, "mode": "file", "path": str(victim)}]
    data["storage"][0]["optical"][0]["iso"] = str(secret)
    (set_path / "spec.json").write_text(json.dumps(data))
    sums = read_sums(set_path)
    sums["spec.json"] = file_digest(set_path / "spec.json")
    (set_path / "SHA256SUMS").write_text(format_sums(sums))


@pytest.fixture
def hostile(qemu: Any, tmp_path: Path) -> tuple[str, Path, Path, Path]:
    """A QEMU machine, its set forged to write into `victim` and show the guest `secret`."""
    spec = MachineSpec(name="h", os="other-linux", memory=MemorySpec(size_mib=64),
                       storage=(StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
                           Disk(format=DiskFormat.QCOW2, size_bytes=MIB),),
                           optical=(OpticalDrive(port=1),)),))
    machine_id = str(qemu.create(spec, progress=no_progress, cancel=CancelToken()))
    made = back_up(qemu, machine_id, tmp_path / "backups", progress=no_progress,
                   cancel=CancelToken())
    victim, secret = tmp_path / "bashrc", tmp_path / "id_rsa"
    victim.write_text("echo hi\n")
    secret.write_text("PRIVATE KEY\n")
    forge_spec(made.path, victim, secret)
    return machine_id, made.path, victim, secret


def _no_host_files(qemu: Any, machine_id: str, victim: Path, secret: Path,
                   lines: list[str]) -> None:
    spec = qemu.get_machine(machine_id).spec
    assert [(p.mode, p.path) for p in spec.serial] == [(SerialMode.SOCKET, "")]
    assert [d.iso for _, d in spec.all_optical()] == [""]
    assert any(f"COM1 wrote to {victim}" in line and WHY in line for line in lines), lines
    qemu.start(machine_id)  # QEMU opens (and truncates) a serial file when it starts
    try:
        assert victim.read_text() == "echo hi\n"
    finally:
        qemu.power_off(machine_id)
    assert qemu.get_machine(machine_id).summary.state in (PowerState.OFF, PowerState.ABORTED)
    assert secret.read_text() == "PRIVATE KEY\n"


@pytest.mark.qemu
def test_a_forged_set_restored_as_new_writes_no_user_file(qemu, hostile):
    _, set_path, victim, secret = hostile
    lines: list[str] = []
    new_id = restore(set_path, qemu, name="restored", cancel=CancelToken(),
                     progress=lambda _fraction, text="": lines.append(text))
    assert any(str(secret) in line and "attach it again" in line for line in lines), lines
    _no_host_files(qemu, new_id, victim, secret, lines)


@pytest.mark.qemu
def test_a_forged_set_restored_over_writes_no_user_file(qemu, hostile):
    machine_id, set_path, victim, secret = hostile
    lines: list[str] = []
    restore_over(set_path, qemu, machine_id, cancel=CancelToken(),
                 progress=lambda _fraction, text="": lines.append(text))
    _no_host_files(qemu, machine_id, victim, secret, lines)


# A FIFO opened for reading waits for a writer forever: the timeout makes a hang a failure.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("member", ["backup.json", "spec.json", "SHA256SUMS"])
def test_a_fifo_in_a_set_is_damage_not_a_hang(machine, destination, member):
    made = backup(machine, destination)
    (made.path / member).unlink()
    os.mkfifo(made.path / member)
    listed = {s.id: s.problem for s in list_backups(destination)}
    if member != "SHA256SUMS":  # the list reads records and specs, not digests
        assert member in listed[made.id]
    with pytest.raises(BackupDamaged, match=member):
        verify(made.path, progress=no_progress, cancel=CancelToken())
    machine.write(0, 0, 4096, 0x42)
    assert backup(machine, destination).kind in ("full", "incremental")
    prune(destination, made.machine_key, Retention(keep_last=1))


@pytest.mark.timeout(60)
def test_a_fifo_beside_the_sets_or_as_a_partial_folders_owner_hangs_nothing(machine,
                                                                            destination):
    made = backup(machine, destination)
    stray = made.path / "disks" / "extra"
    os.mkfifo(stray)
    with pytest.raises(BackupDamaged, match="disks/extra"):
        verify(made.path, progress=no_progress, cancel=CancelToken())
    stray.unlink()
    odd = made.path.parent / "20200101T000000Z-full"
    odd.mkdir()
    os.mkfifo(odd / "backup.json")
    partial = made.path.parent / ".partial-0123456789ab"
    partial.mkdir()
    os.mkfifo(partial / ".owner")
    assert "backup.json" in {s.id: s.problem for s in list_backups(destination)}[odd.name]
    machine.write(0, 0, 4096, 0x43)
    assert backup(machine, destination).parent == made.id  # the sweep passed the FIFO by
