"""Chains: a disk chains only onto the same disk, chains restart with a full (review of #20)."""

from __future__ import annotations

from pathlib import Path

from desktopvm.backup import verify
from desktopvm.backup.chain import reassemble
from desktopvm.backup.checking import chain_of
from desktopvm.model import DiskFormat
from desktopvm.protocol import CancelToken, no_progress
from tests.backup.conftest import backup
from tests.backup.doubles import MIB, CaptureDouble


def _swap_ports(machine: CaptureDouble) -> None:
    """The two disks trade ports (their files, and so their change tracking, stay theirs)."""
    controller = machine.spec.storage[0]
    first, second = controller.disks
    disks = (first.model_copy(update={"port": second.port}),
             second.model_copy(update={"port": first.port}))
    machine.spec = machine.spec.model_copy(update={"storage": (controller.model_copy(
        update={"disks": disks}),)})


def _point(backup_path: Path, slot: tuple[int, int, int], out: Path) -> bytes:
    reassemble(chain_of(backup_path), slot, out, DiskFormat.RAW, cancel=CancelToken())
    return out.read_bytes()


def test_disks_that_swapped_ports_never_chain_onto_each_other(tmp_path, destination):
    machine = CaptureDouble(tmp_path / "m", (2 * MIB, 2 * MIB))
    machine.write(0, 0, 4096, 0xAA)  # disk A, port 0
    machine.write(1, 0, 4096, 0xBB)  # disk B, port 1
    first = backup(machine, destination)
    assert [d.source_file for d in first.disks] == [str(machine.disk(0)), str(machine.disk(1))]
    _swap_ports(machine)  # now A is on port 1, B on port 0
    machine.write(0, MIB, 4096, 0xCC)  # into A
    second = backup(machine, destination)
    # The capture's changes of A do not fit B's copy at port 1: backed up full instead.
    assert second.kind == "full" and machine.captures == ["", "point-1", ""]
    verify(second.path, progress=no_progress, cancel=CancelToken())
    port0 = _point(second.path, (0, 0, 0), tmp_path / "p0.raw")
    port1 = _point(second.path, (0, 1, 0), tmp_path / "p1.raw")
    assert port0[:4] == b"\xbb" * 4 and port0[MIB:MIB + 4] == b"\0" * 4  # B, unchanged
    assert port1[:4] == b"\xaa" * 4 and port1[MIB:MIB + 4] == b"\xcc" * 4  # A with its change
