"""Issue #20's QEMU test for real: a marker written inside the running test guest, backed up
running, changed, backed up again (incremental); each point restored as a new machine and
booted: the guest there reads that point's marker. TCG; the guest's shell is on its serial port.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.qemu import storage_daemon
from backends.qemu.backend import QemuBackend
from desktopvm.backup import back_up, list_backups, restore, verify
from desktopvm.protocol import CancelToken, PowerState, no_progress
from desktopvm.testing.qemu_guest import SerialReader, guest_spec
from tests.backends.qemu.test_qemu_machines import boot, create

pytestmark = [pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(storage_daemon.find_daemon() is None,
                                 reason="qemu-storage-daemon is not installed")]

SECTOR = 2048  # where the marker goes on the guest's raw disk (512-byte sectors)


def mark(reader: SerialReader, text: str) -> None:
    """Write `text` on the guest's disk and flush it (the marker never appears as typed)."""
    reader.run(f"echo {text} | dd of=/dev/vda bs=512 seek={SECTOR} conv=notrunc && sync "
               "&& echo WROTE-$((40+2))", b"WROTE-42")


def marker(reader: SerialReader) -> str:
    """The marker the guest reads from its disk."""
    out = reader.run(f"echo READ-$(dd if=/dev/vda bs=512 skip={SECTOR} count=1 2>/dev/null "
                     "| head -c 6)-$((6*7))", b"-42\r")
    found = re.search(rb"READ-(\S*)-42", out)
    assert found is not None, out
    return found[1].decode()


def test_each_point_restored_as_a_new_machine_boots_with_its_marker(
        qemu: QemuBackend, guest_iso: Path, tmp_path: Path):
    machine = create(qemu, guest_spec("original", guest_iso))
    reader = boot(qemu, machine)
    mark(reader, "MARK-1")
    destination = tmp_path / "backups"
    first = back_up(qemu, machine, destination, progress=no_progress, cancel=CancelToken())
    assert first.kind == "full" and first.was_running
    mark(reader, "MARK-2")
    second = back_up(qemu, machine, destination, progress=no_progress, cancel=CancelToken())
    assert second.kind == "incremental" and second.parent == first.id and second.was_running
    assert marker(reader) == "MARK-2"  # the original runs on, untouched
    assert qemu.get_machine(machine).state is PowerState.RUNNING
    reader.close()
    qemu.power_off(machine)
    verify(second.path, progress=no_progress, cancel=CancelToken())
    assert [s.id for s in list_backups(destination)] == [first.id, second.id]

    for point, expected in ((first, "MARK-1"), (second, "MARK-2")):
        new_id = restore(point.path, qemu, name=f"restored {expected}", progress=no_progress,
                         cancel=CancelToken())
        spec = qemu.get_machine(new_id).spec
        assert spec.all_optical()[0][1].iso == ""  # a set never chooses files here
        storage = tuple(c.model_copy(update={"optical": tuple(
            d.model_copy(update={"iso": str(guest_iso)}) for d in c.optical)})
            for c in spec.storage)  # the user puts the disc back in, in Settings
        qemu.update(new_id, spec, spec.model_copy(update={"storage": storage}),
                    progress=no_progress, cancel=CancelToken())
        restored = boot(qemu, new_id)
        assert marker(restored) == expected
        restored.close()
        qemu.power_off(new_id)
