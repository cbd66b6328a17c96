"""Each rule of `porting.fit`, one at a time, against the backends' own capabilities."""

from __future__ import annotations

import pytest

from desktopvm.model import (
    BootDevice,
    Capabilities,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    DisplaySpec,
    DynamicMemory,
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
    errors,
    validate,
)
from desktopvm.model.porting import Fitting, fit
from tests.model.caps import BIOS_ONLY, TEST_CAPS
from tests.model.test_porting_golden import TARGETS

GIB = 1024**3
QEMU, VBOX, ESXI, VMWARE = (TARGETS[k] for k in ("qemu", "virtualbox", "esxi", "vmware"))
HYPERV = TARGETS["hyperv-gen1"].model_copy(update={"firmware": frozenset(Firmware)})


def vbox61_without_pack() -> Capabilities:
    from backends.virtualbox.capabilities import HostFacts, capabilities
    from backends.virtualbox.plans import Host
    from backends.virtualbox.versions import dialect_named

    return capabilities(dialect_named("6.1"), HostFacts(cpus=8, memory_mib=16384,
                                                        extension_pack=False), Host())


def machine(*controllers: StorageController, **fields: object) -> MachineSpec:
    return MachineSpec(name="m", os=str(fields.pop("os", "debian12")),
                       storage=controllers, **fields)


def disk(port: int = 0, device: int = 0, size: int = 10 * GIB) -> Disk:
    return Disk(format=DiskFormat.QCOW2, size_bytes=size, port=port, device=device,
                path=f"/vms/m/d{port}{device}.qcow2", existing=True)


def on(kind: ControllerKind, *disks: Disk, optical: tuple[OpticalDrive, ...] = ()
       ) -> StorageController:
    return StorageController(name=kind.value.upper(), kind=kind, disks=disks, optical=optical)


def changes(fitting: Fitting) -> dict[str, tuple[str, str, str]]:
    return {c.what: (c.before, c.after, c.reason) for c in fitting.changes}


def valid(fitting: Fitting, caps: Capabilities) -> Fitting:
    assert not fitting.blockers
    assert not errors(validate(fitting.spec, caps, check_paths=False))
    return fitting


# -- firmware, Secure Boot, TPM ---------------------------------------------------------------

def test_firmware_the_target_lacks_changes_with_what_it_means():
    spec = machine(on(ControllerKind.SATA, disk()), firmware=FirmwareSpec(
        kind=Firmware.UEFI, secure_boot=True, tpm=True,
        secure_boot_template=SecureBootTemplate.MICROSOFT_WINDOWS))
    got = changes(valid(fit(spec, BIOS_ONLY), BIOS_ONLY))
    assert got["firmware"][:2] == ("UEFI", "BIOS")
    assert "only if its disk also has a BIOS boot loader" in got["firmware"][2]
    assert got["Secure Boot"] == ("on", "off", "Secure Boot needs UEFI firmware")
    assert got["TPM"] == ("TPM 2.0", "none", "swtpm is not installed")


def test_firmware_the_target_has_stays():
    spec = machine(on(ControllerKind.SATA, disk()), firmware=FirmwareSpec(kind=Firmware.UEFI))
    assert fit(spec, TEST_CAPS).changes == ()


def test_a_secure_boot_template_the_target_lacks_becomes_its_default():
    spec = machine(on(ControllerKind.SATA, disk()), firmware=FirmwareSpec(
        kind=Firmware.UEFI, secure_boot=True,
        secure_boot_template=SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM))
    fitting = valid(fit(spec, QEMU), QEMU)
    assert fitting.spec.firmware.secure_boot_template is SecureBootTemplate.MICROSOFT_UEFI_CA
    assert changes(fitting)["Secure Boot template"][2] == \
        "QEMU has no 'open-source-shielded-vm' Secure Boot template"
    esxi = valid(fit(spec, ESXI), ESXI)
    assert esxi.spec.firmware.secure_boot and esxi.spec.firmware.secure_boot_template is None


def test_a_tpm_the_target_lacks_goes_with_the_targets_reason_and_the_guests_need():
    spec = machine(on(ControllerKind.NVME, disk()), os="windows11", firmware=FirmwareSpec(
        kind=Firmware.UEFI, tpm=True))
    before, after, reason = changes(valid(fit(spec, ESXI), ESXI))["TPM"]
    assert (before, after) == ("TPM 2.0", "none")
    assert reason.startswith(ESXI.tpm_unavailable_reason)
    assert reason.endswith("Windows 11 asks for one at install and upgrade time")


def test_hyperv_generation_1_has_no_tpm():
    spec = machine(on(ControllerKind.IDE, disk()), firmware=FirmwareSpec(tpm=True))
    assert changes(valid(fit(spec, HYPERV), HYPERV))["TPM"][2] == \
        "Hyper-V generation 1 offers a TPM only with UEFI firmware"


# -- buses ------------------------------------------------------------------------------------

def test_hyperv_generation_2_boots_from_scsi():
    spec = machine(on(ControllerKind.IDE, disk(), optical=(OpticalDrive(port=1),)),
                   firmware=FirmwareSpec(kind=Firmware.UEFI))
    fitting = valid(fit(spec, HYPERV), HYPERV)
    assert [c.kind for c in fitting.spec.storage] == [ControllerKind.SCSI]
    assert changes(fitting)["disk 1 bus"] == (
        "IDE port 0", "SCSI port 0", "Hyper-V generation 2 has no IDE; it boots from SCSI")


def test_hyperv_generation_1_boots_from_ide_and_keeps_data_disks_on_scsi():
    spec = machine(on(ControllerKind.SATA, disk(), disk(1), optical=(OpticalDrive(port=2),)))
    fitting = valid(fit(spec, HYPERV), HYPERV)
    storage = fitting.spec.storage
    assert [(c.kind, len(c.disks), len(c.optical)) for c in storage] == [
        (ControllerKind.IDE, 1, 1), (ControllerKind.SCSI, 1, 0)]
    got = changes(fitting)
    assert got["disk 1 bus"][2] == "Hyper-V generation 1 boots only from IDE"
    assert got["DVD drive 1 bus"][2] == "Hyper-V generation 1 holds DVD drives only on IDE"
    assert got["disk 2 bus"][2] == "Hyper-V has no SATA controller"


def test_the_boot_disks_controller_comes_first():
    spec = machine(on(ControllerKind.SCSI, disk()), on(ControllerKind.SATA, disk(3)))
    fitting = valid(fit(spec, HYPERV), HYPERV)  # BIOS: the first disk must go to IDE
    first = fitting.spec.all_disks()[0]
    assert fitting.spec.storage[first[0]].kind is ControllerKind.IDE
    assert first[1].path == "/vms/m/d00.qcow2"


def test_a_virtio_disk_goes_to_sata_where_the_target_has_no_virtio():
    spec = machine(on(ControllerKind.VIRTIO, disk(), disk(1)))
    fitting = valid(fit(spec, VMWARE), VMWARE)
    assert [c.kind for c in fitting.spec.storage] == [ControllerKind.SATA]
    assert changes(fitting)["disk 1 bus"] == (
        "VirtIO port 0", "SATA port 0",
        "vmware has no VirtIO controller; the guest's boot image needs its SATA driver")


def test_fit_never_picks_virtio_even_when_the_guest_prefers_it():
    caps = vbox61_without_pack()  # no NVMe; VirtIO is there and Linux lists it first
    spec = machine(on(ControllerKind.NVME, disk()), os="ubuntu24.04")
    fitting = valid(fit(spec, caps), caps)
    assert fitting.spec.storage[0].kind is ControllerKind.SATA
    assert changes(fitting)["disk 1 bus"][2].endswith(
        "the guest needs VirtIO drivers to boot from a virtio disk: SATA chosen instead")


def test_scsi_that_is_virtio_underneath_is_no_place_for_a_disk_from_real_scsi():
    spec = machine(on(ControllerKind.SCSI, disk(), disk(1)), os="windows11",
                   firmware=FirmwareSpec(kind=Firmware.UEFI))
    moved = valid(fit(spec, QEMU, source=VBOX), QEMU)
    assert [c.kind for c in moved.spec.storage] == [ControllerKind.SATA]
    assert changes(moved)["disk 1 bus"][2] == (
        "QEMU's SCSI controller is a VirtIO device; the guest needs VirtIO drivers to boot "
        "from a virtio disk: SATA chosen instead")
    assert fit(spec, QEMU, source=QEMU).changes == ()  # QEMU to QEMU: virtio-scsi both ends
    assert fit(spec, QEMU).changes == ()  # no source said: the bus stays


def test_a_bus_the_guest_has_no_driver_for_is_skipped():
    spec = machine(on(ControllerKind.VIRTIO, disk()), os="other")  # "other": IDE and SATA
    caps = HYPERV.model_copy(update={"controller_kinds": frozenset(
        {ControllerKind.SCSI, ControllerKind.IDE, ControllerKind.NVME})})
    fitting = valid(fit(spec, caps), caps)
    assert fitting.spec.storage[0].kind is ControllerKind.IDE


def test_ports_past_the_targets_limit_are_renumbered():
    spec = machine(on(ControllerKind.SCSI, disk(), disk(15)))  # VirtualBox: 16 SCSI ports
    fitting = valid(fit(spec, ESXI), ESXI)  # ESXi: 15
    assert [d.port for d in fitting.spec.storage[0].disks] == [0, 1]
    assert changes(fitting)["disk 2 port"] == (
        "SCSI port 15", "SCSI port 1", "ESXi's SCSI controllers have ports 0 to 14, one "
        "device each")


def test_a_full_controller_hands_on_to_a_second_of_its_bus():
    spec = machine(on(ControllerKind.SATA, *(disk(n) for n in range(8))))  # QEMU: 6 ports
    fitting = valid(fit(spec, QEMU), QEMU)
    assert [(c.name, len(c.disks)) for c in fitting.spec.storage] == [("SATA", 6),
                                                                       ("SATA 2", 2)]


def test_a_full_ide_channel_hands_on_to_the_next_bus():
    spec = machine(on(ControllerKind.IDE, *(disk(p, d) for p in range(2) for d in range(2))),
                   on(ControllerKind.SATA, disk(5)))
    fitting = valid(fit(spec, ESXI), ESXI)  # ESXi: one device per IDE port
    assert [(c.kind, len(c.disks)) for c in fitting.spec.storage] == [
        (ControllerKind.IDE, 2), (ControllerKind.SATA, 3)]


def test_no_free_port_is_a_blocker_not_a_silent_loss():
    drives = tuple(OpticalDrive(port=p, device=d) for p in range(2) for d in range(2))
    spec = machine(on(ControllerKind.SATA, disk()), on(ControllerKind.IDE, optical=drives))
    fitting = fit(spec, HYPERV)  # generation 1: the disk and four DVD drives on IDE's four
    assert fitting.blockers == ("Hyper-V has no free IDE port for DVD drive 1.",)


def test_an_empty_controller_the_target_lacks_is_removed_and_said():
    spec = machine(on(ControllerKind.SATA, disk()), on(ControllerKind.NVME))
    fitting = valid(fit(spec, HYPERV.model_copy(update={"firmware": frozenset(
        {Firmware.UEFI})})), HYPERV)
    assert changes(fitting)["NVME controller"][:2] == ("NVMe", "removed")


# -- disks ------------------------------------------------------------------------------------

def test_disks_get_the_targets_own_format():
    spec = machine(on(ControllerKind.SATA, disk()))
    for caps, native in ((VBOX, "VDI"), (HYPERV, "VHDX"), (ESXI, "VMDK"), (QEMU, None)):
        got = changes(fit(spec, caps)).get("disk 1 format")
        assert (got[1] if got else None) == native


def test_a_disk_larger_than_the_target_takes_is_a_blocker():
    spec = machine(on(ControllerKind.SATA, disk(size=3 * 1024 * GIB)))
    assert fit(spec, VBOX).blockers == ("Disk 1 is 3.0 TiB; VirtualBox 7.2 takes disks of at "
                                        "most 2.0 TiB.",)
    assert fit(spec, QEMU).blockers == ()


# -- network ----------------------------------------------------------------------------------

def test_an_attachment_the_target_lacks_is_disconnected_with_its_forwards():
    nic = NetworkAdapter(model=NicModel.E1000, port_forwards=(PortForward(host_port=2222,
                                                                          guest_port=22),))
    fitting = valid(fit(machine(network=(nic,)), ESXI), ESXI)
    adapter = fitting.spec.network[0]
    assert (adapter.attachment, adapter.network, adapter.port_forwards) == (
        NetworkAttachment.NONE, "", ())
    assert changes(fitting)["network adapter 1"][2].startswith("ESXi has no NAT: the adapter "
                                                               "is left disconnected")


def test_a_network_the_target_host_lacks_is_disconnected_and_a_nat_network_becomes_nat():
    nics = (NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="eth9"),
            NetworkAdapter(attachment=NetworkAttachment.NAT, network="natnet1"),
            NetworkAdapter(attachment=NetworkAttachment.INTERNAL, network="lab"),
            NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="eth0"))
    offered = {NetworkAttachment.BRIDGED: {"eth0"}, NetworkAttachment.NAT: {""}}
    fitting = valid(fit(machine(network=nics), VBOX, networks=offered), VBOX)
    assert [(n.attachment, n.network) for n in fitting.spec.network] == [
        (NetworkAttachment.NONE, ""), (NetworkAttachment.NAT, ""),
        (NetworkAttachment.INTERNAL, "lab"), (NetworkAttachment.BRIDGED, "eth0")]
    assert fit(machine(network=nics), VBOX).spec.network == nics  # host not asked: kept


def test_nic_models_follow_the_guests_drivers():
    nic = NetworkAdapter(model=NicModel.E1000E)
    windows = valid(fit(machine(network=(nic,), os="windows11"), VBOX), VBOX)
    assert windows.spec.network[0].model is NicModel.E1000
    linux = valid(fit(machine(network=(nic,), os="ubuntu24.04"), VBOX), VBOX)
    assert linux.spec.network[0].model is NicModel.VIRTIO
    hyperv = changes(valid(fit(machine(network=(nic,)), HYPERV), HYPERV))
    assert hyperv["network adapter 1 model"][1:] == (
        "synthetic", "Hyper-V has no e1000e adapter; Windows and Linux have the driver of "
        "Hyper-V's own adapter built in")
    assert fit(machine(network=(NetworkAdapter(),)), HYPERV).spec.network[0].model is None


def test_adapters_beyond_the_targets_count_are_removed():
    spec = machine(network=(NetworkAdapter(),) * 10)
    fitting = valid(fit(spec, VBOX), VBOX)
    assert len(fitting.spec.network) == 8
    assert changes(fitting)["network adapter 10"][1:] == (
        "removed", "VirtualBox 7.2 machines have at most 8 network adapters")


# -- sizes and devices ------------------------------------------------------------------------

def test_cpus_memory_and_dynamic_memory_are_clamped():
    spec = machine(cpu=CpuSpec(count=64, nested_virtualization=True),
                   memory=MemorySpec(size_mib=65536, dynamic=DynamicMemory(
                       minimum_mib=512, maximum_mib=131072)))
    fitting = valid(fit(spec, HYPERV.model_copy(update={"nested_virtualization": False})),
                    HYPERV)
    assert (fitting.spec.cpu.count, fitting.spec.memory.size_mib) == (8, 16384)
    assert fitting.spec.memory.dynamic == DynamicMemory(minimum_mib=512, maximum_mib=16384)
    assert not fitting.spec.cpu.nested_virtualization
    assert changes(fitting)["CPUs"] == ("64", "8", "Hyper-V on this host gives a machine 1 to "
                                        "8 CPUs")
    no_dynamic = changes(valid(fit(spec, VBOX), VBOX))["dynamic memory"]
    assert no_dynamic[1] == "off"


def test_display_usb_serial_and_boot_order():
    spec = machine(display=DisplaySpec(video_memory_mib=512, monitors=4),
                   usb=UsbSpec(version=UsbVersion.USB3),
                   serial=(SerialPort(number=1, mode=SerialMode.SOCKET),
                           SerialPort(number=2, mode=SerialMode.FILE, path="/x.log"),
                           SerialPort(number=3, mode=SerialMode.SOCKET)),
                   boot_order=(BootDevice.DISK, BootDevice.NETWORK))
    qemu = valid(fit(spec, QEMU), QEMU)
    assert (qemu.spec.display.video_memory_mib, qemu.spec.display.monitors) == (256, 1)
    hyperv = valid(fit(spec, HYPERV), HYPERV)
    assert hyperv.spec.usb == UsbSpec(version=None, tablet=False)
    assert [(p.number, p.mode) for p in hyperv.spec.serial] == [
        (1, SerialMode.PIPE), (2, SerialMode.DISCONNECTED)]
    assert changes(hyperv)["serial port COM3"][1:] == ("removed", "Hyper-V machines have COM1 "
                                                       "to COM2 only")
    limited = vbox61_without_pack()
    usb = changes(valid(fit(spec, limited), limited))["USB"]
    assert usb[:2] == ("USB 3.0", "USB 1.1") and "Extension Pack" in usb[2]
    no_pxe = QEMU.model_copy(update={"boot_devices": frozenset({BootDevice.DISK})})
    assert valid(fit(spec, no_pxe), no_pxe).spec.boot_order == (BootDevice.DISK,)


def test_the_name_fits_the_target_and_the_os_and_id_are_kept():
    spec = machine(on(ControllerKind.SATA, disk()), os="fedora").model_copy(update={
        "id": "abc", "name": "web/db " + "x" * 100})
    fitting = valid(fit(spec, ESXI), ESXI)
    assert fitting.spec.name == ("web-db " + "x" * 100)[:80]
    assert (fitting.spec.os, fitting.spec.id) == ("fedora", "")


@pytest.mark.parametrize("target", TARGETS)
def test_fitting_a_fitted_spec_again_changes_nothing(target: str):
    from tests.model.test_porting_golden import MACHINES

    for make in MACHINES.values():
        once = fit(make(), TARGETS[target])
        again = fit(once.spec, TARGETS[target])
        assert (again.changes, again.spec) == ((), once.spec)


def test_a_second_ide_controllers_drives_join_the_first():
    spec = machine(on(ControllerKind.IDE, disk()),
                   StorageController(name="IDE 2", kind=ControllerKind.IDE,
                                     optical=(OpticalDrive(),)))
    fitting = valid(fit(spec, QEMU), QEMU)  # QEMU's PIIX has one set of channels too
    assert [(c.name, len(c.disks), len(c.optical)) for c in fitting.spec.storage] == [
        ("IDE", 1, 1)]
    assert changes(fitting)["DVD drive 1 bus"] == ("IDE port 0", "IDE port 0 device 1",
                                                   "QEMU has one set of IDE channels")


def test_hyperv_gets_memory_in_steps_of_2_mib():
    spec = machine(memory=MemorySpec(size_mib=1023))
    fitting = valid(fit(spec, HYPERV), HYPERV)
    assert fitting.spec.memory.size_mib == 1024
    assert changes(fitting)["memory"][2].endswith("in steps of 2 MiB")
    assert fit(spec, QEMU).changes == ()
