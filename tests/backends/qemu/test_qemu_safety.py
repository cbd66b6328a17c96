"""Regression tests from a review: the QEMU backend never loses data it was told to keep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from desktopvm.model import (
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    PortForward,
    StorageController,
)
from desktopvm.protocol import CancelToken, InvalidState, PowerState, no_progress
from desktopvm.testing.qemu_guest import guest_spec

pytestmark = [pytest.mark.qemu]
MIB = 1024**2


def create(qemu, spec):
    return qemu.create(spec, progress=no_progress, cancel=CancelToken())


def two_disk_spec(name: str, iso: Path):
    spec = guest_spec(name, iso)
    disks = StorageController(kind=ControllerKind.VIRTIO, disks=(
        Disk(format=DiskFormat.QCOW2, size_bytes=16 * MIB, port=0),
        Disk(format=DiskFormat.QCOW2, size_bytes=16 * MIB, port=1)))
    return spec.model_copy(update={"storage": (disks, *spec.storage[1:])})


def disks_of(qemu, machine_id: str) -> list[Path]:
    return [Path(d.path) for _, d in qemu.get_machine(machine_id).spec.all_disks()]


def test_new_disks_get_free_names_and_a_third_can_be_added(qemu, guest_iso):
    machine_id = create(qemu, two_disk_spec("numbered", guest_iso))
    assert [p.name for p in disks_of(qemu, machine_id)] == ["disk0.qcow2", "disk1.qcow2"]
    old = qemu.get_machine(machine_id).spec
    controller = old.storage[0]
    more = controller.model_copy(update={"disks": (*controller.disks, Disk(
        format=DiskFormat.QCOW2, size_bytes=16 * MIB, port=len(controller.disks)))})
    new = old.model_copy(update={"storage": (more, *old.storage[1:])})
    qemu.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    assert [p.name for p in disks_of(qemu, machine_id)][-1] == "disk2.qcow2"


def test_delete_keeping_disks_keeps_a_detached_disk_too(qemu, guest_iso):
    machine_id = create(qemu, two_disk_spec("detacher", guest_iso))
    first, second = disks_of(qemu, machine_id)
    old = qemu.get_machine(machine_id).spec
    controller = old.storage[0].model_copy(update={"disks": old.storage[0].disks[:1]})
    new = old.model_copy(update={"storage": (controller, *old.storage[1:])})
    qemu.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    qemu.delete(machine_id, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert first.exists() and second.exists()
    assert not (first.parent / "machine.json").exists()


def test_delete_with_disks_spares_a_disk_another_machine_uses(qemu, guest_iso):
    owner = create(qemu, guest_spec("owner", guest_iso))
    [shared] = disks_of(qemu, owner)
    spec = guest_spec("borrower", guest_iso)
    attached = StorageController(kind=ControllerKind.VIRTIO, disks=(
        Disk(path=str(shared), format=DiskFormat.QCOW2, existing=True),))
    borrower = create(qemu, spec.model_copy(update={"storage": (attached, *spec.storage[1:])}))
    qemu.delete(borrower, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert shared.exists()


def test_a_failing_linked_clone_puts_every_source_disk_back(qemu, guest_iso):
    source = create(qemu, two_disk_spec("fragile", guest_iso))
    first, second = disks_of(qemu, source)
    second.unlink()  # the second disk fails, after the first was already moved to .bases
    with pytest.raises(Exception):  # noqa: B017 - whatever qemu-img says about the missing file
        qemu.clone(source, "doomed", linked=True, progress=no_progress, cancel=CancelToken())
    assert first.exists()
    assert disks_of(qemu, source)[0] == first
    assert [m.name for m in qemu.list_machines()] == ["fragile"]


def test_restore_is_refused_whole_when_a_disk_was_added_after_the_snapshot(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("grower", guest_iso))
    snapshot = qemu.take_snapshot(machine_id, "before", include_memory=False,
                                  progress=no_progress, cancel=CancelToken())
    old = qemu.get_machine(machine_id).spec
    controller = old.storage[0]
    more = controller.model_copy(update={"disks": (*controller.disks, Disk(
        format=DiskFormat.QCOW2, size_bytes=16 * MIB, port=len(controller.disks)))})
    new = old.model_copy(update={"storage": (more, *old.storage[1:])})
    qemu.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    with pytest.raises(InvalidState, match="was added"):
        qemu.restore_snapshot(machine_id, snapshot.id, progress=no_progress,
                              cancel=CancelToken())
    assert qemu.list_snapshots(machine_id)[1] == snapshot.id  # nothing else changed


def test_a_stale_pid_of_another_program_is_neither_trusted_nor_killed(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("stale", guest_iso))
    files = qemu.store.files(machine_id)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        files.runtime.write_text(json.dumps({
            "pid": stranger.pid, "run_dir": str(files.run_dir()), "accel": "tcg",
            "started": "2026-01-01T00:00:00+00:00"}))
        assert qemu.get_machine(machine_id).state is PowerState.OFF
        with pytest.raises(InvalidState):
            qemu.power_off(machine_id)
        assert stranger.poll() is None  # still alive: not ours, not killed
    finally:
        stranger.kill()
        stranger.wait()


def test_saved_machine_refuses_hardware_changes_and_power_off_discards(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("saved", guest_iso))
    qemu.start(machine_id)
    qemu.save_state(machine_id, progress=no_progress, cancel=CancelToken())
    old = qemu.get_machine(machine_id).spec
    with pytest.raises(InvalidState, match="saved state"):
        qemu.update(machine_id, old, old.model_copy(update={"cpu": CpuSpec(count=2)}),
                    progress=no_progress, cancel=CancelToken())
    qemu.update(machine_id, old, old.model_copy(update={"notes": "still fine"}),
                progress=no_progress, cancel=CancelToken())
    qemu.power_off(machine_id)
    assert qemu.get_machine(machine_id).state is PowerState.OFF


def test_port_forward_addresses_must_be_addresses():
    with pytest.raises(ValidationError, match="IPv4 or IPv6"):
        PortForward(host_port=2222, guest_port=22,
                    guest_ip=",guestfwd=tcp:10.0.2.100:80-cmd:/bin/sh -c id")
    assert PortForward(host_port=2222, guest_port=22, host_ip="::1").host_ip == "::1"
