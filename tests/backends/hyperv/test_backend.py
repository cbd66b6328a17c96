"""HyperVBackend end to end over the PowerShell double: probe, create, inventory, consoles."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.errors import PermissionDenied
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import (
    ControllerKind,
    DiskFormat,
    DynamicMemory,
    LiveChange,
    MemorySpec,
    NetworkAttachment,
    SecureBootTemplate,
    defaults_for,
)
from desktopvm.protocol import (
    CancelToken,
    InvalidSpec,
    InvalidState,
    OperationCancelled,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost


@pytest.fixture
def backend(fake_host: FakeHost, tmp_path: Path) -> Iterator[HyperVBackend]:
    hyperv = HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                           metadata=MetadataStore("localhost", tmp_path / "metadata"))
    yield hyperv
    hyperv.close()


def make(backend: HyperVBackend, os_id: str = "debian12", name: str = "vm",
         **update: object) -> str:
    spec = defaults_for(os_id, backend.capabilities(), name=name)
    if update:
        spec = spec.model_copy(update=update)
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def test_probe_reports_versions(backend: HyperVBackend):
    result = backend.probe()
    assert result.available, result.reason
    assert "Hyper-V module 2.0.0.0" in result.version and "PowerShell 5.1" in result.version


def test_probe_names_hyper_v_administrators_when_refused(backend: HyperVBackend,
                                                         fake_host: FakeHost):
    fake_host.update(lambda s: s["probe"].update(can_manage=False))
    result = backend.probe()
    assert not result.available
    assert "Hyper-V Administrators" in result.reason
    assert "Hyper-V Administrators" in result.install_hint


def test_probe_without_the_hyper_v_module(backend: HyperVBackend, fake_host: FakeHost):
    fake_host.update(lambda s: s["probe"].update(hyperv=False))
    result = backend.probe()
    assert not result.available and "module is not available" in result.reason
    assert "Enable-WindowsOptionalFeature" in result.install_hint


def test_an_operation_refused_for_permission_says_which_group(backend: HyperVBackend,
                                                              fake_host: FakeHost):
    fake_host.fault("list_vms", "error", error={
        "category": "PermissionDenied",
        "fqid": "AccessDenied,Microsoft.HyperV.PowerShell.Commands.GetVM",
        "message": "Sie haben nicht die erforderliche Berechtigung.", "type": "Microsoft.HyperV."
        "PowerShell.VirtualizationException"})
    with pytest.raises(PermissionDenied, match="Hyper-V Administrators"):
        backend.list_machines()


def test_probe_refuses_hosts_older_than_2016(backend: HyperVBackend, fake_host: FakeHost):
    """Review H5: 2012 R2 / 8.1 lack -SecureBootTemplate, checkpoint types, Remove-VMSavedState."""
    fake_host.update(lambda s: s["host"].update(OsVersion="6.3.9600.0"))
    result = backend.probe()
    assert not result.available
    assert "Windows Server 2016 (build 14393) or later" in result.reason
    fake_host.update(lambda s: s["host"].update(OsVersion="10.0.14393.0"))
    assert backend.probe().available


def test_checkpoint_names_have_1_to_100_characters(backend: HyperVBackend,
                                                   fake_host: FakeHost):
    """Review H12: checked before Checkpoint-VM sees the name."""
    vm_id = make(backend)
    for name in ("x" * 101, "   "):
        with pytest.raises(InvalidSpec, match="1 to 100 characters"):
            backend.take_snapshot(vm_id, name, progress=no_progress, cancel=CancelToken())
    assert "checkpoint_vm" not in fake_host.ops()
    backend.take_snapshot(vm_id, "x" * 100, progress=no_progress, cancel=CancelToken())


def test_capabilities_are_honest(backend: HyperVBackend, fake_host: FakeHost):
    caps = backend.capabilities()
    assert caps.dynamic_memory and caps.tpm and caps.secure_boot and caps.nested_virtualization
    assert caps.controller_kinds == {ControllerKind.IDE, ControllerKind.SCSI}
    assert caps.disk_formats == {DiskFormat.VHDX, DiskFormat.VHD}
    assert caps.network_attachments == {NetworkAttachment.NAT, NetworkAttachment.SWITCH,
                                        NetworkAttachment.NONE}
    assert SecureBootTemplate.MICROSOFT_UEFI_CA in caps.secure_boot_templates
    assert not caps.linked_clone and not caps.usb and not caps.vnc_console
    assert LiveChange.OPTICAL_MEDIA in caps.live_changes
    assert caps.max_cpus == 8
    fake_host.update(lambda s: s.update(switches=s["switches"][1:]))  # a server: no Default Switch
    assert backend.facts(fresh=True).default_switch == ""
    assert NetworkAttachment.NAT not in backend.capabilities().network_attachments


def test_host_info_lists_switches(backend: HyperVBackend):
    info = backend.host_info()
    assert (info.hostname, info.cpus, info.memory_mib) == ("FAKE-HYPERV", 8, 32 * 1024)
    assert [(n.attachment, n.name) for n in info.networks] == [
        ("nat", "Default Switch"), ("switch", "LAN ‘external’")]


def test_create_generation_2_round_trips(backend: HyperVBackend, fake_host: FakeHost):
    spec = defaults_for("windows11", backend.capabilities(), name="Win ‘11’ $(x)")
    spec = spec.model_copy(update={"memory": MemorySpec(
        size_mib=4096, dynamic=DynamicMemory(minimum_mib=2048, maximum_mib=8192))})
    vm_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    info = backend.get_machine(vm_id)
    got = info.spec
    assert (got.name, got.os, got.firmware) == (spec.name, "windows11", spec.firmware)
    assert got.memory == spec.memory and got.cpu == spec.cpu
    [scsi] = got.storage  # the catalog's IDE disk went onto SCSI: Generation 2 has no IDE
    assert scsi.kind is ControllerKind.SCSI
    assert Path(scsi.disks[0].path).is_file() and scsi.disks[0].size_bytes == 64 << 30
    assert got.network[0].attachment is NetworkAttachment.NAT
    assert info.state is PowerState.OFF and info.files == (scsi.disks[0].path,)
    [create] = [e for e in fake_host.log() if e["op"] == "create_vm"]
    assert create["args"]["SecureBootTemplate"] == "MicrosoftWindows" and create["args"]["Tpm"]


def test_create_generation_1_and_refusals(backend: HyperVBackend):
    vm_id = make(backend, "windows7", "seven")
    spec = backend.get_machine(vm_id).spec
    assert spec.firmware.kind.value == "bios"
    assert spec.storage[0].kind is ControllerKind.IDE and spec.storage[0].disks
    bad = spec.model_copy(update={"id": "", "memory": MemorySpec(size_mib=1023)})
    with pytest.raises(InvalidSpec, match="steps of 2 MiB"):
        backend.create(bad, progress=no_progress, cancel=CancelToken())


def test_inventory_and_details_are_one_request_each(backend: HyperVBackend, fake_host: FakeHost):
    ids = [make(backend, name=f"vm{i}") for i in range(5)]
    before = len(fake_host.log())
    machines = backend.list_machines()
    assert {m.id for m in machines} == set(ids)
    assert all(m.os == "debian12" and m.cpus == 2 and m.memory_mib == 2048 for m in machines)
    backend.get_machine(ids[0])
    assert fake_host.ops()[before:] == ["list_vms", "get_vm"]


def test_windows_powershell_51_quirks_all_the_way(backend: HyperVBackend, fake_host: FakeHost):
    vm_id = make(backend, name="quirky")
    fake_host.update(lambda s: s.update(ps51_quirks=True))
    backend.take_snapshot(vm_id, "one", include_memory=False, progress=no_progress,
                          cancel=CancelToken())
    [summary] = backend.list_machines()
    assert summary.state is PowerState.OFF
    info = backend.get_machine(vm_id)
    assert [s.name for s in info.snapshots] == ["one"]
    assert info.snapshots[0].created.endswith("+00:00")
    assert len(info.spec.all_disks()) == 1


def test_update_running_rules(backend: HyperVBackend):
    vm_id = make(backend)
    old = backend.get_machine(vm_id).spec
    backend.start(vm_id)
    renamed = old.model_copy(update={"name": "renamed", "notes": "live"})
    backend.update(vm_id, old, renamed, progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(vm_id).spec.name == "renamed"
    with pytest.raises(InvalidState, match="Shut down renamed to change memory"):
        backend.update(vm_id, renamed, renamed.model_copy(update={"memory": MemorySpec(
            size_mib=1024)}), progress=no_progress, cancel=CancelToken())


def test_the_iso_of_a_running_machine_changes(backend: HyperVBackend, fake_host: FakeHost,
                                              tmp_path: Path):
    """Review H1: a live ISO swap was followed by set_boot_order, which needs the VM off."""
    iso = tmp_path / "rescue.iso"
    iso.write_bytes(b"\0" * 2048)
    vm_id = make(backend, name="live iso")
    old = backend.get_machine(vm_id).spec
    backend.start(vm_id)
    controllers = list(old.storage)
    for index, controller in enumerate(controllers):
        if controller.optical:
            drive = controller.optical[0].model_copy(update={"iso": str(iso)})
            controllers[index] = controller.model_copy(update={"optical": (drive,)})
    new = old.model_copy(update={"storage": tuple(controllers)})
    assert new != old
    backend.update(vm_id, old, new, progress=no_progress, cancel=CancelToken())
    got = backend.get_machine(vm_id).spec
    assert [o.iso for c in got.storage for o in c.optical] == [str(iso)]
    assert "set_boot_order" not in fake_host.ops()


def test_delete_removes_disks_only_when_asked(backend: HyperVBackend):
    kept = make(backend, name="keep")
    kept_disks = [Path(p) for p in backend.get_machine(kept).files]
    backend.delete(kept, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert all(p.exists() for p in kept_disks)
    gone = make(backend, name="gone")
    backend.take_snapshot(gone, "s", progress=no_progress, cancel=CancelToken())
    gone_disks = [Path(p) for p in backend.get_machine(gone).files]
    backend.delete(gone, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not any(p.exists() for p in gone_disks)
    assert backend.metadata.os_ids() == {}


def test_a_create_cancelled_while_hyper_v_works_is_undone(backend: HyperVBackend,
                                                          fake_host: FakeHost):
    backend.capabilities()
    fake_host.fault("create_vm", "slow", seconds=0.6)
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    with pytest.raises(OperationCancelled):
        make_with(backend, token)
    assert backend.list_machines() == []
    folder = Path(fake_host.state()["host"]["VirtualMachinePath"])
    assert not any(folder.rglob("*.vhdx"))


def make_with(backend: HyperVBackend, token: CancelToken) -> str:
    spec = defaults_for("debian12", backend.capabilities(), name="cancel me")
    return backend.create(spec, progress=no_progress, cancel=token)


def test_lifecycle_and_guest_addresses(backend: HyperVBackend):
    vm_id = make(backend)
    backend.start(vm_id)
    assert backend.guest_addresses(vm_id)[0] == "172.20.0.10"
    assert backend.get_machine(vm_id).guest_addresses[0] == "172.20.0.10"
    backend.save_state(vm_id, progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(vm_id).state is PowerState.SAVED
    backend.power_off(vm_id)  # discards the saved state
    assert backend.get_machine(vm_id).state is PowerState.OFF
    with pytest.raises(InvalidState):
        backend.resume(vm_id)


def test_screenshot_is_a_png_from_rgb565(backend: HyperVBackend):
    vm_id = make(backend)
    with pytest.raises(InvalidState):
        backend.screenshot(vm_id)
    backend.start(vm_id)
    png = backend.screenshot(vm_id)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    idat = png[png.index(b"IDAT") + 4: png.index(b"IEND") - 8]
    rows = zlib.decompress(idat)
    assert (width, height, len(rows)) == (4, 2, 2 * (1 + 4 * 3))
    assert rows[1:13] == bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])


def test_typing_and_keys(backend: HyperVBackend, fake_host: FakeHost):
    vm_id = make(backend)
    backend.start(vm_id)
    backend.type_text(vm_id, "root\necho 'hi' $(x)\n")
    backend.send_keys(vm_id, ["ctrl-alt-delete", "Ctrl+Alt+F2", "enter"])
    assert fake_host.state()["typed"] == [
        {"Text": "root"}, {"CtrlAltDel": False, "Modifiers": [], "Key": 13},
        {"Text": "echo 'hi' $(x)"}, {"CtrlAltDel": False, "Modifiers": [], "Key": 13},
        {"CtrlAltDel": True, "Modifiers": [], "Key": 0},
        {"CtrlAltDel": False, "Modifiers": [17, 18], "Key": 113},
        {"CtrlAltDel": False, "Modifiers": [], "Key": 13}]
    with pytest.raises(UnsupportedOperation, match="ASCII"):
        backend.type_text(vm_id, "grüße")
    with pytest.raises(UnsupportedOperation):
        backend.send_keys(vm_id, ["hyper-x"])


def test_a_line_longer_than_typetext_takes_is_typed_whole(backend: HyperVBackend,
                                                           fake_host: FakeHost):
    """Review H2: the double refuses TypeText over 512 characters, as the real method does."""
    vm_id = make(backend)
    backend.start(vm_id)
    line = "ssh-ed25519 " + "A" * 1200
    backend.type_text(vm_id, line)
    typed = fake_host.state()["typed"]
    assert "".join(t["Text"] for t in typed) == line
    assert max(len(t["Text"]) for t in typed) == 512


def test_console_offers_vmconnect(backend: HyperVBackend):
    vm_id = make(backend, name="web ‘1’")
    endpoints = backend.console(vm_id)
    assert endpoints.native_viewer == ("vmconnect.exe", "localhost", "web ‘1’")
    assert endpoints.vnc is None


def test_clone_export_import(backend: HyperVBackend, tmp_path: Path, fake_host: FakeHost):
    vm_id = make(backend, name="original")
    clone_id = backend.clone(vm_id, "the ‘clone’", progress=no_progress, cancel=CancelToken())
    clone = backend.get_machine(clone_id)
    assert clone.summary.name == "the ‘clone’" and clone.spec.os == "debian12"
    assert set(clone.files).isdisjoint(backend.get_machine(vm_id).files)
    assert not any(Path(fake_host.state()["host"]["VirtualMachinePath"]).glob(".desktopvm-*"))
    backend.export(vm_id, tmp_path / "exports", progress=no_progress, cancel=CancelToken())
    assert (tmp_path / "exports" / "original" / "Virtual Machines").is_dir()
    imported = backend.import_machine(tmp_path / "exports" / "original", name="imported",
                                      progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(imported).summary.name == "imported"
    with pytest.raises(UnsupportedOperation):
        backend.export(vm_id, tmp_path / "x.ova", progress=no_progress, cancel=CancelToken())
    with pytest.raises(UnsupportedOperation):
        backend.clone(vm_id, "linked", linked=True, progress=no_progress, cancel=CancelToken())


def test_a_cancelled_clone_is_removed_after_hyper_v_finishes(backend: HyperVBackend,
                                                             fake_host: FakeHost):
    vm_id = make(backend, name="original")
    fake_host.fault("clone_vm", "slow", seconds=0.6)
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    with pytest.raises(OperationCancelled):
        backend.clone(vm_id, "copy", progress=no_progress, cancel=token)
    assert [m.id for m in backend.list_machines()] == [vm_id]


def test_disks(backend: HyperVBackend, tmp_path: Path):
    path = tmp_path / "disks" / "data ‘1’.vhdx"
    info = backend.create_disk(path, DiskFormat.VHDX, (1 << 30) + 5, progress=no_progress,
                               cancel=CancelToken())
    assert (info.format, info.virtual_size) == ("vhdx", (1 << 30) + (1 << 20))
    assert backend.resize_disk(path, 2 << 30, progress=no_progress,
                               cancel=CancelToken()).virtual_size == 2 << 30
    converted = backend.convert_disk(path, tmp_path / "disks" / "old.vhd", DiskFormat.VHD,
                                     progress=no_progress, cancel=CancelToken())
    assert converted.format == "vhd"
    assert backend.compact_disk(path).path == str(path)
    assert backend.disk_info(path).virtual_size == 2 << 30
    with pytest.raises(UnsupportedOperation, match="QCOW2"):
        backend.create_disk(tmp_path / "x.qcow2", DiskFormat.QCOW2, 1 << 30,
                            progress=no_progress, cancel=CancelToken())
    with pytest.raises(UnsupportedOperation, match=r"end in \.vhdx"):
        backend.create_disk(tmp_path / "x.vhd", DiskFormat.VHDX, 1 << 30,
                            progress=no_progress, cancel=CancelToken())


def test_a_checkpoint_without_memory_never_falls_back_to_one_with_memory(
        backend: HyperVBackend, fake_host: FakeHost):
    """Review H8: Production falls back to Standard (memory included); ProductionOnly fails."""
    from backends.hyperv.scripts import script_text
    from desktopvm.protocol import CommandFailed

    assert "'ProductionOnly'" in script_text("checkpoint_vm")
    vm_id = make(backend)
    backend.start(vm_id)
    fake_host.update(lambda s: s["vms"][vm_id].update(GuestBackup=False))
    with pytest.raises(CommandFailed, match="Production checkpoints cannot be created"):
        backend.take_snapshot(vm_id, "disk only", include_memory=False, progress=no_progress,
                              cancel=CancelToken())
    assert backend.get_machine(vm_id).snapshots == ()


def test_a_disk_in_use_is_not_compacted(backend: HyperVBackend):
    """Review H9: Optimize-VHD needs the disk detached (or mounted read-only)."""
    vm_id = make(backend)
    [disk] = backend.get_machine(vm_id).files
    backend.start(vm_id)
    with pytest.raises(InvalidState, match="shut the machine down to compact it"):
        backend.compact_disk(Path(disk))
    backend.power_off(vm_id)
    assert backend.compact_disk(Path(disk)).path == disk


def test_the_compact_script_mounts_read_only_for_full_mode():
    """Review H9: unmounted, Full mode on a VHDX silently becomes Prezeroed."""
    from backends.hyperv.scripts import script_text

    code = script_text("optimize_vhd")
    mount = code.index("Hyper-V\\Mount-VHD -Path $Path -ReadOnly -NoDriveLetter")
    assert mount < code.index("Hyper-V\\Optimize-VHD -Path $Path -Mode Full")
    assert "finally" in code and "Hyper-V\\Dismount-VHD" in code.split("finally", 1)[1]
    assert code.index(".Attached") < mount


def test_detect_and_open_through_the_registry(fake_host: FakeHost):
    from desktopvm.registry import Registry

    registry = Registry()
    assert registry.probe("hyperv").available
    thorough = registry.probe_thoroughly("hyperv")
    assert thorough.available, thorough.reason
    backend = registry.open("hyperv")
    try:
        assert backend.list_machines() == []
    finally:
        backend.close()  # type: ignore[attr-defined]


def test_closing_the_registry_stops_the_powershell_session(fake_host: FakeHost):
    from desktopvm.registry import Registry

    registry = Registry()
    backend = registry.open("hyperv")
    backend.list_machines()
    session = backend.quick  # type: ignore[attr-defined]
    assert session._channel is not None  # a PowerShell process runs
    registry.close()
    assert session._channel is None
    assert registry.open("hyperv") is not backend  # a closed backend is never handed out


def test_detect_without_powershell(monkeypatch: pytest.MonkeyPatch):
    from backends.hyperv import detect
    from desktopvm.settings import Settings

    monkeypatch.delenv("DESKTOPVM_POWERSHELL", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    result = detect(Settings())
    assert not result.available and "Windows" in result.install_hint


def test_it_is_a_backend(backend: HyperVBackend):
    from desktopvm.protocol import Backend

    assert isinstance(backend, Backend)
    assert (backend.name, backend.display_name, backend.host) == ("hyperv", "Hyper-V",
                                                                  "localhost")
