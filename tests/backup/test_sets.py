"""Sets written through capture(): layout, manifest, chains, atomic publish (real qemu-img)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backends.qemu.qemu_img import QemuImg
from desktopvm.backup import back_up, list_backups, making
from desktopvm.backup.setfile import SUMS
from desktopvm.model import DiskFormat
from desktopvm.ovf import read_ovf
from desktopvm.protocol import BackendError, CancelToken, OperationCancelled, no_progress
from tests.backup.conftest import backup
from tests.backup.doubles import MIB, CaptureDouble, read_bytes

REPO = Path(__file__).resolve().parents[2]


def test_a_full_set_holds_everything_and_sha256sum_checks_it(machine, destination):
    made = backup(machine, destination)
    assert made.kind == "full" and made.parent == "" and made.was_running
    folder = made.path
    assert folder.parent.name == f"web-{made.machine_key[:8]}"
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == ["SHA256SUMS", "backup.json", "disks/disk1.qcow2", "disks/disk2.qcow2",
                     "machine.ovf", "notes.txt", "snapshots.json", "spec.json"]
    record = json.loads((folder / "backup.json").read_text())
    assert record["schema"] == 3 and record["kind"] == "full" and record["point"] == "point-1"
    assert record["firmware"] == []  # the double has no UEFI variables or TPM
    assert [d["virtual_size"] for d in record["disks"]] == [4 * MIB, 2 * MIB]
    assert (folder / "notes.txt").read_text() == "the notes"
    # The manifest is what sha256sum writes: users can check a set without DesktopVM.
    checked = subprocess.run(["sha256sum", "-c", SUMS], cwd=folder, capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 7
    # The disks were compressed qcow2 copies at that point in time.
    assert read_bytes(folder / "disks/disk1.qcow2", 0, 512) == b"\x11" * 512


def test_an_incremental_set_holds_only_the_changes_and_each_point_reassembles(machine,
                                                                           destination):
    first = backup(machine, destination)
    machine.write(0, 2 * MIB, 4096, 0x33)
    second = backup(machine, destination)
    assert machine.captures == ["", "point-1"]
    assert second.kind == "incremental" and second.parent == first.id
    assert all(d.incremental for d in second.disks)
    assert second.size_bytes < first.size_bytes
    machine.write(0, 0, 512, 0x44)  # after the second point: must not appear in it
    qemu_img = QemuImg()
    restored = destination / "point2.raw"
    qemu_img.convert(second.path / second.disks[0].file, restored, DiskFormat.RAW,
                     backing_chain=[first.path / first.disks[0].file])
    data = restored.read_bytes()
    assert data[:512] == b"\x11" * 512
    assert data[2 * MIB:2 * MIB + 4096] == b"\x33" * 4096
    assert data[MIB:MIB + 512] == b"\0" * 512


def test_an_unchanged_machine_costs_almost_nothing(machine, destination):
    first = backup(machine, destination)
    second = backup(machine, destination)
    assert second.kind == "incremental"
    assert second.size_bytes < first.size_bytes
    assert all(d.virtual_size for d in second.disks)


def test_a_capture_that_came_back_full_is_recorded_full(machine, destination):
    backup(machine, destination)
    machine.forget_capture_points("m1")  # e.g. the bitmap was lost: the backend copies all
    again = backup(machine, destination)
    assert machine.captures[-1] == "point-1"
    assert again.kind == "full" and again.parent == ""


def test_incremental_false_asks_for_a_full_capture(machine, destination):
    backup(machine, destination)
    again = backup(machine, destination, incremental=False)
    assert machine.captures[-1] == "" and again.kind == "full"


def test_a_cancelled_backup_leaves_no_set_and_no_partial_folder(machine, destination):
    token = CancelToken()
    machine.between_disks = lambda index: token.cancel()
    with pytest.raises(OperationCancelled):
        back_up(machine, "m1", destination, progress=no_progress, cancel=token)
    folders = list(destination.iterdir())
    assert len(folders) == 1 and list(folders[0].iterdir()) == []
    assert list_backups(destination) == []
    assert machine.point == ""  # the capture did not count: the next one is full


def test_a_failing_capture_leaves_nothing(machine, destination):
    def fail(index: int) -> None:
        raise RuntimeError("disk full")
    machine.between_disks = fail
    with pytest.raises(RuntimeError):
        backup(machine, destination)
    assert [p for p in destination.rglob("*") if p.is_file()] == []


KILLED = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.backup.doubles import CaptureDouble
from desktopvm.backup import back_up
from desktopvm.protocol import CancelToken, no_progress
machine = CaptureDouble(Path({folder!r}), (1048576, 1048576))
machine.between_disks = lambda index: os.kill(os.getpid(), signal.SIGKILL)
back_up(machine, "m1", Path({destination!r}), progress=no_progress, cancel=CancelToken())
"""


def test_a_killed_backup_looks_incomplete_and_is_swept_next_time(tmp_path, destination):
    script = KILLED.format(repo=str(REPO), folder=str(tmp_path / "killed"),
                           destination=str(destination))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    [machine_folder] = destination.iterdir()
    [partial] = machine_folder.iterdir()
    assert partial.name.startswith(".partial-")
    assert (partial / "disks" / "disk1.qcow2").exists()  # half written, never published
    assert list_backups(destination) == []
    machine = CaptureDouble(tmp_path / "again", (MIB, MIB))  # same connection and id
    made = backup(machine, destination)
    assert sorted(p.name for p in machine_folder.iterdir()) == [made.id]


def test_a_partial_folder_of_a_live_writer_is_left_alone(machine, destination):
    made = backup(machine, destination)
    live = made.path.parent / ".partial-live"
    live.mkdir()
    (live / ".owner").write_text(f"{os.uname().nodename} {os.getppid()}\n")
    backup(machine, destination)
    assert live.exists()


def test_a_capture_in_another_format_is_kept_as_qcow2(machine, destination):
    machine.hand_over = DiskFormat.VHDX  # as Hyper-V's capture hands over its disks
    made = backup(machine, destination)
    assert [d.file for d in made.disks] == ["disks/disk1.qcow2", "disks/disk2.qcow2"]
    assert sorted(p.name for p in (made.path / "disks").iterdir()) == ["disk1.qcow2",
                                                                      "disk2.qcow2"]
    assert read_bytes(made.path / "disks/disk1.qcow2", 0, 512) == b"\x11" * 512
    assert read_bytes(made.path / "disks/disk2.qcow2", MIB, 512) == b"\x21" * 512


def test_a_capture_naming_a_file_outside_its_folder_is_refused(machine, destination, tmp_path):
    secret = tmp_path / "secret.qcow2"
    secret.write_bytes(b"not the machine's")
    machine.elsewhere = secret
    with pytest.raises(BackendError, match="not a file in its folder"):
        backup(machine, destination)
    assert list_backups(destination) == []
    assert [p for p in destination.rglob("*") if p.is_file()] == []


def test_only_a_full_set_has_machine_ovf_and_it_reads_back(machine, destination):
    """Other tools can import a full set's machine.ovf; an incremental set's disks are only
    changes, so it has none (an OVF reader would take them for whole disks)."""
    first = backup(machine, destination)
    appliance = read_ovf((first.path / "machine.ovf").read_bytes(), "machine.ovf")
    assert [(d.file_href, d.capacity_bytes, d.port) for d in appliance.disks] == [
        ("disks/disk1.qcow2", 4 * MIB, 0), ("disks/disk2.qcow2", 2 * MIB, 1)]
    assert appliance.spec.name == "web"
    machine.write(0, 0, 4096, 0x5A)
    second = backup(machine, destination)
    assert second.kind == "incremental" and not (second.path / "machine.ovf").exists()


def test_a_set_is_dated_when_its_capture_began_not_when_it_was_written(machine, destination,
                                                                       monkeypatch):
    clock = [datetime(2026, 12, 1, 20, 0, tzinfo=UTC)]
    monkeypatch.setattr(making, "_now", lambda: clock[0])

    def an_hour_per_disk(_index: int) -> None:  # a slow capture: the clock runs on meanwhile
        clock[0] += timedelta(hours=1)
    machine.between_disks = an_hour_per_disk
    made = backup(machine, destination)
    assert made.created == datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    assert made.id == "20261201T200000Z-full"
    record = json.loads((made.path / "backup.json").read_text())
    assert record["created"] == "2026-12-01T20:00:00+00:00"
