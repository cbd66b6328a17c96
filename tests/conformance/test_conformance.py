"""The conformance suite: the same behaviour from every backend, parametrised over harnesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.model import MAX_NAME_LENGTH, CpuSpec, MemorySpec, errors, printable, validate
from desktopvm.protocol import (
    CancelToken,
    InvalidSpec,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from tests.conformance.harness import HARNESSES, Harness
from tests.conformance.live import remove_own

NO_SUCH_ID = "00000000-dead-beef-0000-000000000000"


@pytest.fixture(params=[pytest.param(name, marks=marks) for name, (_, marks) in HARNESSES.items()])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    factory, _ = HARNESSES[request.param]
    with factory(tmp_path) as harness:
        before = {m.id for m in harness.backend.list_machines()}
        yield harness
        strays = [m.name for m in harness.backend.list_machines()
                  if m.id not in before and not m.name.startswith(harness.prefix)]
        remove_own(harness.backend, harness.prefix, before)
        assert not strays, f"the test made machines without the harness prefix: {strays}"


def create(harness: Harness, label: str) -> str:
    return harness.backend.create(harness.make_spec(harness.name(label)), progress=no_progress,
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
    spec = harness.make_spec(harness.name("probe-check"))
    assert errors(validate(spec, caps)) == []


def test_create_lists_the_machine_off_with_its_hardware(harness: Harness):
    spec = harness.make_spec(harness.name("conformance create ‘quoted’ \"name\""))
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
    bad = harness.make_spec(harness.name("bad")).model_copy(update={"cpu": CpuSpec(count=0)})
    with pytest.raises(InvalidSpec) as caught:
        harness.backend.create(bad, progress=no_progress, cancel=CancelToken())
    assert any(p.field == "cpu.count" for p in caught.value.problems)
    assert harness.backend.list_machines() == before


def test_cancelled_create_leaves_nothing_behind(harness: Harness, tmp_path: Path):
    before = harness.backend.list_machines()
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelled):
        harness.backend.create(harness.make_spec(harness.name("cancelled")), progress=no_progress,
                               cancel=token)
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
    clone_id = backend.clone(machine_id, harness.name("the clone"), progress=no_progress,
                             cancel=CancelToken())
    assert clone_id != machine_id
    clone = backend.get_machine(clone_id)
    assert clone.summary.name == harness.name("the clone")
    assert clone.spec.cpu == backend.get_machine(machine_id).spec.cpu
    assert set(disk_paths(harness, clone_id)).isdisjoint(disk_paths(harness, machine_id))


def test_linked_clone_where_supported(harness: Harness):
    backend = harness.backend
    if not backend.capabilities().linked_clone:
        pytest.skip(f"{backend.display_name} declares no linked clones")
    machine_id = create(harness, "base")
    clone_id = backend.clone(machine_id, harness.name("linked"), linked=True, progress=no_progress,
                             cancel=CancelToken())
    assert backend.get_machine(clone_id).summary.name == harness.name("linked")


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


# -- the one naming rule (desktopvm.model.names), applied by every operation that sets a name --

def name_limit(harness: Harness) -> int:
    return min(MAX_NAME_LENGTH, harness.backend.capabilities().max_name_length)


def bad_names(harness: Harness) -> list[str]:
    """Names every backend must refuse (review D6/D9); all but the blank ones carry the prefix."""
    return ["", "   ", "\t", " " + harness.name("lead"), harness.name("trail "),
            harness.name("new\nline"), harness.name("cr\rname"), harness.name("tab\tname"),
            harness.name("esc\x1b[2J"), harness.name("bell\x07"), harness.name("nel\x85"),
            harness.name("csi\x9b31m"), harness.name("sep\u2028"),
            harness.name("x" * name_limit(harness))]


def name_at_limit(harness: Harness, fill: str) -> str:
    return harness.name(fill * (name_limit(harness) - len(harness.prefix)))


def assert_refused_for_its_name(caught: pytest.ExceptionInfo[InvalidSpec], name: str) -> None:
    assert {p.field for p in caught.value.problems} == {"name"}, repr(name)
    assert printable(str(caught.value)) == str(caught.value), "a raw control character"


def test_create_refuses_every_name_the_rule_refuses(harness: Harness):
    before = harness.backend.list_machines()
    spec = harness.make_spec(harness.name("valid"))
    for name in bad_names(harness):
        with pytest.raises(InvalidSpec) as caught:
            harness.backend.create(spec.model_copy(update={"name": name}),
                                   progress=no_progress, cancel=CancelToken())
        assert_refused_for_its_name(caught, name)
    assert harness.backend.list_machines() == before


def test_clone_refuses_every_name_the_rule_refuses_and_makes_nothing(harness: Harness):
    backend = harness.backend
    machine_id = create(harness, "name source")
    before = backend.list_machines()
    snapshots_before = backend.list_snapshots(machine_id)
    for name in bad_names(harness):
        for linked in [False, True] if backend.capabilities().linked_clone else [False]:
            with pytest.raises(InvalidSpec) as caught:
                backend.clone(machine_id, name, linked=linked, progress=no_progress,
                              cancel=CancelToken())
            assert_refused_for_its_name(caught, name)
    assert backend.list_machines() == before
    assert backend.list_snapshots(machine_id) == snapshots_before  # no "Base of …" snapshot
    longest = name_at_limit(harness, "c")
    clone_id = backend.clone(machine_id, longest, progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(clone_id).summary.name == longest


def test_rename_refuses_every_name_the_rule_refuses(harness: Harness):
    backend = harness.backend
    machine_id = create(harness, "rename me")
    old = backend.get_machine(machine_id).spec
    for name in bad_names(harness):
        with pytest.raises(InvalidSpec) as caught:
            backend.update(machine_id, old, old.model_copy(update={"name": name}),
                           progress=no_progress, cancel=CancelToken())
        assert_refused_for_its_name(caught, name)
    assert backend.get_machine(machine_id).spec.name == old.name
    longest = name_at_limit(harness, "r")
    backend.update(machine_id, old, old.model_copy(update={"name": longest}),
                   progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(machine_id).summary.name == longest


def exported(harness: Harness, machine_id: str, folder: Path) -> Path:
    """The machine exported as an OVA, or in the backend's own format (a folder); or skip."""
    backend = harness.backend
    try:
        backend.export(machine_id, folder / "appliance.ova", progress=no_progress,
                       cancel=CancelToken())
        return folder / "appliance.ova"
    except UnsupportedOperation:
        pass
    try:
        backend.export(machine_id, folder / "exported", progress=no_progress,
                       cancel=CancelToken())
    except UnsupportedOperation as error:
        pytest.skip(f"{backend.display_name} cannot export: {error.summary}")
    [export] = (folder / "exported").iterdir()
    return export


def test_import_refuses_every_name_the_rule_refuses_and_makes_nothing(harness: Harness,
                                                                        tmp_path: Path):
    backend = harness.backend
    appliance = exported(harness, create(harness, "export me"), tmp_path)
    # A damaged appliance of the same kind: the name is refused before the appliance is read,
    # so a name check that came only after unpacking or converting would be seen here.
    junk = tmp_path / f"junk{appliance.suffix}"
    if appliance.is_dir():
        junk.mkdir()
    else:
        junk.write_bytes(b"not an appliance")
    before = backend.list_machines()
    for name in bad_names(harness)[1:]:  # "" asks for the appliance's own name
        for source in (appliance, junk):
            with pytest.raises(InvalidSpec) as caught:
                backend.import_machine(source, name=name, progress=no_progress,
                                       cancel=CancelToken())
            assert_refused_for_its_name(caught, name)
    assert backend.list_machines() == before
    longest = name_at_limit(harness, "i")
    imported = backend.import_machine(appliance, name=longest, progress=no_progress,
                                      cancel=CancelToken())
    assert backend.get_machine(imported).summary.name == longest
