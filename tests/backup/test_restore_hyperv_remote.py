"""Restore onto a remote Hyper-V host: disks put together here as real VHDX files by qemu-img,
copied there through WinRM (pywinrm's real code, the loopback WS-Man server, the PowerShell
double), then the real backend's create with them as existing disks.

The double keeps its disks as small JSON records, so the test reads each copied VHDX with
qemu-img first and then hands the double such a record in its place (as in
test_restore_hyperv.py). Real Hyper-V: live suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopvm.backup import restore
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidState,
    OperationCancelled,
    no_progress,
)
from desktopvm.testing.doubles.hyperv.double import FakeHost
from tests.backup.doubles import MIB
from tests.backup.test_restore_hyperv import as_the_double_keeps_disks, chain_of_two


def host_disks(fake_host: FakeHost) -> list[Path]:
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    return sorted(root.rglob("*")) if root.exists() else []


def test_a_point_is_restored_onto_a_remote_host_with_its_disks_copied_there(
        machine, destination, remote_hyperv, fake_host, monkeypatch):
    point = chain_of_two(machine, destination)
    contents: list[bytes] = []
    seen: list[MachineSpec] = []
    as_the_double_keeps_disks(remote_hyperv, seen, monkeypatch, contents)

    new_id = restore(point.path, remote_hyperv, name="restored ‘remote’", progress=no_progress,
                     cancel=CancelToken())

    [spec] = seen
    disks = [Path(d.path) for _, d in spec.all_disks()]
    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert all(p.parent.parent == root and p.suffix == ".vhdx" for p in disks)
    assert disks[0].parent.name.startswith("restored_remote-restored-")
    assert all(d.existing and d.format is DiskFormat.VHDX for _, d in spec.all_disks())
    first, second = contents
    assert (len(first), len(second)) == (4 * MIB, 2 * MIB)
    assert first[:512] == b"\x11" * 512 and second[MIB:MIB + 4096] == b"\x52" * 4096
    assert "write_file" in fake_host.ops()
    assert remote_hyperv.get_machine(new_id).spec.name == "restored ‘remote’"
    with pytest.raises(InvalidState, match="did not make"):  # the machine's own folder now
        remote_hyperv.remove_host_folder(str(disks[0].parent))
    # Nothing is left of the scratch copies beside the set (chain.scratch: `.partial-*`).
    assert [p.name for p in point.path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_failed_create_leaves_nothing_on_the_remote_host(machine, destination, remote_hyperv,
                                                           fake_host, monkeypatch):
    point = chain_of_two(machine, destination)
    as_the_double_keeps_disks(remote_hyperv, [], monkeypatch)
    fake_host.fault("create_vm", "error", error={
        "category": "InvalidOperation", "fqid": "OperationFailed,Microsoft.HyperV.PowerShell."
        "Commands.NewVM", "message": "The operation failed.",
        "type": "Microsoft.HyperV.PowerShell.VirtualizationException"})
    with pytest.raises(BackendError, match="The operation failed"):
        restore(point.path, remote_hyperv, name="failing", progress=no_progress,
                cancel=CancelToken())
    assert host_disks(fake_host) == []
    assert remote_hyperv.list_machines() == []


def test_a_restore_cancelled_while_copying_leaves_nothing_there(machine, destination,
                                                                remote_hyperv, fake_host):
    point = chain_of_two(machine, destination)
    cancel = CancelToken()

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith("Copying"):
            cancel.cancel()

    with pytest.raises(OperationCancelled):
        restore(point.path, remote_hyperv, name="cancelled", progress=progress, cancel=cancel)
    assert "write_file" in fake_host.ops()
    assert host_disks(fake_host) == []
    assert remote_hyperv.list_machines() == []
