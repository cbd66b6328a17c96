"""The backend over the VBoxManage double: what conformance does not cover, call counts, replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.model import (
    CpuSpec,
    DiskFormat,
    MachineSpec,
    MemorySpec,
    NetworkAttachment,
    OpticalDrive,
    SerialMode,
    defaults_for,
)
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.testing.doubles.virtualbox.double import FakeVBox


def small(name: str) -> MachineSpec:
    """A machine with nothing attached: three VBoxManage calls to create."""
    return MachineSpec(name=name, os="other-linux", memory=MemorySpec(size_mib=64), network=(),
                       serial=(), storage=())


def create(backend: VirtualBoxBackend, spec: MachineSpec) -> str:
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def count(fake: FakeVBox, command: str) -> int:
    return sum(1 for argv in fake.calls() if argv[:1] == [command])


def test_inventory_costs_two_calls_once_machines_are_known(backend, fake: FakeVBox):
    ids = [create(backend, small(f"m{i}")) for i in range(3)]
    runner = fake.runner()
    fake.forget_calls()
    assert len(backend.list_machines()) == 3
    assert (len(fake.calls()), count(fake, "showvminfo")) == (5, 3)  # 2 lists + one per machine
    fake.forget_calls()
    backend.list_machines()
    assert fake.calls() == [["list", "vms"], ["list", "runningvms"]]
    runner.run(["startvm", ids[0], "--type=headless"])
    runner.run(["modifyvm", ids[1], "--memory=96"])  # changed behind our back: .vbox rewritten
    fake.forget_calls()
    summaries = {m.id: m for m in backend.list_machines()}
    assert count(fake, "showvminfo") == 2
    assert summaries[ids[0]].state is PowerState.RUNNING
    assert summaries[ids[1]].memory_mib == 96
    fake.forget_calls()
    backend.list_machines()
    assert count(fake, "showvminfo") == 1  # only the running one, to tell running from paused


def test_one_unreadable_machine_does_not_hide_the_others(backend, fake: FakeVBox):
    broken, fine = create(backend, small("broken")), create(backend, small("fine"))
    fake.fault(["showvminfo", broken], stderr="VBoxManage: error: Runtime error opening "
               "'/x/broken.vbox' for reading: -102 (File not found.)\n", exit=1)
    states = {m.name: m.state for m in backend.list_machines()}
    assert states == {"broken": PowerState.UNKNOWN, "fine": PowerState.OFF}
    assert fine in {m.id for m in backend.list_machines()}


def test_create_reads_back_what_it_wrote_on_every_version(versioned: FakeVBox):
    backend = versioned.backend()
    spec = defaults_for("windows11", backend.capabilities(), name="Windows 11 ‘lab’")
    machine_id = create(backend, spec)
    got = backend.get_machine(machine_id).spec
    assert got.os == "windows11"
    assert (got.name, got.cpu, got.memory, got.firmware) == (spec.name, spec.cpu, spec.memory,
                                                             spec.firmware)
    assert [(c.kind, len(c.disks), len(c.optical)) for c in got.storage] == \
        [(c.kind, len(c.disks), len(c.optical)) for c in spec.storage]
    assert [(n.attachment, n.model) for n in got.network] == \
        [(n.attachment, n.model) for n in spec.network]
    assert (got.usb, got.boot_order, got.display) == (spec.usb, spec.boot_order, spec.display)
    assert [p.mode for p in got.serial] == [SerialMode.SOCKET]
    tpm_expected = versioned.state()["version"] >= "7"
    assert spec.firmware.tpm is tpm_expected and spec.firmware.secure_boot is tpm_expected
    ostype = next(vm["ostype"] for vm in versioned.state()["vms"].values())
    assert ostype == ("Windows10_64" if versioned.state()["version"].startswith("6.1")
                      else "Windows11_64")


def test_update_runs_only_the_changed_commands(backend, fake: FakeVBox):
    machine_id = create(backend, defaults_for("other-linux", backend.capabilities(), name="u"))
    old = backend.get_machine(machine_id).spec
    fake.forget_calls()
    new = old.model_copy(update={"cpu": CpuSpec(count=3), "notes": "hello"})
    backend.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    assert fake.calls() == [["showvminfo", machine_id, "--machinereadable"],
                            ["modifyvm", machine_id, "--description=hello", "--cpus=3",
                             "--nested-hw-virt=off"]]
    assert backend.get_machine(machine_id).spec == new


def test_update_adds_a_disk_next_to_the_others(backend, fake: FakeVBox):
    machine_id = create(backend, defaults_for("other-linux", backend.capabilities(), name="d"))
    old = backend.get_machine(machine_id).spec
    disks = old.storage[0].disks
    grown = old.storage[0].model_copy(update={"disks": (*disks, disks[0].model_copy(update={
        "path": "", "existing": False, "size_bytes": 1024**3, "port": 1}))})
    new = old.model_copy(update={"storage": (grown, *old.storage[1:])})
    backend.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    paths = [Path(d.path) for d in backend.get_machine(machine_id).spec.storage[0].disks]
    assert [p.name for p in paths] == ["disk0.vdi", "disk1.vdi"] and all(p.exists() for p in paths)


def test_running_machines_change_dvds_and_networks_live_only(backend, fake: FakeVBox, tmp_path):
    machine_id = create(backend, defaults_for("other-linux", backend.capabilities(), name="r"))
    backend.start(machine_id)
    old = backend.get_machine(machine_id).spec
    iso = tmp_path / "tool.iso"
    iso.write_bytes(b"iso")
    sata = old.storage[1].model_copy(update={"optical": (OpticalDrive(iso=str(iso)),)})
    nic = old.network[0].model_copy(update={"attachment": NetworkAttachment.INTERNAL,
                                            "network": "lab"})
    new = old.model_copy(update={"storage": (old.storage[0], sata), "network": (nic,)})
    fake.forget_calls()
    backend.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    assert [c[0] for c in fake.calls()] == ["showvminfo", "storageattach", "controlvm"]
    got = backend.get_machine(machine_id).spec
    assert got.storage[1].optical[0].iso == str(iso) and got.network[0].network == "lab"
    with pytest.raises(InvalidState, match="Shut down r to change memory"):
        backend.update(machine_id, got, got.model_copy(update={"memory": MemorySpec(size_mib=99)}),
                       progress=no_progress, cancel=CancelToken())


def test_recreating_a_machine_whose_disks_were_kept_picks_new_disk_names(backend):
    spec = defaults_for("other-linux", backend.capabilities(), name="again")
    first = create(backend, spec)
    [kept] = backend.get_machine(first).spec.all_disks()
    backend.delete(first, delete_disks=False, progress=no_progress, cancel=CancelToken())
    second = create(backend, spec)
    [(_, new)] = backend.get_machine(second).spec.all_disks()
    assert Path(kept[1].path).exists() and Path(new.path).name == "disk1.vdi"


def test_a_failing_create_removes_the_machine_and_its_new_disks(backend, fake: FakeVBox):
    fake.fault(["storageattach"], stderr="VBoxManage: error: Could not attach\n", exit=1)
    with pytest.raises(CommandFailed, match="Could not attach"):
        create(backend, defaults_for("other-linux", backend.capabilities(), name="broken"))
    assert backend.list_machines() == []
    assert fake.state()["media"] == {}
    assert not list(fake.machine_folder.rglob("*.vdi"))
    assert count(fake, "unregistervm") == 1


def test_cancelling_a_create_while_its_disk_is_made_leaves_nothing(backend, fake: FakeVBox):
    fake.set(progress_delay=0.2)
    token = CancelToken()

    def progress(fraction: float | None, stage: str) -> None:
        if stage == "Creating disks" and fraction and fraction > 0.3:
            token.cancel()

    with pytest.raises(OperationCancelled):
        backend.create(defaults_for("other-linux", backend.capabilities(), name="c"),
                       progress=progress, cancel=token)
    assert backend.list_machines() == [] and not list(fake.machine_folder.rglob("*.vdi"))


def test_snapshots_keep_descriptions_times_and_memory(backend, fake: FakeVBox):
    machine_id = create(backend, small("s"))
    first = backend.take_snapshot(machine_id, "-first", description='multi\n"line"',
                                  progress=no_progress, cancel=CancelToken())
    backend.start(machine_id)
    live = backend.take_snapshot(machine_id, "live", progress=no_progress, cancel=CancelToken())
    take = [c for c in fake.calls() if c[:1] == ["snapshot"] and "take" in c][-1]
    assert "--live" in take and live.has_memory
    roots, current = backend.list_snapshots(machine_id)
    assert current == live.id and roots[0].name == "-first"
    assert roots[0].description == 'multi\n"line"' and roots[0].created.endswith("Z")
    with pytest.raises(InvalidState, match="Power off"):
        backend.restore_snapshot(machine_id, first.id, progress=no_progress,
                                 cancel=CancelToken())
    with pytest.raises(MachineNotFound, match="No snapshot"):
        backend.delete_snapshot(machine_id, "0badc0de-0000-4000-8000-000000000000",
                                progress=no_progress, cancel=CancelToken())
    backend.power_off(machine_id)
    backend.restore_snapshot(machine_id, first.id, progress=no_progress, cancel=CancelToken())
    assert backend.list_snapshots(machine_id)[1] == first.id


def test_clones_full_and_linked_from_a_given_snapshot(backend, fake: FakeVBox):
    machine_id = create(backend, defaults_for("other-linux", backend.capabilities(), name="o"))
    base = backend.take_snapshot(machine_id, "base", progress=no_progress, cancel=CancelToken())
    linked = backend.clone(machine_id, "linked", linked=True, snapshot_id=base.id,
                           progress=no_progress, cancel=CancelToken())
    clone_call = next(c for c in fake.calls() if c[0] == "clonevm")
    assert f"--snapshot={base.id}" in clone_call and "--options=link" in clone_call
    full = backend.clone(machine_id, "full", progress=no_progress, cancel=CancelToken())
    assert "--mode=machine" in [c for c in fake.calls() if c[0] == "clonevm"][-1]
    assert {m.name for m in backend.list_machines()} == {"o", "linked", "full"}
    assert backend.get_machine(linked).spec.storage[0].disks[0].path.endswith("}.vdi")
    assert backend.get_machine(full).summary.state is PowerState.OFF


def test_export_and_import_with_progress(backend, fake: FakeVBox, tmp_path: Path):
    machine_id = create(backend, defaults_for("other-linux", backend.capabilities(), name="x"))
    reports: list[tuple[float | None, str]] = []
    target = tmp_path / "out" / "x.ova"
    backend.export(machine_id, target, progress=lambda f, s: reports.append((f, s)),
                   cancel=CancelToken())
    assert target.exists() and reports[-1] == (1.0, "Exported")
    with pytest.raises(CommandFailed, match="already exists"):
        backend.export(machine_id, target, progress=no_progress, cancel=CancelToken())
    with pytest.raises(UnsupportedOperation):
        backend.export(machine_id, tmp_path / "x.zip", progress=no_progress, cancel=CancelToken())
    stages: list[str] = []
    imported = backend.import_machine(target, name="y", progress=lambda f, s: stages.append(s),
                                      cancel=CancelToken())
    assert backend.get_machine(imported).summary.name == "y"
    assert stages[0] == "Reading the appliance" and "Importing disks" in stages


def test_disks(backend, tmp_path: Path):
    path = tmp_path / "disks" / "a.vdi"
    info = backend.create_disk(path, DiskFormat.VDI, 3 * 1024**2 + 1, progress=no_progress,
                               cancel=CancelToken())
    assert (info.format, info.virtual_size) == ("vdi", 4 * 1024**2)
    assert backend.resize_disk(path, 8 * 1024**2, progress=no_progress,
                               cancel=CancelToken()).virtual_size == 8 * 1024**2
    with pytest.raises(UnsupportedOperation, match="bigger"):
        backend.resize_disk(path, 1024**2, progress=no_progress, cancel=CancelToken())
    copy = backend.convert_disk(path, tmp_path / "a.vmdk", DiskFormat.VMDK,
                                progress=no_progress, cancel=CancelToken())
    assert copy.format == "vmdk" and Path(copy.path).exists()
    with pytest.raises(UnsupportedOperation):
        backend.create_disk(tmp_path / "b.vhdx", DiskFormat.VHDX, 1024**2, progress=no_progress,
                            cancel=CancelToken())
    with pytest.raises(CommandFailed, match="already exists"):
        backend.create_disk(path, DiskFormat.VDI, 1024**2, progress=no_progress,
                            cancel=CancelToken())


def test_console_keyboard_and_screenshot(backend, fake: FakeVBox):
    machine_id = create(backend, defaults_for("other-linux", backend.capabilities(), name="k"))
    with pytest.raises(InvalidState):
        backend.screenshot(machine_id)
    backend.start(machine_id)
    endpoints = backend.console(machine_id)
    assert endpoints.native_viewer[1:] == ("--startvm", machine_id, "--separate")
    assert endpoints.serial is not None and endpoints.serial.unix_socket.endswith("com1.sock")
    assert backend.screenshot(machine_id).startswith(b"\x89PNG")
    backend.type_text(machine_id, "-root\r\n")
    backend.send_keys(machine_id, ["ctrl-alt-delete", "Alt+F2"])
    keyboard = [c for c in fake.calls() if c[0] == "controlvm" and c[2].startswith("keyboard")]
    assert keyboard == [
        ["controlvm", machine_id, "keyboardputstring", "-root\n"],
        ["controlvm", machine_id, "keyboardputscancode", "1d", "38", "e0", "53", "e0", "d3",
         "b8", "9d", "38", "3c", "bc", "b8"]]
    with pytest.raises(UnsupportedOperation, match="ASCII"):
        backend.type_text(machine_id, "ü")
    with pytest.raises(UnsupportedOperation, match="unknown key"):
        backend.send_keys(machine_id, ["ctrl-hyper"])


def test_capabilities_and_host_per_version(versioned: FakeVBox):
    backend = versioned.backend()
    caps = backend.capabilities()
    old = versioned.state()["version"].startswith("6.1")
    assert caps.tpm is not old and caps.secure_boot is not old
    assert ("7.0" in caps.tpm_unavailable_reason) is old
    assert (caps.max_cpus, caps.max_memory_mib) == (4, 8192)
    networks = {(n.attachment, n.name) for n in backend.host_info().networks}
    assert ("bridged", "eth0") in networks and ("nat", "") in networks


def test_machine_ids_are_uuids_and_nothing_runs_for_others(backend, fake: FakeVBox):
    for bad in ("-rf", "name with spaces", ""):
        with pytest.raises(MachineNotFound):
            backend.get_machine(bad)
    assert fake.calls() == []


def test_too_old_a_virtualbox_is_unavailable(fake: FakeVBox):
    fake.fault(["--version"], stdout="5.2.44r139111\n")
    probe = fake.backend().probe()
    assert not probe.available and "6.1" in probe.reason


def test_replaying_real_captures_through_the_backend(shared_fixtures: Path, fake: FakeVBox):
    """Recorded outputs stand in for VirtualBox: list vms, then showvminfo of that machine."""
    uuid = "6294f16b-4f05-4430-afb9-773bdb237aec"
    fake.fault(["list", "vms"], stdout_file=str(shared_fixtures / "chef_ohai_list_vms.txt"))
    fake.fault(["list", "runningvms"], stdout="")
    fake.fault(["showvminfo", uuid], stdout_file=str(
        shared_fixtures / "chef_ohai_showvminfo_mr_poweroff_with_snapshot.txt"))
    backend = fake.backend()
    [summary] = backend.list_machines()
    assert (summary.id, summary.state, summary.memory_mib) == (uuid, PowerState.OFF, 1024)
    info = backend.get_machine(uuid)
    assert info.current_snapshot == "085cbbec-70cd-4864-9208-5d938dcabb71"
    assert info.spec.storage[1].disks[0].format is DiskFormat.VMDK
