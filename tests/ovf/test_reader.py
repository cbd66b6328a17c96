"""`read_ovf` on hand-written descriptors: OVF 2.0, units, mapping rules and hostile input."""

from __future__ import annotations

import pytest

from desktopvm.model import (
    ControllerKind,
    DiskFormat,
    Firmware,
    NetworkAttachment,
    NicModel,
    UsbVersion,
)
from desktopvm.ovf import OvfError, read_ovf
from desktopvm.ovf.xmlread import MAX_OVF_BYTES
from tests.ovf.helpers import (
    CPU_AND_MEMORY,
    DATA,
    ONE_DISK,
    SATA_WITH_DISK,
    envelope,
    with_disk,
)


def test_ovf20_storage_and_ethernet_items():
    appliance = read_ovf((DATA / "ovf20_storage_and_ethernet_items.ovf").read_bytes(), "ovf20")
    spec = appliance.spec
    assert spec.name == "Web Appliance"  # <Name> wins over ovf:id
    assert spec.notes == "Serves the intranet.\nSecond line."
    assert spec.os == "ubuntu22.04"
    assert spec.cpu.count == 4
    assert spec.memory.size_mib == 8192  # the default configuration "large", in byte * 2^30
    assert any("'Large'" in w for w in appliance.warnings)
    assert spec.firmware.kind is Firmware.UEFI and spec.firmware.secure_boot
    assert [c.kind for c in spec.storage] == [ControllerKind.NVME, ControllerKind.SATA]
    system, scratch = spec.storage[0].disks
    assert system.existing and system.size_bytes == 20 * 1024**3 and system.path == "web-disk1.vmdk"
    assert not scratch.existing and scratch.size_bytes == 512 * 1024**2 and scratch.port == 1
    assert spec.storage[1].optical[0].port == 2
    [disk] = appliance.disks  # the blank disk has no file to extract
    assert (disk.file_href, disk.file_size, disk.controller_index) == ("web-disk1.vmdk", 1048576, 0)
    [nic] = spec.network
    assert nic.model is NicModel.VMXNET3 and nic.attachment is NetworkAttachment.BRIDGED
    assert nic.network == ""  # the exporting host's interface means nothing here
    assert any("choose the host interface" in w for w in appliance.warnings)
    assert spec.usb.version is UsbVersion.USB3


def test_ovf10_ide_channels_scsi_and_ignored_items():
    appliance = read_ovf((DATA / "ovf10_ide_scsi_serial.ovf").read_bytes(), "ovf10")
    spec = appliance.spec
    assert spec.name == "Windows 10 Pro"
    assert spec.os == "windows10"  # windows9_64Guest is VMware's name for Windows 10
    assert (spec.cpu.count, spec.memory.size_mib) == (2, 4096)
    assert [c.kind for c in spec.storage] == [ControllerKind.SCSI, ControllerKind.IDE]
    assert [(d.port, d.size_bytes) for d in spec.storage[0].disks] == [(0, 64 * 1024**3),
                                                                       (1, 1024**3)]
    # The CD sits on "IDE 1" (Address 1): our IDE port 1, master.
    assert [(o.port, o.device) for o in spec.storage[1].optical] == [(1, 0)]
    assert [(d.file_href, d.port) for d in appliance.disks] == [("win10-disk1.vmdk", 0),
                                                                ("win10-disk2.vmdk", 1)]
    assert spec.network[0].model is NicModel.E1000E
    assert spec.usb.version is UsbVersion.USB2
    assert spec.serial == ()
    assert any("serial port" in w for w in appliance.warnings)
    assert not any("resource type" in w for w in appliance.warnings)  # floppy/video are known


@pytest.mark.parametrize("href", [
    "/etc/passwd",
    "../evil.vmdk",
    "sub/../../evil.vmdk",
    "./disk.vmdk",
    "a\\..\\b.vmdk",
    "http://example.com/disk.vmdk",
    "file:///etc/passwd",
    "C:disk.vmdk",
    "",
])
def test_unsafe_file_references_are_refused_by_name(href: str):
    with pytest.raises(OvfError) as caught:
        read_ovf(with_disk(href), "bad.ovf")
    message = str(caught.value)
    assert "bad.ovf" in message and "'file1'" in message and repr(href) in message


def test_identity_compression_is_no_compression():
    appliance = read_ovf(with_disk("d.vmdk", file_attrs='ovf:compression="identity"'), "x.ovf")
    assert appliance.disks[0].file_href == "d.vmdk"


def test_a_subfolder_reference_is_allowed():
    appliance = read_ovf(with_disk("disks/disk1.vmdk"), "sub.ovf")
    assert appliance.disks[0].file_href == "disks/disk1.vmdk"


@pytest.mark.parametrize("document", [
    b'<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Envelope>&b;</Envelope>',
    b'<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<Envelope>&x;</Envelope>",
    b'<?xml version="1.0"?><!DOCTYPE Envelope SYSTEM "http://example.com/ovf.dtd"><Envelope/>',
], ids=["entity-expansion", "external-entity", "external-dtd"])
def test_dtds_and_entities_are_refused(document: bytes):
    with pytest.raises(OvfError, match="refusing the descriptor"):
        read_ovf(document, "evil.ovf")


@pytest.mark.parametrize(("document", "match"), [
    (b"<Envelope", "not well-formed"),
    (b"<Envelope xmlns='urn:something-else'/>", "not an OVF"),
    (b"<html/>", "not an OVF"),
    (b'<Envelope xmlns="http://www.vmware.com/schema/ovf/1/envelope"/>', "not an OVF"),
    (envelope().replace(b"<VirtualSystem", b"<Other").replace(b"</VirtualSystem", b"</Other"),
     "no VirtualSystem"),
])
def test_documents_that_are_not_usable_ovf(document: bytes, match: str):
    with pytest.raises(OvfError, match=match):
        read_ovf(document, "x.ovf")


def test_oversized_descriptors_are_refused_before_parsing():
    with pytest.raises(OvfError, match="larger than"):
        read_ovf(b" " * (MAX_OVF_BYTES + 1), "big.ovf")


@pytest.mark.parametrize(("items", "match"), [
    (CPU_AND_MEMORY + SATA_WITH_DISK.replace("<rasd:Parent>3", "<rasd:Parent>99"),
     "not a storage controller"),
    (CPU_AND_MEMORY + SATA_WITH_DISK.replace("ovf:/disk/vmdisk1", "ovf:/disk/nope"),
     "DiskSection does not list"),
    (CPU_AND_MEMORY + SATA_WITH_DISK + SATA_WITH_DISK.split("</Item>", 1)[1]
     .replace(">4<", ">5<"), "attached twice"),
    (CPU_AND_MEMORY.replace(">2</rasd:VirtualQuantity>", ">two</rasd:VirtualQuantity>")
     + SATA_WITH_DISK, "not a whole number"),
    (CPU_AND_MEMORY.replace("byte * 2^20", "furlongs") + SATA_WITH_DISK, "not understood"),
])
def test_inconsistent_hardware_is_an_error(items: str, match: str):
    document = envelope(items=items, refs='<File ovf:href="d.vmdk" ovf:id="file1"/>',
                        disks=ONE_DISK)
    with pytest.raises(OvfError, match=match):
        read_ovf(document, "x.ovf")


@pytest.mark.parametrize(("file_attrs", "disks", "match"), [
    ('ovf:compression="gzip"', ONE_DISK, "compressed or split"),
    ('ovf:chunkSize="1000"', ONE_DISK, "compressed or split"),
    ("", ONE_DISK.replace('ovf:capacity="1073741824"', 'ovf:capacity="${size}"'), "capacity"),
    ("", ONE_DISK.replace('fileRef="file1"', 'fileRef="file9"'), "References does not list"),
])
def test_unsupported_files_and_disks_are_errors(file_attrs: str, disks: str, match: str):
    document = envelope(items=CPU_AND_MEMORY + SATA_WITH_DISK,
                        refs=f'<File ovf:href="d.vmdk" ovf:id="file1" {file_attrs}/>', disks=disks)
    with pytest.raises(OvfError, match=match):
        read_ovf(document, "x.ovf")


@pytest.mark.parametrize(("units", "quantity", "mib"), [
    ("byte * 2^20", "2048", 2048),
    ("byte*2^30", "2", 2048),
    ("MegaBytes", "1536", 1536),
    ("MB", "512", 512),
    ("GigaBytes", "4", 4096),
    ("byte", str(3 * 1024**3), 3072),
    ("KiloBytes", str(1024 * 1024), 1024),
])
def test_memory_allocation_units(units: str, quantity: str, mib: int):
    items = CPU_AND_MEMORY.replace("byte * 2^20", units).replace(
        "<rasd:VirtualQuantity>2048", f"<rasd:VirtualQuantity>{quantity}")
    assert read_ovf(envelope(items=items), "x.ovf").spec.memory.size_mib == mib


def test_disk_capacity_units():
    disks = ONE_DISK.replace('ovf:capacity="1073741824"',
                             'ovf:capacity="40" ovf:capacityAllocationUnits="byte * 2^30"')
    document = envelope(items=CPU_AND_MEMORY + SATA_WITH_DISK, disks=disks,
                        refs='<File ovf:href="d.vmdk" ovf:id="file1"/>')
    assert read_ovf(document, "x.ovf").disks[0].capacity_bytes == 40 * 1024**3


def test_missing_cpu_and_memory_fall_back_with_warnings():
    appliance = read_ovf(envelope(items=""), "x.ovf")
    assert (appliance.spec.cpu.count, appliance.spec.memory.size_mib) == (1, 1024)
    assert len([w for w in appliance.warnings if "names no" in w]) == 2
    assert appliance.spec.storage == () and appliance.spec.network == ()
    assert appliance.spec.usb.version is None


def nic(connection: str, subtype: str = "E1000", automatic: str = "true") -> str:
    return (f"<Item><rasd:AutomaticAllocation>{automatic}</rasd:AutomaticAllocation>"
            f"<rasd:Connection>{connection}</rasd:Connection>"
            "<rasd:InstanceID>9</rasd:InstanceID>"
            f"<rasd:ResourceSubType>{subtype}</rasd:ResourceSubType>"
            "<rasd:ResourceType>10</rasd:ResourceType></Item>")


@pytest.mark.parametrize(("connection", "automatic", "attachment", "warns"), [
    ("NAT", "true", NetworkAttachment.NAT, False),
    ("Bridged", "true", NetworkAttachment.BRIDGED, True),
    ("bridged", "true", NetworkAttachment.BRIDGED, True),
    ("HostOnly", "true", NetworkAttachment.HOST_ONLY, False),
    ("VM Network", "true", NetworkAttachment.NAT, True),
    ("Internal", "true", NetworkAttachment.NAT, True),
    ("NAT", "false", NetworkAttachment.NONE, False),
])
def test_network_connections(connection: str, automatic: str, attachment: NetworkAttachment,
                             warns: bool):
    appliance = read_ovf(envelope(items=CPU_AND_MEMORY + nic(connection, automatic=automatic)),
                         "x.ovf")
    assert appliance.spec.network[0].attachment is attachment
    assert bool(appliance.warnings) is warns


@pytest.mark.parametrize(("subtype", "model"), [
    ("E1000", NicModel.E1000), ("e1000e", NicModel.E1000E), ("PCNet32", NicModel.PCNET),
    ("VirtioNet", NicModel.VIRTIO), ("virtio-net", NicModel.VIRTIO),
    ("VmxNet3", NicModel.VMXNET3), ("", None), ("VmxNet2", None),
])
def test_nic_models(subtype: str, model: NicModel | None):
    appliance = read_ovf(envelope(items=CPU_AND_MEMORY + nic("NAT", subtype)), "x.ovf")
    assert appliance.spec.network[0].model is model


def test_virtualbox_machine_section_gives_uefi_and_tpm():
    machine = """<vbox:Machine ovf:required="false" OSType="Windows11_64">
      <Hardware><Firmware type="EFI"/><TrustedPlatformModule type="v2_0"/>
        <Display VRAMSize="128" monitorCount="2"/></Hardware></vbox:Machine>"""
    os = '<OperatingSystemSection ovf:id="120"><Info>os</Info></OperatingSystemSection>'
    spec = read_ovf(envelope(os=os, extra=machine), "x.ovf").spec
    assert spec.firmware.kind is Firmware.UEFI and spec.firmware.tpm
    assert spec.os == "windows11"  # the VirtualBox type beats CIM 120 ("Windows 10 64-bit")
    assert (spec.display.video_memory_mib, spec.display.monitors) == (128, 2)


def test_vmware_config_attribute_form_of_efi():
    items = CPU_AND_MEMORY + '<vmw:Config ovf:required="false" firmware="efi"/>'
    assert read_ovf(envelope(items=items), "x.ovf").spec.firmware.kind is Firmware.UEFI


def test_disk_format_from_url_and_extension():
    disks = ONE_DISK.replace(
        "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized", "")
    document = envelope(items=CPU_AND_MEMORY + SATA_WITH_DISK, disks=disks,
                        refs='<File ovf:href="d.qcow2" ovf:id="file1"/>')
    appliance = read_ovf(document, "x.ovf")
    assert appliance.disks[0].format == "qcow2"
    assert appliance.spec.storage[0].disks[0].format is DiskFormat.QCOW2


def test_control_characters_in_the_name_are_dropped():
    document = envelope().replace(b'ovf:id="test-vm"', b'ovf:id="  evil&#10;name\t "')
    assert read_ovf(document, "x.ovf").spec.name == "evil name"
