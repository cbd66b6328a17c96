"""showvminfo -> MachineSpec over real captures and samples; OS types; the .vbox facts."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as SafeXml

from backends.virtualbox.parse import parse_machine_readable
from backends.virtualbox.settingsfile import SettingsFacts, facts_from_xml, read_settings_file
from backends.virtualbox.translate import OsTypes, catalog_os, power_state, spec_from
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    DiskFormat,
    Firmware,
    NetworkAttachment,
    NicModel,
    SerialMode,
    UsbVersion,
    catalog,
)
from desktopvm.protocol import PowerState
from desktopvm.testing.doubles.virtualbox.fakevbox.output import OS_DESCRIPTIONS
from tests.backends.virtualbox.conftest import SAMPLES, sample

TYPES = OsTypes(dict(OS_DESCRIPTIONS))


def spec_of(text: str, facts: SettingsFacts | None = None):
    return spec_from(parse_machine_readable(text), facts or SettingsFacts(), TYPES, catalog())


def test_chef_capture(shared_fixtures: Path):
    spec = spec_of((shared_fixtures / "chef_ohai_showvminfo_mr_poweroff_with_snapshot.txt")
                   .read_text("utf-8"))
    assert (spec.cpu.count, spec.memory.size_mib, spec.firmware.kind) == (1, 1024, Firmware.BIOS)
    ide, sata = spec.storage
    assert (ide.kind, ide.disks, ide.optical) == (ControllerKind.IDE, (), ())
    [disk] = sata.disks
    assert disk.path.endswith("{1c182745-4b09-41a1-a147-d3ced46f72f6}.vmdk")
    assert disk.format is DiskFormat.VMDK and disk.existing
    [nic] = spec.network
    assert (nic.attachment, nic.mac, nic.model) == (NetworkAttachment.NAT, "08:00:27:E5:FA:8F",
                                                    NicModel.E1000)
    assert spec.boot_order == (BootDevice.DISK, BootDevice.OPTICAL)
    # "Ubuntu (64-bit)" is Ubuntu_64: Linux Mint's primary type, every Ubuntu's fallback; the
    # description names Ubuntu, so the newest Ubuntu it is (not Linux Mint).
    assert spec.os == "ubuntu24.04"


def test_vbox70_capture_with_bios_and_an_empty_dvd(shared_fixtures: Path):
    spec = spec_of((shared_fixtures / "vedv_vbox70_showvminfo_mr_poweroff_bios.txt")
                   .read_text("utf-8"))
    ide = next(c for c in spec.storage if c.kind is ControllerKind.IDE)
    assert [(o.iso, o.port, o.device) for o in ide.optical] == [("", 1, 0)]
    assert spec.usb.version is UsbVersion.USB2 and spec.usb.tablet
    assert spec.notes == "name1=value1\nname2=value2"
    assert spec.os == "arch"


def test_vagrant_hostonlynet_excerpt_and_forwarding_owner(shared_fixtures: Path):
    spec = spec_of((shared_fixtures / "vagrant_vbox70_showvminfo_mr_nics_hostonlynet_excerpt.txt")
                   .read_text("utf-8"))
    nat, host_only = spec.network
    assert [(f.name, f.host_port, f.guest_port) for f in nat.port_forwards] == [("ssh", 2222, 22)]
    assert (host_only.attachment, host_only.network) == (NetworkAttachment.HOST_ONLY,
                                                         "vagrantnet-vbox1")
    assert host_only.port_forwards == ()


def test_old_windows_capture_bridged_and_guest_additions_iso(shared_fixtures: Path):
    spec = spec_of((shared_fixtures / "unresolved_vbox60_windows_showvminfo_mr_running_bridged.txt")
                   .read_text("utf-8"))
    ide = next(c for c in spec.storage if c.kind is ControllerKind.IDE)
    assert ide.optical[0].iso.endswith(r"Oracle\VirtualBox\VBoxGuestAdditions.iso")
    assert spec.network[0].network == "Intel(R) Wi-Fi 6E AX211 160MHz"


def test_61_sample_windows_host():
    spec = spec_of(sample("6.1/showvminfo_windows_host_running.txt"))
    assert spec.name == 'Win10 "dev" box' and spec.os == "windows10"
    [sata] = spec.storage
    assert [d.port for d in sata.disks] == [0] and sata.optical[0].iso.endswith(".iso")
    assert [p.mode for p in spec.serial] == [SerialMode.PIPE]
    assert spec.serial[0].path == r"\\.\pipe\win10-com1"
    assert [f.host_ip for f in spec.network[0].port_forwards] == ["127.0.0.1", ""]
    assert spec.firmware.kind is Firmware.UEFI and not spec.firmware.tpm


def test_70_sample_tpm_secure_boot_marker_nvme_and_nics():
    facts = read_settings_file(SAMPLES / "7.0" / "win11.vbox")
    assert facts.tpm == "2.0" and facts.extra_data["DesktopVM/OS"] == "windows11"
    spec = spec_of(sample("7.0/showvminfo_efi_tpm_poweroff.txt"), facts)
    assert spec.os == "windows11"
    assert (spec.firmware.kind, spec.firmware.secure_boot, spec.firmware.tpm) == \
        (Firmware.UEFI, True, True)
    nvme, sata = spec.storage
    assert nvme.kind is ControllerKind.NVME and nvme.disks[0].format is DiskFormat.VDI
    assert [(o.port, o.iso != "") for o in sata.optical] == [(0, True), (1, False)]
    bridged, internal, unplugged = spec.network
    assert (bridged.attachment, bridged.network) == (NetworkAttachment.BRIDGED, "enp3s0")
    assert (internal.attachment, internal.model) == (NetworkAttachment.INTERNAL, NicModel.VIRTIO)
    assert unplugged.attachment is NetworkAttachment.NONE
    assert spec.usb.version is UsbVersion.USB3
    assert spec.boot_order == (BootDevice.OPTICAL, BootDevice.DISK, BootDevice.NETWORK)
    assert spec.cpu.nested_virtualization and spec.display.monitors == 2
    assert spec.serial[0].mode is SerialMode.FILE


def test_71_sample_secure_boot_key_saved_state_virtio_and_natnetwork():
    info = parse_machine_readable(sample("7.1/showvminfo_secureboot_saved.txt"))
    spec = spec_from(info, SettingsFacts(), TYPES, catalog())
    assert spec.name == "-ubuntu 24.04" and spec.os == "ubuntu24.04"
    assert spec.firmware.secure_boot and power_state(info.get("VMState")) is PowerState.SAVED
    assert [c.kind for c in spec.storage] == [ControllerKind.VIRTIO, ControllerKind.IDE]
    assert spec.storage[0].disks[0].format is DiskFormat.VMDK
    host_only, nat_network = spec.network
    assert (host_only.attachment, host_only.network) == (NetworkAttachment.HOST_ONLY, "vboxnet0")
    assert (nat_network.attachment, nat_network.network, nat_network.model) == \
        (NetworkAttachment.NAT, "NatNetwork", NicModel.PCNET)
    assert [(p.number, p.mode) for p in spec.serial] == [(2, SerialMode.SOCKET)]


def test_72_sample_paused_linked_clone():
    info = parse_machine_readable(sample("7.2/showvminfo_paused_linked_clone.txt"))
    spec = spec_from(info, SettingsFacts(), TYPES, catalog())
    assert power_state(info.get("VMState")) is PowerState.PAUSED
    assert spec.name == "linked ‘clone’" and spec.os == "debian12"
    assert spec.storage[0].disks[0].path.endswith("}.vdi")
    assert not spec.firmware.secure_boot and spec.usb.version is None and not spec.usb.tablet


def test_power_states():
    assert power_state("poweroff") is PowerState.OFF
    assert power_state("aborted-saved") is PowerState.SAVED
    assert power_state("gurumeditation") is PowerState.PAUSED
    assert power_state("restoring") is PowerState.STARTING
    assert power_state("something new") is PowerState.UNKNOWN


def test_catalog_os_prefers_unique_primaries_and_generic_entries():
    os_catalog = catalog()
    assert catalog_os("Windows10_64", os_catalog) == "windows10"  # also windows11's fallback
    assert catalog_os("Linux26_64", os_catalog) == "other-linux"  # shared by three entries
    assert catalog_os("RedHat_64", os_catalog) == "other-linux"  # only a fallback, five times
    assert catalog_os("Solaris11_64", os_catalog) == "other"
    assert catalog_os("", os_catalog) == "other"


def test_os_types_choose_per_installed_version(shared_fixtures: Path):
    with_61_types = OsTypes({k: v for k, v in OS_DESCRIPTIONS.items() if k != "Windows11_64"})
    assert with_61_types.choose("Windows11_64", "Windows10_64", True) == "Windows10_64"
    assert TYPES.choose("Windows11_64", "Windows10_64", False) == "Windows11_64"
    assert OsTypes().choose("Windows11_64", "Windows10_64", True) == "Windows10_64"
    assert OsTypes().choose("Windows11_64", "Windows10_64", False) == "Windows11_64"
    listed = OsTypes.from_list_output(sample("7.1/list_ostypes_excerpt.txt"))
    assert listed.id_for("Windows 11 (64-bit)") == "Windows11_64"
    assert listed.id_for("Ubuntu24_LTS_64") == "Ubuntu24_LTS_64"


def test_settings_file_facts_real_snippet(shared_fixtures: Path):
    facts = read_settings_file(shared_fixtures / "vagrant_vbox70_machine_config_snippet.vbox")
    assert facts.tpm == ""
    assert read_settings_file(shared_fixtures / "missing.vbox") == SettingsFacts()
    assert read_settings_file("") == SettingsFacts()


def test_settings_file_snapshots_and_machine_level_tpm_only():
    root = SafeXml.fromstring(
        '<VirtualBox xmlns="http://www.virtualbox.org/"><Machine uuid="{1}">'
        '<Snapshot uuid="{AA-1}" timeStamp="2025-01-01T00:00:00Z" stateFile="s.sav">'
        '<Hardware><TrustedPlatformModule type="v2_0"/></Hardware><Snapshots>'
        '<Snapshot uuid="{aa-2}" timeStamp="2025-01-02T00:00:00Z"/></Snapshots></Snapshot>'
        '<Hardware><TrustedPlatformModule type="none"/></Hardware></Machine></VirtualBox>')
    facts = facts_from_xml(root)
    assert facts.tpm == ""  # the snapshot's TPM is not the machine's
    assert facts.snapshots["aa-1"].has_memory and not facts.snapshots["aa-2"].has_memory
    assert facts.snapshots["aa-2"].created == "2025-01-02T00:00:00Z"
