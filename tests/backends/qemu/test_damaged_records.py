"""Damaged records lose nothing (review-security.md D4, D5, D8): unreadable is never "off"."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, InvalidState, PowerState, no_progress
from desktopvm.settings import Settings, load_settings
from desktopvm.testing.qemu_guest import guest_spec

DEEP = "[" * 100_000


def make(backend: QemuBackend, name: str) -> str:
    spec = defaults_for("debian12", backend.capabilities()).model_copy(update={"name": name})
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


@pytest.fixture
def backend(tmp_path: Path) -> QemuBackend:
    return QemuBackend(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))


@pytest.mark.parametrize("record", ["machine.json", "runtime.json", "snapshots.json"])
def test_one_absurdly_nested_record_does_not_take_down_the_inventory(backend, record: str):
    healthy, broken = make(backend, "healthy"), make(backend, "broken")
    (backend.store.files(broken).folder / record).write_text(DEEP, encoding="utf-8")
    names = {m.name for m in backend.list_machines()}
    assert "healthy" in names
    assert backend.get_machine(healthy).spec.name == "healthy"


def test_an_absurdly_nested_config_gives_defaults(tmp_path: Path):
    config = tmp_path / "config.json"
    config.write_text(DEEP, encoding="utf-8")
    assert load_settings(config) == Settings()


def test_a_damaged_runtime_record_of_a_stopped_machine_is_set_aside(backend):
    machine_id = make(backend, "stopped")
    files = backend.store.files(machine_id)
    files.runtime.write_text('{"pid": ', encoding="utf-8")
    assert backend.get_machine(machine_id).state is PowerState.OFF  # no QEMU carries its id
    assert [p.name.split("-")[0] for p in files.folder.glob("runtime.json.damaged-*")] == \
        ["runtime.json.damaged"]


@pytest.mark.qemu
@pytest.mark.slow
def test_a_damaged_runtime_record_of_a_running_machine_is_not_off(backend, guest_iso):
    machine_id = backend.create(guest_spec("runner", guest_iso), progress=no_progress,
                                cancel=CancelToken())
    backend.start(machine_id)
    files = backend.store.files(machine_id)
    files.runtime.write_text('{"pid": ', encoding="utf-8")
    assert backend.get_machine(machine_id).state is PowerState.RUNNING
    with pytest.raises(InvalidState):
        backend.delete(machine_id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())
    backend.power_off(machine_id)  # still reachable: found by its command line
    assert backend.get_machine(machine_id).state is PowerState.OFF


def test_a_damaged_snapshot_book_is_kept_and_rebuilt_from_the_disks(backend):
    machine_id = make(backend, "snappy")
    backend.take_snapshot(machine_id, "first", progress=no_progress, cancel=CancelToken())
    files = backend.store.files(machine_id)
    files.snapshots.write_text('{"current": "x", "snapsh', encoding="utf-8")
    [recovered] = backend.list_snapshots(machine_id)[0]
    assert recovered.name.startswith("Recovered dvm-")
    assert list(files.folder.glob("snapshots.json.damaged-*"))
    backend.take_snapshot(machine_id, "second", progress=no_progress, cancel=CancelToken())
    tree, _ = backend.list_snapshots(machine_id)
    flat = [tree[0], *tree[0].children]
    assert {s.name for s in flat} == {recovered.name, "second"}
    backend.restore_snapshot(machine_id, recovered.id, progress=no_progress,
                             cancel=CancelToken())  # the first snapshot is still usable


def test_a_machine_whose_record_cannot_be_read_stays_listed_with_the_reason(backend):
    """#21 §4: not silently missing; listed as unknown, saying which file and why."""
    healthy, broken = make(backend, "healthy"), make(backend, "broken")
    backend.store.files(broken).spec.write_text("{ not json", encoding="utf-8")
    listed = {m.id: m for m in backend.list_machines()}
    assert listed[healthy].problem == "" and listed[healthy].state is PowerState.OFF
    damaged = listed[broken]
    assert damaged.state is PowerState.UNKNOWN
    assert "record cannot be read" in damaged.problem and "machine.json" in damaged.problem
    assert "changes nothing in that folder" in damaged.problem
    assert damaged.name == broken  # its folder's name: the spec, with the name, is unreadable
