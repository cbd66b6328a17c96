"""The conformance suite: the same behaviour from every backend, parametrised over harnesses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.model import CpuSpec, MemorySpec, errors, validate
from desktopvm.protocol import (
    Backend,
    CancelToken,
    InvalidSpec,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    PowerState,
    no_progress,
)
from tests.conformance.harness import HARNESSES, Harness

NO_SUCH_ID = "00000000-dead-beef-0000-000000000000"


@pytest.fixture(params=[pytest.param(name, marks=marks) for name, (_, marks) in HARNESSES.items()])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    factory, _ = HARNESSES[request.param]
    with factory(tmp_path) as harness:
        yield harness
        _remove_all(harness.backend)


def _remove_all(backend: Backend) -> None:
    for machine in backend.list_machines():
        if machine.state.is_active or machine.state is PowerState.SAVED:
            with contextlib.suppress(InvalidState):
                backend.power_off(machine.id)
        backend.delete(machine.id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())


def create(harness: Harness, name: str) -> str:
    return harness.backend.create(harness.make_spec(name), progress=no_progress,
                                  cancel=CancelToken())


def disk_paths(harness: Harness, machine_id: str) -> list[Path]:
    spec = harness.backend.get_machine(machine_id).spec
    return [Path(d.path) for _, d in spec.all_disks()]


def test_probe_and_capabilities(harness: Harness):
    backend = harness.backend
    probe = backend.probe()
    assert probe.available, probe.reason
    caps = backend.capabilities()
    assert caps.max_cpus >= 1 and caps.max_memory_mib >= caps.min_memory_mib
    spec = harness.make_spec("probe-check")
    assert errors(validate(spec, caps)) == []


def test_create_lists_the_machine_off_with_its_hardware(harness: Harness):
    spec = harness.make_spec("conformance create ‘quoted’ \"name\"")
    machine_id = harness.backend.create(spec, progress=no_progress, cancel=CancelToken())
    [summary] = [m for m in harness.backend.list_machines() if m.id == machine_id]
    assert summary.name == spec.name
    assert summary.state is PowerState.OFF
    info = harness.backend.get_machine(machine_id)
    assert info.spec.name == spec.name
    assert info.spec.cpu.count == spec.cpu.count
    assert info.spec.memory.size_mib == spec.memory.size_mib
    assert info.spec.firmware.kind == spec.firmware.kind
    assert len(info.spec.all_disks()) == len(spec.all_disks())
    assert all(path.exists() for path in disk_paths(harness, machine_id))


def test_invalid_spec_is_refused_and_nothing_is_created(harness: Harness):
    before = harness.backend.list_machines()
    bad = harness.make_spec("bad").model_copy(update={"cpu": CpuSpec(count=0)})
    with pytest.raises(InvalidSpec) as caught:
        harness.backend.create(bad, progress=no_progress, cancel=CancelToken())
    assert any(p.field == "cpu.count" for p in caught.value.problems)
    assert harness.backend.list_machines() == before


def test_cancelled_create_leaves_nothing_behind(harness: Harness, tmp_path: Path):
    before = harness.backend.list_machines()
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelled):
        harness.backend.create(harness.make_spec("cancelled"), progress=no_progress, cancel=token)
    assert harness.backend.list_machines() == before


def test_lifecycle_start_pause_resume_power_off(harness: Harness):
    machine_id = create(harness, "lifecycle")
    backend = harness.backend
    backend.start(machine_id)
    harness.wait_for_state(machine_id, PowerState.RUNNING)
    backend.pause(machine_id)
    harness.wait_for_state(machine_id, PowerState.PAUSED)
    backend.resume(machine_id)
    harness.wait_for_state(machine_id, PowerState.RUNNING)
    backend.power_off(machine_id)
    harness.wait_for_state(machine_id, PowerState.OFF)


def test_acpi_shutdown_reaches_off(harness: Harness):
    machine_id = create(harness, "acpi")
    harness.backend.start(machine_id)
    harness.wait_for_state(machine_id, PowerState.RUNNING)
    harness.wait_until_guest_ready(machine_id)
    harness.backend.shutdown(machine_id)
    harness.wait_for_state(machine_id, PowerState.OFF, timeout=60)


def test_invalid_state_transitions_are_refused(harness: Harness):
    machine_id = create(harness, "states")
    backend = harness.backend
    with pytest.raises(InvalidState):
        backend.pause(machine_id)
    with pytest.raises(InvalidState):
        backend.power_off(machine_id)
    backend.start(machine_id)
    harness.wait_for_state(machine_id, PowerState.RUNNING)
    with pytest.raises(InvalidState):
        backend.start(machine_id)
    with pytest.raises(InvalidState):
        backend.delete(machine_id, delete_disks=False, progress=no_progress,
                       cancel=CancelToken())
    backend.power_off(machine_id)
    harness.wait_for_state(machine_id, PowerState.OFF)


def test_update_applies_changes_and_refuses_offline_fields_while_running(harness: Harness):
    machine_id = create(harness, "update")
    backend = harness.backend
    old = backend.get_machine(machine_id).spec
    new = old.model_copy(update={"cpu": CpuSpec(count=2), "memory": MemorySpec(size_mib=384),
                                 "notes": "changed by the suite"})
    backend.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    got = backend.get_machine(machine_id).spec
    assert (got.cpu.count, got.memory.size_mib, got.notes) == (2, 384, "changed by the suite")
    backend.start(machine_id)
    harness.wait_for_state(machine_id, PowerState.RUNNING)
    more = got.model_copy(update={"cpu": CpuSpec(count=1)})
    with pytest.raises(InvalidState):
        backend.update(machine_id, got, more, progress=no_progress, cancel=CancelToken())
    backend.power_off(machine_id)
    harness.wait_for_state(machine_id, PowerState.OFF)
    assert backend.get_machine(machine_id).spec.cpu.count == 2


def test_snapshot_tree_take_restore_delete(harness: Harness):
    machine_id = create(harness, "snapshots")
    backend = harness.backend
    first = backend.take_snapshot(machine_id, "first", description="the base",
                                  include_memory=False, progress=no_progress,
                                  cancel=CancelToken())
    second = backend.take_snapshot(machine_id, "second", include_memory=False,
                                   progress=no_progress, cancel=CancelToken())
    roots, current = backend.list_snapshots(machine_id)
    assert [r.name for r in roots] == ["first"]
    assert roots[0].description == "the base"
    assert [c.name for c in roots[0].children] == ["second"]
    assert current == second.id
    backend.restore_snapshot(machine_id, first.id, progress=no_progress, cancel=CancelToken())
    assert backend.list_snapshots(machine_id)[1] == first.id
    backend.delete_snapshot(machine_id, second.id, progress=no_progress, cancel=CancelToken())
    roots, current = backend.list_snapshots(machine_id)
    assert [s.name for r in roots for s in r.walk()] == ["first"]
    assert current == first.id


def test_full_clone_is_a_new_machine(harness: Harness):
    machine_id = create(harness, "original")
    backend = harness.backend
    clone_id = backend.clone(machine_id, "the clone", progress=no_progress, cancel=CancelToken())
    assert clone_id != machine_id
    clone = backend.get_machine(clone_id)
    assert clone.summary.name == "the clone"
    assert clone.spec.cpu == backend.get_machine(machine_id).spec.cpu
    assert set(disk_paths(harness, clone_id)).isdisjoint(disk_paths(harness, machine_id))


def test_linked_clone_where_supported(harness: Harness):
    backend = harness.backend
    if not backend.capabilities().linked_clone:
        pytest.skip(f"{backend.display_name} declares no linked clones")
    machine_id = create(harness, "base")
    clone_id = backend.clone(machine_id, "linked", linked=True, progress=no_progress,
                             cancel=CancelToken())
    assert backend.get_machine(clone_id).summary.name == "linked"


def test_delete_keeps_disks_unless_asked(harness: Harness):
    backend = harness.backend
    kept_id = create(harness, "keep disks")
    kept = disk_paths(harness, kept_id)
    backend.delete(kept_id, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert kept_id not in {m.id for m in backend.list_machines()}
    assert kept and all(p.exists() for p in kept)
    gone_id = create(harness, "drop disks")
    gone = disk_paths(harness, gone_id)
    backend.delete(gone_id, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert gone and not any(p.exists() for p in gone)


def test_unknown_machine_is_machine_not_found(harness: Harness):
    backend = harness.backend
    with pytest.raises(MachineNotFound):
        backend.get_machine(NO_SUCH_ID)
    with pytest.raises(MachineNotFound):
        backend.start(NO_SUCH_ID)
    with pytest.raises(MachineNotFound):
        backend.delete(NO_SUCH_ID, delete_disks=True, progress=no_progress, cancel=CancelToken())
