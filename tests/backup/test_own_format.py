"""Sets in the hypervisor's own disk format (`own_format=True`): VHDX for Hyper-V, VDI for
VirtualBox, VMDK for VMware and ESXi; checked, verified and restored like qcow2 sets.

The captures come from the stand-in with real disks (tests/backup/doubles.py) under the
connection names of those hypervisors; every disk is written and read by the real qemu-img.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from desktopvm.backup import BackupDamaged, BackupSet, back_up, restore, verify
from desktopvm.backup.chain import reassemble
from desktopvm.backup.checking import chain_of
from desktopvm.backup.setfile import file_digest, format_sums, read_sums
from desktopvm.model import DiskFormat
from desktopvm.model.own_formats import own_formats
from desktopvm.protocol import CancelToken, no_progress
from tests.backup.doubles import MIB, CaptureDouble, read_bytes
from tests.images import hostile

pytestmark = pytest.mark.qemu


def machine_of(tmp_path: Path, connection: str, hands_over: DiskFormat,
               subformat: str = "") -> CaptureDouble:
    double = CaptureDouble(tmp_path / connection, (4 * MIB, 2 * MIB), connection=connection)
    double.hand_over, double.hand_over_subformat = hands_over, subformat
    double.write(0, MIB, 64 * 1024, 0x61)
    double.write(1, 0, 4096, 0x62)
    return double


def own(machine: CaptureDouble, destination: Path, **options: bool) -> BackupSet:
    return back_up(machine, "m1", destination, own_format=True,  # type: ignore[arg-type]
                   progress=no_progress, cancel=CancelToken(), **options)


def image_info(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], check=True, capture_output=True,
        text=True).stdout)
    return result


def guest_bytes(path: Path, fmt: str, offset: int, length: int) -> bytes:
    raw = path.with_name(path.name + ".raw")
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", str(path), str(raw)],
                   check=True, capture_output=True)
    with raw.open("rb") as file:
        file.seek(offset)
        data = file.read(length)
    raw.unlink()
    return data


@pytest.mark.parametrize(("connection", "hands_over", "subformat", "kept"), [
    ("hyperv@hv01", DiskFormat.VHDX, "", DiskFormat.VHDX),  # Export-VM's VHDX, as it is
    ("virtualbox", DiskFormat.VDI, "", DiskFormat.VDI),  # clonemedium's VDI, as it is
    ("virtualbox", DiskFormat.VMDK, "", DiskFormat.VMDK),  # a VMDK disk stays VMDK, not VDI
    ("vmware", DiskFormat.QCOW2, "", DiskFormat.VMDK),  # read from the frozen chain: made VMDK
    # ESXi's export is stream-optimized (compressed; nothing attaches it as it is): rewritten
    ("esxi", DiskFormat.VMDK, "streamOptimized", DiskFormat.VMDK),
])
def test_a_set_in_the_hypervisors_own_format_holds_its_disks_as_they_are(
        tmp_path: Path, connection: str, hands_over: DiskFormat, subformat: str,
        kept: DiskFormat):
    machine = machine_of(tmp_path, connection, hands_over, subformat)
    made = own(machine, tmp_path / "backups")

    assert made.kind == "full" and [d.format for d in made.disks] == [kept, kept]
    first = made.path / made.disks[0].file
    info = image_info(first)
    assert info["format"] == kept.value and first.suffix == f".{kept.extension}"
    if kept is DiskFormat.VMDK:  # one self-contained file, which Workstation opens as it is
        assert info["format-specific"]["data"]["create-type"] == "monolithicSparse"
    assert guest_bytes(first, kept.value, MIB, 64 * 1024) == b"\x61" * 64 * 1024
    assert verify(made.path, progress=no_progress, cancel=CancelToken()).id == made.id
    descriptor = (made.path / "machine.ovf").read_text()
    assert kept.value in descriptor.lower()  # its DiskSection names the format
    record = json.loads((made.path / "backup.json").read_text())
    assert record["compressed"] is False


def test_qemu_sets_stay_qcow2_and_the_next_backup_after_an_own_format_set_is_full(
        tmp_path: Path):
    assert own_formats("qemu") == (DiskFormat.QCOW2,)
    assert own_formats("virtualbox") == (DiskFormat.VDI, DiskFormat.VMDK)
    machine = machine_of(tmp_path, "hyperv", DiskFormat.VHDX)
    destination = tmp_path / "backups"
    first = own(machine, destination, incremental=True)  # asked, but VHDX cannot be
    assert first.kind == "full" and machine.captures == [""]
    machine.write(0, 2 * MIB, 4096, 0x63)
    machine.hand_over = DiskFormat.QCOW2
    second = back_up(machine, "m1", destination, progress=no_progress,  # type: ignore[arg-type]
                     cancel=CancelToken())
    # The capture was incremental on the VHDX set's point; a qcow2 chain cannot build on a
    # VHDX disk, so it started again in full.
    assert second.kind == "full" and second.parent == ""
    assert [d.format for d in second.disks] == [DiskFormat.QCOW2, DiskFormat.QCOW2]


def test_an_own_format_set_restores_onto_qemu(tmp_path: Path, qemu: Any):
    machine = machine_of(tmp_path, "virtualbox", DiskFormat.VDI)
    made = own(machine, tmp_path / "backups")
    new_id = restore(made.path, qemu, name="from vdi", progress=no_progress,
                     cancel=CancelToken())
    disks = [Path(d.path) for _, d in qemu.get_machine(new_id).spec.all_disks()]
    assert read_bytes(disks[0], MIB, 64 * 1024) == b"\x61" * 64 * 1024
    assert read_bytes(disks[1], 0, 4096) == b"\x62" * 4096


def forge(set_path: Path, change: Any) -> None:
    """Edit backup.json and make SHA256SUMS agree (what anyone with the drive could do)."""
    record = json.loads((set_path / "backup.json").read_text())
    change(record)
    (set_path / "backup.json").write_text(json.dumps(record))
    sums = read_sums(set_path)
    sums["backup.json"] = file_digest(set_path / "backup.json")
    (set_path / "SHA256SUMS").write_text(format_sums(sums))


@pytest.mark.parametrize(("change", "words"), [
    (lambda r: r["disks"][0].update(format="raw"), "a set holds qcow2, VDI, VHDX or VMDK"),
    (lambda r: r["disks"][0].update(format="vdi"), "declared as vdi but its contents are a vhdx"),
    (lambda r: r["disks"][0].update(incremental=True), "only qcow2 can be"),
])
def test_a_forged_format_is_refused_by_verify_and_restore(tmp_path: Path, qemu: Any,
                                                          change: Any, words: str):
    machine = machine_of(tmp_path, "hyperv", DiskFormat.VHDX)
    made = own(machine, tmp_path / "backups")
    forge(made.path, change)
    with pytest.raises(BackupDamaged, match=words):
        verify(made.path, progress=no_progress, cancel=CancelToken())
    with pytest.raises(BackupDamaged):
        restore(made.path, qemu, name="forged", progress=no_progress, cancel=CancelToken())
    assert qemu.list_machines() == []


@pytest.mark.parametrize("trick", ["vhdx", "vmdk"])
def test_a_forged_disk_that_names_another_file_is_refused(tmp_path: Path, qemu: Any,
                                                          trick: str):
    """A VHDX with a parent locator, a VMDK descriptor whose extent is a file of the host's:
    both pass as "the hypervisor's own format" by name, and are refused by their headers."""
    machine = machine_of(tmp_path, "hyperv", DiskFormat.VHDX)
    made = own(machine, tmp_path / "backups")
    disk = made.path / made.disks[0].file
    if trick == "vhdx":
        disk.unlink()
        hostile.vhdx_with_parent(disk)
    else:
        secret = hostile.canary(tmp_path / "host")
        disk.unlink()
        disk = hostile.vmdk_descriptor(disk.with_suffix(".vmdk"), str(secret))
        forge(made.path, lambda r: r["disks"][0].update(file="disks/disk1.vmdk",
                                                         format="vmdk"))
    sums = read_sums(made.path)
    sums.pop("disks/disk1.vhdx", None)
    sums[disk.relative_to(made.path).as_posix()] = file_digest(disk)
    (made.path / "SHA256SUMS").write_text(format_sums(sums))
    forge(made.path, lambda r: r["disks"][0].update(sha256=file_digest(disk)))
    with pytest.raises(BackupDamaged, match="refused"):
        verify(made.path, progress=no_progress, cancel=CancelToken())
    with pytest.raises(BackupDamaged):
        restore(made.path, qemu, name="forged", progress=no_progress, cancel=CancelToken())
    assert qemu.list_machines() == []


def test_a_disk_swapped_for_a_link_after_verify_is_refused_when_read(tmp_path: Path):
    machine = machine_of(tmp_path, "hyperv", DiskFormat.VHDX)
    made = own(machine, tmp_path / "backups")
    verify(made.path, progress=no_progress, cancel=CancelToken())
    chain = chain_of(made.path)  # as restore reads it, long before the disks are copied
    disk = made.path / made.disks[0].file
    elsewhere = tmp_path / "another machine's disk.vhdx"
    disk.rename(elsewhere)
    disk.symlink_to(elsewhere)  # the drive changed between verify and restore
    with pytest.raises(BackupDamaged, match="symbolic link"):
        reassemble(chain, made.disks[0].slot, tmp_path / "out.vhdx", DiskFormat.VHDX,
                   cancel=CancelToken())
    assert not (tmp_path / "out.vhdx").exists()


def test_a_set_copied_with_hard_links_still_verifies_and_restores(tmp_path: Path, qemu: Any):
    """Backup drives rotated by rsync --link-dest or Time Machine hard-link unchanged files."""
    machine = machine_of(tmp_path, "hyperv", DiskFormat.VHDX)
    made = own(machine, tmp_path / "backups")
    rotated = tmp_path / "rotated" / made.path.parent.name / made.path.name
    for file in made.path.rglob("*"):
        if file.is_file():
            copy = rotated / file.relative_to(made.path)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.hardlink_to(file)
    assert verify(rotated, progress=no_progress, cancel=CancelToken()).id == made.id
    new_id = restore(rotated, qemu, name="from the rotated drive", progress=no_progress,
                     cancel=CancelToken())
    disk = Path(qemu.get_machine(new_id).spec.all_disks()[0][1].path)
    assert read_bytes(disk, MIB, 4096) == b"\x61" * 4096
