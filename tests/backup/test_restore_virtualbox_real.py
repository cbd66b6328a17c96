"""An incremental backup set restored into the real VirtualBox 7.2: registered, its disks attached
with the bytes of that point, the hardware as `showvminfo` reports it.

Runs the real VBoxManage from the cached root (.ci/virtualbox-root; see tests/backends/
virtualbox/real); skipped with the reason where the root is missing. VirtualBox cannot run
machines here: whether the guest boots there is the live suite's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.backup import back_up, restore
from desktopvm.model import CpuSpec, Firmware, FirmwareSpec, MemorySpec
from desktopvm.protocol import CancelToken, no_progress
from tests.backends.virtualbox.real.realvbox import RealVBox, root_problem
from tests.backends.virtualbox.real.test_backup_real import machine_with_disks, same_content
from tests.backup.conftest import backup
from tests.backup.doubles import MIB, CaptureDouble

pytestmark = [pytest.mark.real_virtualbox, pytest.mark.slow]


@pytest.fixture
def real_vbox(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[RealVBox]:
    """A private real VirtualBox 7.2 (as tests/backends/virtualbox/real/conftest.py makes)."""
    problem = root_problem()
    if problem:
        pytest.skip(problem)
    vbox = RealVBox(tmp_path / "real-vbox", tmp_path_factory.getbasetemp())
    for name, value in vbox.environment().items():
        monkeypatch.setenv(name, value)
    vbox.start()
    yield vbox
    vbox.stop()


def disk_bytes(vbox_disk: Path, tmp: Path) -> bytes:
    """What the guest reads from a disk VirtualBox attached (VDI or the VMDK it imported)."""
    raw = tmp / "vbox.raw"
    raw.unlink(missing_ok=True)
    subprocess.run(["qemu-img", "convert", "-U", "-f", vbox_disk.suffix[1:], "-O", "raw",
                    str(vbox_disk), str(raw)], check=True, capture_output=True)
    return raw.read_bytes()


@pytest.mark.parametrize("data", ["compressible", "random"])
def test_an_incremental_point_restored_into_real_virtualbox(real_vbox, tmp_path, data):
    machine = CaptureDouble(tmp_path / "machine", (8 * MIB, 4 * MIB), name="traveller")
    machine.spec = machine.spec.model_copy(update={
        "os": "debian12", "cpu": CpuSpec(count=2), "memory": MemorySpec(size_mib=512),
        "firmware": FirmwareSpec(kind=Firmware.UEFI), "notes": "from a backup"})
    machine.write(0, 0, MIB, 0x41)
    destination = tmp_path / "backups"
    backup(machine, destination)
    if data == "random":  # incompressible: every grain of the VMDK stored as it is
        chunk = tmp_path / "random.bin"
        chunk.write_bytes(os.urandom(2 * MIB))
        from tests.backup.doubles import qemu_io
        qemu_io(machine.disk(0), f"write -s {chunk} {2 * MIB} {2 * MIB}")
        machine.dirty.append((0, 2 * MIB, 2 * MIB, -1))  # not a pattern: written below
    machine.write(1, MIB, 4096, 0x42)
    if data == "random":
        machine.dirty = [d for d in machine.dirty if d[3] != -1]
        machine.point = ""  # the double cannot replay file writes: a full capture instead
    point = backup(machine, destination)
    assert point.kind == ("incremental" if data == "compressible" else "full")

    new_id = restore(point.path, real_vbox.backend(), name="restored", progress=no_progress,
                     cancel=CancelToken())
    assert new_id in real_vbox.run("list", "vms").stdout
    info = real_vbox.machine_readable(new_id)
    assert info["name"] == "restored"
    assert (info["firmware"], info["cpus"], info["memory"]) == ("EFI", "2", "512")
    assert info["description"] == "from a backup"
    first, second = Path(info["SATA-0-0"]), Path(info["SATA-1-0"])
    # VirtualBox keeps the format it imported (VMDK); its own VDI would need a conversion.
    assert first.suffix in (".vdi", ".vmdk") and first.is_file()
    disk0 = disk_bytes(first, tmp_path)
    assert len(disk0) == 8 * MIB and disk0[:MIB] == b"\x41" * MIB
    if data == "random":
        assert disk0[2 * MIB:4 * MIB] == (tmp_path / "random.bin").read_bytes()
    assert disk_bytes(second, tmp_path)[MIB:MIB + 4096] == b"\x42" * 4096
    assert not [p for p in point.path.parent.iterdir() if p.name.startswith(".")]


def test_a_real_virtualbox_machine_backed_up_and_restored_into_qemu(real_vbox, tmp_path, qemu):
    """VirtualBox's capture hands over its own VDI and VMDK; the set holds them as qcow2."""
    folder = tmp_path / "vbox-disks"
    folder.mkdir()
    machine, raw = machine_with_disks(real_vbox, folder, vmdk=True)
    made = back_up(real_vbox.backend(), machine, tmp_path / "backups", progress=no_progress,
                   cancel=CancelToken())
    assert made.kind == "full" and [d.format.value for d in made.disks] == ["qcow2", "qcow2"]
    assert sorted(p.name for p in (made.path / "disks").iterdir()) == ["disk1.qcow2",
                                                                      "disk2.qcow2"]
    new_id = restore(made.path, qemu, name="from virtualbox", progress=no_progress,
                     cancel=CancelToken())
    disks = [Path(d.path) for _, d in qemu.get_machine(new_id).spec.all_disks()]
    assert len(disks) == 2
    assert same_content(raw, disks[0], "qcow2")

