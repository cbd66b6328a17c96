"""QEMU snapshots bring the machine back as it was, hardware included (real QEMU, TCG)."""

from __future__ import annotations

import pytest

from desktopvm.model import CpuSpec, MemorySpec
from desktopvm.protocol import CancelToken, InvalidState, PowerState, no_progress
from desktopvm.testing.qemu_guest import guest_spec
from tests.backends.qemu.test_qemu_machines import boot, create, wait_state

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def test_restoring_a_memory_snapshot_brings_its_hardware_back_and_starts(qemu, guest_iso):
    """The review's case: snapshot with memory, change memory, restore, start."""
    spec = guest_spec("restore hw", guest_iso).model_copy(update={
        "memory": MemorySpec(size_mib=256), "notes": "before"})
    machine_id = create(qemu, spec)
    reader = boot(qemu, machine_id)
    snap = qemu.take_snapshot(machine_id, "with memory", include_memory=True,
                              progress=no_progress, cancel=CancelToken())
    reader.close()
    qemu.power_off(machine_id)
    old = qemu.get_machine(machine_id).spec
    changed = old.model_copy(update={"memory": MemorySpec(size_mib=320),
                                     "cpu": CpuSpec(count=2), "notes": "after"})
    qemu.update(machine_id, old, changed, progress=no_progress, cancel=CancelToken())
    qemu.restore_snapshot(machine_id, snap.id, progress=no_progress, cancel=CancelToken())
    restored = qemu.get_machine(machine_id).spec
    assert (restored.memory.size_mib, restored.cpu.count) == (256, spec.cpu.count)
    assert restored.notes == "after"  # notes and name say which machine it is: they stay
    qemu.start(machine_id)  # resumes the snapshot's memory: the hardware must match
    wait_state(qemu, machine_id, PowerState.RUNNING)
    qemu.power_off(machine_id)


def test_a_running_machine_cannot_jump_to_a_snapshot_of_other_hardware(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("live jump", guest_iso))
    qemu.start(machine_id)
    snap = qemu.take_snapshot(machine_id, "small", include_memory=True, progress=no_progress,
                              cancel=CancelToken())
    qemu.power_off(machine_id)
    old = qemu.get_machine(machine_id).spec
    qemu.update(machine_id, old, old.model_copy(update={"memory": MemorySpec(size_mib=320)}),
                progress=no_progress, cancel=CancelToken())
    qemu.start(machine_id)
    with pytest.raises(InvalidState, match="hardware has changed since"):
        qemu.restore_snapshot(machine_id, snap.id, progress=no_progress, cancel=CancelToken())
    assert qemu.get_machine(machine_id).state is PowerState.RUNNING  # nothing was touched
    qemu.power_off(machine_id)
