"""The backend against the real VBoxManage 7.2: round trips, updates, what the driver warning does.

What the backend reads back is checked against VirtualBox's own output (showvminfo run
directly, the .vbox file), not against the backend's own idea of it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from backends.virtualbox.lifecycle import NO_DRIVER
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    DisplaySpec,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    PortForward,
    SecureBootTemplate,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
    defaults_for,
)
from desktopvm.protocol import CancelToken, CommandFailed, OperationCancelled, no_progress
from tests.backends.virtualbox.real.realvbox import RealVBox

GIB = 1024**3
MIB = 1024**2


def create(backend: VirtualBoxBackend, spec: MachineSpec) -> str:
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def everything(folder: Path) -> MachineSpec:
    """Every field of the model VirtualBox supports, each away from its default."""
    iso = folder / "install.iso"
    iso.write_bytes(b"\0" * 32768 * 2)  # VirtualBox opens the ISO when it is attached
    return MachineSpec(
        name="every ‘field’", notes='line one\nline "two" \\ three', os="debian12",
        firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True,
                              secure_boot_template=SecureBootTemplate.MICROSOFT_WINDOWS,
                              tpm=True),
        cpu=CpuSpec(count=2), memory=MemorySpec(size_mib=1536),
        storage=(
            StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
                Disk(format=DiskFormat.VDI, size_bytes=64 * GIB, port=0),),
                optical=(OpticalDrive(iso=str(iso), port=1),)),
            StorageController(name="NVMe", kind=ControllerKind.NVME, disks=(
                Disk(format=DiskFormat.VMDK, size_bytes=3 * GIB, port=0),)),
            StorageController(name="IDE", kind=ControllerKind.IDE, disks=(
                Disk(format=DiskFormat.VHD, size_bytes=20 * MIB, port=0, device=1),),
                optical=(OpticalDrive(port=1, device=0),)),
            StorageController(name="SCSI", kind=ControllerKind.SCSI, disks=(
                Disk(format=DiskFormat.VDI, size_bytes=10 * MIB, port=2),)),
            StorageController(name="VirtIO", kind=ControllerKind.VIRTIO, disks=(
                Disk(format=DiskFormat.VDI, size_bytes=5 * MIB, port=0),)),
        ),
        network=(
            NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.E1000,
                           mac="08:00:27:12:34:56", port_forwards=(
                               PortForward(name="ssh", host_port=2222, guest_port=22),)),
            NetworkAdapter(attachment=NetworkAttachment.INTERNAL, network="lab",
                           model=NicModel.VIRTIO),
            NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="eth0",
                           model=NicModel.PCNET),
            NetworkAdapter(attachment=NetworkAttachment.HOST_ONLY, network="vboxnet0",
                           model=NicModel.E1000),
            NetworkAdapter(attachment=NetworkAttachment.NONE, model=NicModel.VIRTIO),
            NetworkAdapter(attachment=NetworkAttachment.NAT, network="natnet1",
                           model=NicModel.E1000),
        ),
        display=DisplaySpec(video_memory_mib=64, monitors=2),
        usb=UsbSpec(version=UsbVersion.USB3, tablet=True),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET, path=str(folder / "com1.sock")),
                SerialPort(number=2, mode=SerialMode.FILE, path=str(folder / "com2.log"))),
        boot_order=(BootDevice.OPTICAL, BootDevice.DISK, BootDevice.NETWORK),
    )


def comparable(spec: MachineSpec, macs_from: MachineSpec | None = None) -> dict[str, Any]:
    """The spec without what VirtualBox assigns (ids, new disks' file names; with `macs_from`,
    the MAC addresses it chose where that spec left them to it)."""
    data = spec.model_dump(mode="json", exclude={"id"})
    for controller in data["storage"]:
        for disk in controller["disks"]:
            disk.pop("path")
            disk.pop("existing")
    if macs_from is not None:
        for adapter, wanted in zip(data["network"], macs_from.network, strict=False):
            if not wanted.mac:
                adapter["mac"] = ""
    return data


def test_every_field_round_trips_through_the_real_tool(real_vbox: RealVBox,
                                                       real_backend: VirtualBoxBackend):
    spec = everything(real_vbox.folder)
    machine_id = create(real_backend, spec)
    got = real_backend.get_machine(machine_id).spec
    assert comparable(got, macs_from=spec) == comparable(spec)
    assert all(adapter.mac for adapter in got.network)  # VirtualBox chose the others
    # VirtualBox's own word on what the backend read from files and extra data:
    shown = real_vbox.machine_readable(machine_id)
    assert (shown["firmware"], shown["SecureBoot"], shown["cpus"]) == ("EFI", "on", "2")
    assert shown["ostype"] == "Debian 12 Bookworm (64-bit)"
    settings = Path(shown["CfgFile"]).read_text(encoding="utf-8")
    assert '<TrustedPlatformModule type="v2_0"' in settings
    info = real_vbox.run("showmediuminfo", "disk", got.storage[0].disks[0].path).stdout
    assert "Capacity:       65536 MBytes" in info


def test_a_spec_without_network_makes_a_machine_without_adapters(real_vbox: RealVBox,
                                                                 real_backend: VirtualBoxBackend):
    spec = MachineSpec(name="offline", os="other-linux", memory=MemorySpec(size_mib=64),
                       network=(), serial=(), storage=())
    machine_id = create(real_backend, spec)
    shown = real_vbox.machine_readable(machine_id)
    assert [shown[f"nic{n}"] for n in range(1, 9)] == ["none"] * 8  # createvm enabled nic1
    assert real_backend.get_machine(machine_id).spec.network == ()


UPDATES: dict[str, tuple[dict[str, Any], set[str]]] = {
    # field edit -> the showvminfo keys that must change (and no others)
    "cpus": ({"cpu": CpuSpec(count=1)}, {"cpus"}),
    "memory": ({"memory": MemorySpec(size_mib=768)}, {"memory"}),
    "notes": ({"notes": "new notes"}, {"description"}),
    "name": ({"name": "renamed"}, {"name"}),
    # VirtualBox keeps one recording screen per monitor.
    "display": ({"display": DisplaySpec(video_memory_mib=32, monitors=1)},
                {"vram", "monitorcount", "recording_screens", "rec_screen_enabled",
                 "rec_screen_id"}),
    "usb": ({"usb": UsbSpec(version=UsbVersion.USB2, tablet=False)},
            {"usb", "ehci", "xhci", "hidpointing"}),
    "boot": ({"boot_order": (BootDevice.DISK,)}, {"boot1", "boot2", "boot3"}),
    "os": ({"os": "ubuntu24.04"}, {"ostype"}),
    # debian12's defaults are UEFI with Secure Boot: BIOS drops the SecureBoot line too
    "firmware": ({"firmware": FirmwareSpec(kind=Firmware.BIOS)}, {"firmware", "SecureBoot"}),
    "serial": ({"serial": (SerialPort(number=1, mode=SerialMode.SOCKET, path="/tmp/x.sock"),
                           SerialPort(number=2, mode=SerialMode.DISCONNECTED))},
               {"uartmode1", "uart2", "uartmode2", "uarttype2"}),
    "network": ({"network": (NetworkAdapter(attachment=NetworkAttachment.INTERNAL,
                                            network="lab", model=NicModel.VIRTIO),)},
                {"nic1", "natnet1", "intnet1", "mtu", "sockSnd", "sockRcv", "tcpWndSnd",
                 "tcpWndRcv", "localhostReachable", "forwardBroadcast", "enableTFTP"}),
}
VOLATILE = {"VMStateChangeTime", "CfgFile", "SnapFldr", "LogFldr", "NvramFile",
            "rec_screen_dest_filename"}


@pytest.mark.parametrize("field", sorted(UPDATES))
def test_updating_one_field_changes_only_that_field(field: str, real_vbox: RealVBox,
                                                    real_backend: VirtualBoxBackend):
    spec = defaults_for("debian12", real_backend.capabilities(), name="update one")
    spec = spec.model_copy(update={"notes": "old notes", "boot_order": (
        BootDevice.OPTICAL, BootDevice.DISK, BootDevice.NETWORK),
        "usb": UsbSpec(version=UsbVersion.USB3, tablet=True),
        "display": DisplaySpec(video_memory_mib=16, monitors=2)})
    machine_id = create(real_backend, spec)
    old = real_backend.get_machine(machine_id).spec
    before = real_vbox.machine_readable(machine_id)
    edit, keys = UPDATES[field]
    if field == "network":  # keep the MAC VirtualBox chose: only the attachment changes
        edit = {"network": (edit["network"][0].model_copy(update={"mac": old.network[0].mac}),)}
    new = old.model_copy(update=edit)
    real_backend.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    after = real_vbox.machine_readable(machine_id)
    changed = {k for k in before.keys() | after.keys()
               if before.get(k) != after.get(k) and k not in VOLATILE}
    if field == "name":  # VirtualBox renames the machine's folder, with the disks in it
        folder = str(Path(before["CfgFile"]).parent) + "/"
        keys = keys | {k for k, v in before.items() if v.startswith(folder) and k not in VOLATILE}
    assert changed == keys
    assert comparable(real_backend.get_machine(machine_id).spec) == comparable(new)


def test_the_missing_driver_is_said_once_and_start_fails_in_one_clear_line(
        real_backend: VirtualBoxBackend, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="backends.virtualbox.vboxmanage")
    probe = real_backend.probe()
    assert probe.available and probe.version.startswith("7.2.")
    assert probe.reason == NO_DRIVER
    machine_id = create(real_backend, MachineSpec(name="cannot start", os="other-linux",
                                                  memory=MemorySpec(size_mib=64), network=(),
                                                  serial=(), storage=()))
    with pytest.raises(CommandFailed) as caught:
        real_backend.start(machine_id)
    assert caught.value.summary == f"Cannot start cannot start: {NO_DRIVER}"
    assert "terminated unexpectedly" in caught.value.details  # VirtualBox's words kept
    warnings = [r for r in caplog.records if "kernel driver" in r.getMessage()]
    assert len(warnings) == 1


def test_a_machine_virtualbox_made_shows_its_os_and_disk_size(real_vbox: RealVBox,
                                                              real_backend: VirtualBoxBackend):
    real_vbox.run("createvm", "--name=made elsewhere", "--ostype=Ubuntu_64", "--register")
    disk = str(real_vbox.machine_folder / "made elsewhere" / "disk.vdi")
    real_vbox.run("createmedium", "disk", f"--filename={disk}", "--size=65536")
    real_vbox.run("storagectl", "made elsewhere", "--name", "SATA", "--add=sata")
    real_vbox.run("storageattach", "made elsewhere", "--storagectl=SATA", "--port=0",
                  "--device=0", "--type=hdd", f"--medium={disk}")
    [summary] = real_backend.list_machines()
    assert summary.os == "ubuntu24.04"
    [(_, read)] = real_backend.get_machine(summary.id).spec.all_disks()
    assert (read.path, read.size_bytes) == (disk, 64 * GIB)


def test_windows11_defaults_meet_windows11s_requirements(real_vbox: RealVBox,
                                                         real_backend: VirtualBoxBackend):
    caps = real_backend.capabilities()
    assert caps.max_cpus >= 2  # this computer has 2 cores; VirtualBox without driver says 0
    spec = defaults_for("windows11", caps, name="w11")
    assert spec.cpu.count >= 2 and spec.memory.size_mib >= 4096
    machine_id = create(real_backend, spec)
    shown = real_vbox.machine_readable(machine_id)
    assert int(shown["cpus"]) >= 2 and shown["firmware"] == "EFI"
    assert shown["SecureBoot"] == "on"
    got = real_backend.get_machine(machine_id).spec
    assert (got.firmware.tpm, got.firmware.secure_boot, got.os) == (True, True, "windows11")
    [(_, disk)] = got.all_disks()
    assert disk.size_bytes == 64 * GIB


def test_storage_controllers_are_removed_and_grown_by_update(real_vbox: RealVBox,
                                                             real_backend: VirtualBoxBackend):
    # storagectl <vm> --name=X --remove is "Too few parameters" for the real 7.2
    spec = MachineSpec(name="controllers", os="other-linux", memory=MemorySpec(size_mib=64),
                       network=(), serial=(), storage=(
                           StorageController(name="SATA", kind=ControllerKind.SATA, optical=(
                               OpticalDrive(port=0),)),
                           StorageController(name="SCSI", kind=ControllerKind.SCSI)))
    machine_id = create(real_backend, spec)
    old = real_backend.get_machine(machine_id).spec
    sata = old.storage[0].model_copy(update={"optical": (OpticalDrive(port=0),
                                                         OpticalDrive(port=3))})
    new = old.model_copy(update={"storage": (sata,)})
    real_backend.update(machine_id, old, new, progress=no_progress, cancel=CancelToken())
    shown = real_vbox.machine_readable(machine_id)
    assert shown["storagecontrollername0"] == "SATA" and "storagecontrollername1" not in shown
    assert shown["SATA-3-0"] == "emptydrive"
    got = real_backend.get_machine(machine_id).spec
    assert [(c.name, len(c.optical)) for c in got.storage] == [("SATA", 2)]


def test_disk_tools_on_the_real_tool(real_vbox: RealVBox, real_backend: VirtualBoxBackend):
    folder = real_vbox.folder / "disks"
    folder.mkdir()
    made = real_backend.create_disk(folder / "a.vdi", DiskFormat.VDI, 100 * MIB,
                                    progress=no_progress, cancel=CancelToken())
    assert (made.format, made.virtual_size) == ("vdi", 100 * MIB)
    grown = real_backend.resize_disk(folder / "a.vdi", 100 * MIB + 512 * 1024,
                                     progress=no_progress, cancel=CancelToken())
    assert grown.virtual_size == 100 * MIB + 512 * 1024  # exact, not whole MBytes
    copy = real_backend.convert_disk(folder / "a.vdi", folder / "b.vmdk", DiskFormat.VMDK,
                                     progress=no_progress, cancel=CancelToken())
    assert (copy.format, copy.virtual_size) == ("vmdk", grown.virtual_size)
    shown = real_vbox.run("showmediuminfo", "disk", str(folder / "b.vmdk")).stdout
    assert "Storage format: VMDK" in shown and "Capacity:       100 MBytes" in shown


def test_export_opens_in_virtualbox_and_imports_back(real_vbox: RealVBox,
                                                     real_backend: VirtualBoxBackend):
    spec = MachineSpec(name="appliance", os="debian12", memory=MemorySpec(size_mib=256),
                       cpu=CpuSpec(count=2), network=(), serial=(), storage=(
                           StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
                               Disk(format=DiskFormat.VDI, size_bytes=32 * MIB),)),))
    machine_id = create(real_backend, spec)
    ova = real_vbox.folder / "appliance.ova"
    real_backend.export(machine_id, ova, progress=no_progress, cancel=CancelToken())
    dry_run = real_vbox.run("import", str(ova), "--dry-run")
    assert "Warning" not in dry_run.stdout + dry_run.stderr, dry_run.stdout + dry_run.stderr
    imported = real_backend.import_machine(ova, name="imported", progress=no_progress,
                                           cancel=CancelToken())
    got = real_backend.get_machine(imported).spec
    assert (got.name, got.cpu.count, got.memory.size_mib) == ("imported", 2, 256)
    [(_, disk)] = got.all_disks()
    assert disk.size_bytes == 32 * MIB


@pytest.mark.parametrize(("ovf", "manifest"), [("--ovf10", True), ("--ovf20", True),
                                               ("--ovf20", False)])
def test_an_ova_virtualbox_exported_imports_into_qemu_and_virtualbox(
        ovf: str, manifest: bool, real_vbox: RealVBox, real_backend: VirtualBoxBackend):
    from backends.qemu.backend import QemuBackend
    from desktopvm.settings import Settings

    spec = MachineSpec(name="from virtualbox", os="debian12", memory=MemorySpec(size_mib=384),
                       cpu=CpuSpec(count=2), network=(), serial=(), storage=(
                           StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
                               Disk(format=DiskFormat.VDI, size_bytes=48 * MIB),)),))
    machine_id = create(real_backend, spec)
    ova = real_vbox.folder / "by-virtualbox.ova"
    real_vbox.run("export", machine_id, f"--output={ova}", ovf,
                  *(["--manifest"] if manifest else []))
    qemu = QemuBackend(Settings(library_dir=str(real_vbox.folder / "qemu"), qemu_accel="tcg"))
    imported = qemu.import_machine(ova, name="from vbox", progress=no_progress,
                                   cancel=CancelToken())
    got = qemu.get_machine(imported).spec
    assert (got.cpu.count, got.memory.size_mib) == (2, 384)
    [(_, disk)] = got.all_disks()
    assert qemu.disk_info(Path(disk.path)).virtual_size == 48 * MIB
    again = real_backend.import_machine(ova, name="back in virtualbox", progress=no_progress,
                                        cancel=CancelToken())
    back = real_backend.get_machine(again).spec
    assert (back.cpu.count, back.memory.size_mib) == (2, 384)
    assert [d.size_bytes for _, d in back.all_disks()] == [48 * MIB]


def _hdds(real_vbox: RealVBox) -> set[str]:
    """Every disk image VirtualBox's media registry knows (`list hdds`)."""
    return {line.split(":", 1)[1].strip() for line in real_vbox.run("list", "hdds").stdout
            .splitlines() if line.startswith("Location:")}


def _small(name: str) -> MachineSpec:
    return MachineSpec(name=name, os="other-linux", memory=MemorySpec(size_mib=64), network=(),
                       serial=(), storage=(StorageController(
                           name="SATA", kind=ControllerKind.SATA,
                           disks=(Disk(format=DiskFormat.VDI, size_bytes=8 * MIB),)),))


def test_linked_clones_and_the_media_registry(real_vbox: RealVBox,
                                              real_backend: VirtualBoxBackend):
    from desktopvm.protocol import InvalidState

    base = create(real_backend, _small("base"))
    [(_, base_disk)] = real_backend.get_machine(base).spec.all_disks()
    real_backend.take_snapshot(base, "one", include_memory=False, progress=no_progress,
                               cancel=CancelToken())
    clone = real_backend.clone(base, "linked", linked=True, progress=no_progress,
                               cancel=CancelToken())
    registered = _hdds(real_vbox)
    # Deleting the base with its disks would pull the clone's base away: refused, nothing done
    # (real 7.2 would unregister the machine, delete half its files, then fail).
    with pytest.raises(InvalidState, match="linked clones use them"):
        real_backend.delete(base, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert {m.id for m in real_backend.list_machines()} == {base, clone}
    assert _hdds(real_vbox) == registered
    # Deleting the clone with its disks leaves the source and the shared base.
    [(_, clone_disk)] = real_backend.get_machine(clone).spec.all_disks()
    real_backend.delete(clone, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not Path(clone_disk.path).exists() and Path(base_disk.path).exists()
    assert _hdds(real_vbox) == registered - {clone_disk.path}
    # Now the base goes with every disk it had, and the registry has no stale entry.
    real_backend.delete(base, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not Path(base_disk.path).exists()
    assert _hdds(real_vbox) == set()


def test_delete_keeping_disks_and_a_cancelled_create_leave_no_registry_entry(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend):
    kept = create(real_backend, _small("kept"))
    [(_, disk)] = real_backend.get_machine(kept).spec.all_disks()
    real_backend.delete(kept, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert Path(disk.path).exists() and _hdds(real_vbox) == set()
    assert sorted(p.name for p in Path(disk.path).parent.iterdir()) == ["disk0.vdi"]
    # A create cancelled half-way (a disk made, the machine registered) removes both.
    token = CancelToken()

    def cancel_once_a_disk_is_made(_fraction: float | None, stage: str) -> None:
        if stage == "Attaching disks":
            token.cancel()

    with pytest.raises(OperationCancelled):
        real_backend.create(_small("cancelled"), progress=cancel_once_a_disk_is_made,
                            cancel=token)
    assert real_backend.list_machines() == [] and _hdds(real_vbox) == set()
    assert not list((real_vbox.machine_folder / "cancelled").glob("*.vdi"))


def test_tpm_and_secure_boot_alone_change_only_the_settings_file_and_nvram(
        real_vbox: RealVBox, real_backend: VirtualBoxBackend):
    spec = defaults_for("debian12", real_backend.capabilities(), name="tpm alone").model_copy(
        update={"firmware": FirmwareSpec(kind=Firmware.UEFI)})
    machine_id = create(real_backend, spec)
    old = real_backend.get_machine(machine_id).spec
    before = real_vbox.machine_readable(machine_id)
    settings = Path(before["CfgFile"])
    assert "TrustedPlatformModule" not in settings.read_text(encoding="utf-8")
    with_tpm = old.model_copy(update={"firmware": FirmwareSpec(kind=Firmware.UEFI, tpm=True)})
    real_backend.update(machine_id, old, with_tpm, progress=no_progress, cancel=CancelToken())
    after = real_vbox.machine_readable(machine_id)
    # 7.2 prints no TPM line: showvminfo is unchanged, the settings file has it
    assert {k for k in after if after[k] != before.get(k)} - VOLATILE == set()
    assert '<TrustedPlatformModule type="v2_0"' in settings.read_text(encoding="utf-8")
    assert real_backend.get_machine(machine_id).spec.firmware.tpm
    secure = with_tpm.model_copy(update={"firmware": FirmwareSpec(
        kind=Firmware.UEFI, tpm=True, secure_boot=True,
        secure_boot_template=SecureBootTemplate.MICROSOFT_WINDOWS)})
    real_backend.update(machine_id, with_tpm, secure, progress=no_progress,
                        cancel=CancelToken())
    shown = real_vbox.machine_readable(machine_id)
    assert {k for k in shown if shown[k] != after.get(k)} - VOLATILE == {"SecureBoot"}
    assert comparable(real_backend.get_machine(machine_id).spec) == comparable(secure)


def test_nested_snapshots_restore_and_delete_the_middle_one(real_vbox: RealVBox,
                                                            real_backend: VirtualBoxBackend):
    machine_id = create(real_backend, _small("snapshots"))

    def take(name: str) -> str:
        return real_backend.take_snapshot(machine_id, name, include_memory=False,
                                          progress=no_progress, cancel=CancelToken()).id

    first, second, third = take("first"), take("second"), take("third")
    real_backend.restore_snapshot(machine_id, first, progress=no_progress, cancel=CancelToken())
    sibling = take("sibling")
    roots, current = real_backend.list_snapshots(machine_id)
    tree = {s.name: [c.name for c in s.children] for r in roots for s in r.walk()}
    assert tree == {"first": ["second", "sibling"], "second": ["third"], "third": [],
                    "sibling": []}
    assert current == sibling
    real_backend.delete_snapshot(machine_id, second, progress=no_progress, cancel=CancelToken())
    roots, current = real_backend.list_snapshots(machine_id)
    tree = {s.name: sorted(c.name for c in s.children) for r in roots for s in r.walk()}
    assert tree == {"first": ["sibling", "third"], "third": [], "sibling": []}
    listed = real_vbox.run("snapshot", machine_id, "list", "--machinereadable").stdout
    assert second not in listed and third in listed and current == sibling
    assert all(s.created for r in roots for s in r.walk())  # times from the .vbox file
    real_backend.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert _hdds(real_vbox) == set()
