"""The .vmx <-> MachineSpec mapping on the real files, and plans that read back as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.vmware import plans
from backends.vmware.translate import to_spec
from backends.vmware.vmx import VmxDocument
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
)


def read(shared: Path, name: str) -> MachineSpec:
    path = shared / name
    return to_spec(VmxDocument.read(path), path)


def test_workstation_8_debian_nat_static_mac(shared_fixtures: Path):
    spec = read(shared_fixtures, "vmware_libvirt_ws8_debian6_nat_static_mac.vmx")
    assert (spec.name, spec.cpu.count, spec.memory.size_mib) == ("debian6", 1, 512)
    assert spec.firmware.kind is Firmware.BIOS
    [scsi, ide] = spec.storage
    assert scsi.kind is ControllerKind.SCSI and scsi.disks[0].path == "/data/vmware/disk.vmdk"
    assert ide.optical == (OpticalDrive(iso="/usr/lib/vmware/isoimages/linux.iso", port=1),)
    [nic] = spec.network
    assert (nic.attachment, nic.mac, nic.model) == (NetworkAttachment.NAT, "00:50:56:2F:D3:46",
                                                    NicModel.E1000)
    assert spec.usb.version is UsbVersion.USB2


def test_esx8_efi_secure_boot_and_an_empty_sata_cdrom(shared_fixtures: Path):
    path = shared_fixtures / "vmware_libvirt_esx80_rhel93_efi_secureboot_sata_cdrom.vmx"
    spec = to_spec(VmxDocument.read(path), path)
    assert spec.firmware == FirmwareSpec(kind=Firmware.UEFI, secure_boot=True)
    assert (spec.os, spec.cpu.count, spec.memory.size_mib) == ("rhel9", 1, 2048)  # memSize
    kinds = {c.kind: c for c in spec.storage}
    assert kinds[ControllerKind.SATA].optical == (OpticalDrive(iso="", port=0),)
    assert kinds[ControllerKind.SCSI].disks[0].path == str(
        shared_fixtures / "Auto-esx8.0-rhell9.3-efi-with-empty-cdrom.vmdk")
    [nic] = spec.network
    assert (nic.attachment, nic.network, nic.mac) == (NetworkAttachment.SWITCH, "VM Network",
                                                      "00:50:56:A0:CF:2F")


def test_nvme_disk_and_windows_11_on_lsisas(shared_fixtures: Path):
    nvme = read(shared_fixtures, "vmware_libvirt_esx80_rhel94_efi_nvme_disk.vmx")
    assert [c.kind for c in nvme.storage if c.disks] == [ControllerKind.NVME]
    win = read(shared_fixtures, "vmware_libvirt_esx80_win11_lsisas_e1000e_xhci.vmx")
    assert win.firmware.kind is Firmware.BIOS  # no firmware key: BIOS, as libvirt reads it
    assert win.network[0].model is NicModel.E1000E
    assert win.usb.version is UsbVersion.USB3
    sata = next(c for c in win.storage if c.kind is ControllerKind.SATA)
    assert sata.optical[0].iso.endswith("windows_11_x64_official_dvd.iso")


def test_fusion_bridged_pair_ide_auto_detect_and_case_insensitive_keys(shared_fixtures: Path):
    fusion = read(shared_fixtures, "vmware_libvirt_fusion_winxp_hw9.vmx")
    assert [n.attachment for n in fusion.network] == [NetworkAttachment.BRIDGED] * 2
    assert fusion.network[0].mac == "00:0C:29:3B:64:EA"
    ide = next(c for c in fusion.storage if c.kind is ControllerKind.IDE)
    assert ide.optical == (OpticalDrive(),)  # "auto detect": an empty drive
    upper = read(shared_fixtures, "vmware_libvirt_case_insensitive_keys.vmx")
    assert (upper.name, upper.memory.size_mib) == ("FEDORA11", 1024)
    assert upper.storage[0].disks[0].path.endswith("FEDORA11.VMDK")


def test_annotation_serial_network_and_every_fixture_reads(shared_fixtures: Path):
    wild = read(shared_fixtures, "vmware_libvirt_esx_annotation_pipe_escapes_serial_vspc.vmx")
    assert wild.notes.startswith("name:Test-Mig-VM-1\nuserid:")
    assert SerialMode.TCP in {p.mode for p in wild.serial}
    for path in sorted(shared_fixtures.glob("vmware_*.vmx")):
        spec = to_spec(VmxDocument.read(path), path)
        assert spec.cpu.count >= 1 and spec.memory.size_mib >= 4, path.name


def sample_spec(folder: Path) -> MachineSpec:
    return MachineSpec(
        name='A "quoted" | name', notes="two\nlines", os="ubuntu24.04",
        firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True),
        cpu=CpuSpec(count=2, nested_virtualization=True), memory=MemorySpec(size_mib=2048),
        storage=(StorageController(name="scsi0", kind=ControllerKind.SCSI, disks=(
                     Disk(path=str(folder / "a.vmdk"), format=DiskFormat.VMDK, existing=True),
                     Disk(path="/elsewhere/b.vmdk", format=DiskFormat.VMDK, port=1,
                          existing=True))),
                 StorageController(name="nvme0", kind=ControllerKind.NVME, disks=(
                     Disk(path=str(folder / "c.vmdk"), format=DiskFormat.VMDK,
                          existing=True),)),
                 # read back in the order scsi, sata, nvme, ide (the .vmx keeps no order)
                 StorageController(name="ide", kind=ControllerKind.IDE, optical=(
                     OpticalDrive(iso="/isos/x.iso", port=1),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.VMXNET3),
                 NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="vmnet2",
                                mac="00:50:56:01:02:03", model=NicModel.E1000E),
                 NetworkAdapter(attachment=NetworkAttachment.NONE, model=NicModel.E1000)),
        usb=UsbSpec(version=UsbVersion.USB3),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET, path=str(folder / "s.sock")),),
        boot_order=(BootDevice.OPTICAL, BootDevice.DISK))


def test_a_planned_file_reads_back_as_the_spec(tmp_path: Path):
    spec = sample_spec(tmp_path)
    document = plans.document_for(spec, tmp_path, 21)
    vmx = tmp_path / "x.vmx"
    vmx.write_bytes(document.to_bytes())
    got = to_spec(VmxDocument.read(vmx), vmx)
    assert got == spec.model_copy(update={"id": str(vmx)})
    assert document.get("config.version") == "8" and document.get("virtualHW.version") == "21"
    assert document.to_bytes().startswith(b'.encoding = "UTF-8"\n')


@pytest.mark.parametrize("field, value, touched", [
    ("cpu", CpuSpec(count=4, nested_virtualization=True), {"numvcpus"}),
    ("memory", MemorySpec(size_mib=4096), {"memsize"}),
    ("notes", "", {"annotation"}),
])
def test_an_update_changes_only_its_keys(tmp_path: Path, field: str, value: object,
                                         touched: set[str]):
    spec = sample_spec(tmp_path)
    changes = plans.update_changes(spec, spec.model_copy(update={field: value}), tmp_path)
    assert {k.lower() for k in changes} == touched


def test_removing_a_nic_removes_its_keys(tmp_path: Path):
    spec = sample_spec(tmp_path)
    changes = plans.update_changes(spec, spec.model_copy(update={"network": spec.network[:1]}),
                                   tmp_path)
    assert changes and all(k.startswith(("ethernet1.", "ethernet2.")) and v is None
                           for k, v in changes.items())
