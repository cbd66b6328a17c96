"""`read_ovf` on real exports: VirtualBox 4.3 (with vbox:Machine) and VMware vCenter (vmx-04)."""

from __future__ import annotations

from desktopvm.model import (
    ControllerKind,
    Firmware,
    NetworkAttachment,
    NicModel,
    UsbVersion,
    validate,
)
from desktopvm.ovf import read_ovf
from tests.model.caps import TEST_CAPS
from tests.ovf.helpers import fixtures_dir


def test_virtualbox_43_export():
    path = fixtures_dir() / "vbox43_exported_appliance_test_1.ovf"
    appliance = read_ovf(path.read_bytes(), path.name)
    spec = appliance.spec

    assert spec.name == "appliance_test_1"
    assert spec.cpu.count == 1
    assert spec.memory.size_mib == 5  # "MegaBytes", VirtualQuantity 5: a tiny test appliance
    assert spec.firmware.kind is Firmware.BIOS
    # CIM 93 "Ubuntu" (32-bit) without a version: Linux, but no exact catalog entry.
    assert spec.os == "other-linux"
    assert any("'Ubuntu'" in w for w in appliance.warnings)

    # OVF's two IDE channels become one IDE controller; the empty channel 0 adds nothing.
    assert [c.kind for c in spec.storage] == [ControllerKind.IDE, ControllerKind.SATA]
    ide, sata = spec.storage
    assert ide.disks == () and len(ide.optical) == 1
    assert (ide.optical[0].port, ide.optical[0].device) == (1, 0)  # vbox:Machine agrees
    assert sata.optical == () and len(sata.disks) == 1
    disk = sata.disks[0]
    assert disk.existing and disk.path == "appliance_test_1-disk1.vmdk"
    assert disk.size_bytes == 4194304 and disk.port == 0 and disk.format.value == "vmdk"

    [file] = appliance.disks
    assert file.file_href == "appliance_test_1-disk1.vmdk"
    assert file.format == "vmdk" and file.format_url.endswith("#streamOptimized")
    assert file.capacity_bytes == 4194304  # ovf:capacity without units is bytes
    assert (file.controller_index, file.port, file.device) == (1, 0, 0)
    assert file.file_size is None  # VirtualBox 4.3 wrote no ovf:size

    assert len(spec.network) == 1
    assert spec.network[0].attachment is NetworkAttachment.NAT
    assert spec.network[0].model is NicModel.E1000
    assert spec.usb.version is UsbVersion.USB2  # enabledEhci="true" in vbox:Machine
    assert spec.display.video_memory_mib == 12  # from vbox:Machine's Display


def test_vmware_vcenter_export():
    path = fixtures_dir() / "govmomi_vcenter_exported_LinuxVM-22.ovf"
    appliance = read_ovf(path.read_bytes(), path.name)
    spec = appliance.spec

    assert spec.name == "LinuxVM-22"
    assert spec.cpu.count == 1
    assert spec.memory.size_mib == 256
    assert spec.firmware.kind is Firmware.BIOS
    # CIM 79 / rhel5Guest: RHEL 5 is not in the catalog (only 8 and 9).
    assert spec.os == "other-linux"
    assert any("Red Hat Enterprise Linux 5" in w for w in appliance.warnings)

    # The two IDE controllers hold nothing and are left out.
    assert [c.kind for c in spec.storage] == [ControllerKind.SCSI]
    [disk] = spec.storage[0].disks
    assert disk.path == "LinuxVM-22-disk1.vmdk" and disk.existing
    assert disk.size_bytes == 2 * 1024**3  # ovf:capacity="2" in "byte * 2^30"

    [file] = appliance.disks
    assert file.file_size == 258755584
    assert (file.controller_index, file.port) == (0, 0)

    [nic] = spec.network
    assert nic.model is NicModel.PCNET
    assert nic.attachment is NetworkAttachment.NAT  # "VM Network" has no meaning here
    assert any("'VM Network'" in w for w in appliance.warnings)
    assert spec.usb.version is None  # no USB controller item


def test_fixture_specs_validate_except_where_the_test_host_differs():
    folder = fixtures_dir()
    vbox = read_ovf((folder / "vbox43_exported_appliance_test_1.ovf").read_bytes(), "vbox").spec
    vmware = read_ovf((folder / "govmomi_vcenter_exported_LinuxVM-22.ovf").read_bytes(), "vmw").spec
    assert validate(vbox, TEST_CAPS, check_paths=False) == []
    # TEST_CAPS has neither SCSI nor PCnet: real differences the import dialog must show.
    fields = {p.field for p in validate(vmware, TEST_CAPS, check_paths=False)}
    assert fields == {"storage[0].kind", "network[0].model"}
