"""Changing and ejecting the disc of a running QEMU machine (real QEMU, TCG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.qemu import qmp
from backends.qemu.media import disc_changes
from desktopvm.model import (
    ControllerKind,
    Disk,
    LiveChange,
    OpticalDrive,
    StorageController,
    defaults_for,
)
from desktopvm.protocol import CancelToken, InvalidSpec, InvalidState, no_progress

pytestmark = pytest.mark.qemu


def with_storage(spec, *controllers: StorageController):
    return spec.model_copy(update={"storage": controllers})


def ide(*isos: str, disks: tuple[Disk, ...] = ()) -> StorageController:
    return StorageController(name="IDE", kind=ControllerKind.IDE, disks=disks,
                             optical=tuple(OpticalDrive(iso=iso, port=1, device=i)
                                           for i, iso in enumerate(isos)))


def test_only_a_change_of_discs_in_existing_drives_counts(qemu: Any):
    spec = defaults_for("other-linux", qemu.capabilities(), name="m")
    assert disc_changes(with_storage(spec, ide("/a.iso")), with_storage(spec, ide("/b.iso"))) \
        == [("cd0-0", "/b.iso")]
    assert disc_changes(with_storage(spec, ide("/a.iso", "")),
                        with_storage(spec, ide("", "/c.iso"))) == [("cd0-0", ""),
                                                                   ("cd0-1", "/c.iso")]
    assert disc_changes(with_storage(spec, ide("/a.iso")),
                        with_storage(spec, ide("/a.iso", ""))) is None  # a new drive
    moved = StorageController(name="IDE", kind=ControllerKind.IDE,
                              optical=(OpticalDrive(iso="/b.iso", port=0),))
    assert disc_changes(with_storage(spec, ide("/a.iso")), with_storage(spec, moved)) is None
    sata = StorageController(name="IDE", kind=ControllerKind.SATA,
                             optical=(OpticalDrive(iso="/a.iso", port=1),))
    assert disc_changes(with_storage(spec, ide("/a.iso")), with_storage(spec, sata)) is None


def inserted(backend: Any, machine_id: str) -> dict[str, str]:
    run = backend.store.require_running(backend.store.files(machine_id), "look at")
    with qmp.connect(run.qmp) as session:
        blocks = session.execute("query-block")
    return {b["device"]: b.get("inserted", {}).get("file", "") for b in blocks
            if b["device"].startswith("cd")}


def test_a_running_machine_gets_another_disc_and_gives_it_back(qemu: Any, tmp_path: Path):
    assert LiveChange.OPTICAL_MEDIA in qemu.capabilities().live_changes
    first, second = tmp_path / "first.iso", tmp_path / "second.iso"
    for iso in (first, second):
        iso.write_bytes(b"\0" * (2048 * 32))
    spec = defaults_for("other-linux", qemu.capabilities(), name="discs")
    spec = with_storage(spec, ide(str(first)))
    spec = spec.model_copy(update={"memory": spec.memory.model_copy(update={"size_mib": 128})})
    machine_id = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    qemu.start(machine_id)
    assert inserted(qemu, machine_id) == {"cd0-0": str(first)}

    old = qemu.get_machine(machine_id).spec
    new = with_storage(old, ide(str(second)))
    qemu.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    assert inserted(qemu, machine_id) == {"cd0-0": str(second)}
    assert qemu.get_machine(machine_id).spec.storage[0].optical[0].iso == str(second)

    ejected = with_storage(new, ide(""))
    qemu.update(machine_id, new, ejected, progress=no_progress, cancel=CancelToken())
    assert inserted(qemu, machine_id) == {"cd0-0": ""}

    with pytest.raises(InvalidSpec, match="does not exist"):
        qemu.update(machine_id, ejected, with_storage(ejected, ide(str(tmp_path / "no.iso"))),
                    progress=no_progress, cancel=CancelToken())
    assert qemu.get_machine(machine_id).spec.storage[0].optical[0].iso == ""

    more = with_storage(ejected, ide("", ""))  # a new drive: only while it is off
    with pytest.raises(InvalidState, match="change the hardware"):
        qemu.update(machine_id, ejected, more, progress=no_progress, cancel=CancelToken())
    qemu.power_off(machine_id)
