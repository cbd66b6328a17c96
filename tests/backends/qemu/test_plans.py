"""The QEMU command line built from a spec: exact options for each part of the model."""

from __future__ import annotations

from pathlib import Path

from backends.qemu.firmware import Firmware as FirmwareBuild
from backends.qemu.layout import RunFiles
from backends.qemu.plans import LaunchPlan, build_argv
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    PortForward,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
)

RUN = RunFiles(Path("/run/dvm"))
UEFI = FirmwareBuild("plain", Path("/fw/CODE.fd"), Path("/fw/VARS.fd"), False, False)
SECURE = FirmwareBuild("secure", Path("/fw/CODE.ms.fd"), Path("/fw/VARS.ms.fd"), True, True)


def plan(**update) -> LaunchPlan:
    fields = {"binary": "qemu-system-x86_64", "accel": "tcg", "machine_type": "q35", "run": RUN}
    return LaunchPlan(**{**fields, **update})


def pairs(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == option]


def spec(**update) -> MachineSpec:
    return MachineSpec(**{"id": "1234abcd-0000", "name": "web", **update})


def test_basics_and_sockets():
    argv = build_argv(spec(), plan())
    assert argv[0] == "qemu-system-x86_64"
    assert pairs(argv, "-machine") == ["q35,accel=tcg"]
    assert pairs(argv, "-qmp") == ["unix:/run/dvm/qmp.sock,server=on,wait=off"]
    assert pairs(argv, "-vnc") == ["unix:/run/dvm/vnc.sock"]
    assert "-nodefaults" in argv and "-daemonize" in argv
    assert pairs(argv, "-smp") == ["1"] and pairs(argv, "-m") == ["1024M"]


def test_commas_in_names_and_paths_are_escaped():
    disk = Disk(path="/vms/a,b/disk.qcow2", format=DiskFormat.QCOW2, size_bytes=1)
    argv = build_argv(spec(name="x,y", storage=(StorageController(kind=ControllerKind.VIRTIO,
                                                                  disks=(disk,)),)), plan())
    assert pairs(argv, "-name")[0].startswith("guest=x,,y,")
    assert "file=/vms/a,,b/disk.qcow2" in pairs(argv, "-drive")[0]


def test_uefi_secure_boot_needs_q35_with_smm_and_tpm_crb():
    fw = FirmwareSpec(kind=Firmware.UEFI, secure_boot=True, tpm=True)
    argv = build_argv(spec(firmware=fw), plan(machine_type="pc", uefi=SECURE,
                                              nvram=Path("/vm/nvram.qcow2"), tpm=True))
    assert pairs(argv, "-machine") == ["q35,accel=tcg,smm=on"]
    assert "driver=cfi.pflash01,property=secure,value=on" in pairs(argv, "-global")
    drives = pairs(argv, "-drive")
    assert "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.ms.fd" in drives
    assert "if=pflash,format=qcow2,unit=1,file=/vm/nvram.qcow2" in drives
    assert "tpm-crb,tpmdev=tpm0" in pairs(argv, "-device")


def test_every_controller_kind_and_boot_order():
    disk = Disk(path="/d.qcow2", size_bytes=1)
    controllers = (
        StorageController(kind=ControllerKind.IDE, disks=(disk.model_copy(update={
            "path": "/ide.qcow2", "port": 1, "device": 1}),)),
        StorageController(kind=ControllerKind.SATA, disks=(disk,), optical=(
            OpticalDrive(iso="/i.iso", port=1),)),
        StorageController(kind=ControllerKind.SCSI, disks=(disk.model_copy(update={
            "path": "/s.qcow2", "port": 3}),)),
        StorageController(kind=ControllerKind.NVME, disks=(disk.model_copy(update={
            "path": "/n.qcow2"}),)),
        StorageController(kind=ControllerKind.VIRTIO, disks=(disk.model_copy(update={
            "path": "/v.vhdx", "format": DiskFormat.VHD}),)),
    )
    argv = build_argv(spec(storage=controllers, boot_order=(BootDevice.OPTICAL,
                                                             BootDevice.DISK)), plan())
    devices = pairs(argv, "-device")
    assert "ide-hd,drive=disk0-0,bus=ide.3,bootindex=201" in devices
    assert "ahci,id=ctl1" in devices
    assert "ide-hd,drive=disk1-0,bus=ctl1.0,bootindex=202" in devices
    assert "ide-cd,drive=cd1-0,bus=ctl1.1,bootindex=101" in devices
    assert "scsi-hd,drive=disk2-0,bus=ctl2.0,scsi-id=3,bootindex=203" in devices
    assert "nvme-ns,drive=disk3-0,bus=ctl3,nsid=1,bootindex=204" in devices
    assert "virtio-blk-pci,drive=disk4-0,bootindex=205" in devices
    assert any(d.startswith("if=none,id=disk4-0,file=/v.vhdx,format=vpc")
               for d in pairs(argv, "-drive"))
    assert ("if=none,id=cd1-0,media=cdrom,readonly=on,file=/i.iso,format=raw"
            in pairs(argv, "-drive"))


def test_ide_on_pc_uses_piix_buses():
    controllers = (StorageController(kind=ControllerKind.IDE, disks=(
        Disk(path="/a", size_bytes=1, port=1, device=0),)),)
    argv = build_argv(spec(storage=controllers), plan(machine_type="pc"))
    assert "ide-hd,drive=disk0-0,bus=ide.1,unit=0,bootindex=101" in pairs(argv, "-device")


def test_network_nat_with_forwards_bridge_and_none():
    nics = (
        NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.VIRTIO,
                       mac="52:54:00:00:00:01", port_forwards=(
                           PortForward(host_port=2222, guest_port=22),)),
        NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="br0"),
        NetworkAdapter(attachment=NetworkAttachment.NONE),
    )
    argv = build_argv(spec(network=nics), plan())
    assert pairs(argv, "-netdev") == [
        "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22",
        "bridge,id=net1,br=br0,helper=/usr/lib/qemu/qemu-bridge-helper"]
    devices = pairs(argv, "-device")
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01" in devices
    assert "e1000,netdev=net1" in devices
    assert not any("net2" in d for d in devices)


def test_usb_serial_incoming_and_loadvm():
    argv = build_argv(spec(usb=UsbSpec(version=UsbVersion.USB3),
                           serial=(SerialPort(number=2, mode=SerialMode.SOCKET),
                                   SerialPort(number=1, mode=SerialMode.DISCONNECTED))),
                      plan(incoming="defer", loadvm="dvm-1"))
    assert {"qemu-xhci,id=usb", "usb-tablet,bus=usb.0",
            "isa-serial,chardev=serial1,index=0",
            "isa-serial,chardev=serial2,index=1"} <= set(pairs(argv, "-device"))
    assert pairs(argv, "-chardev") == [
        "null,id=serial1",
        "socket,id=serial2,path=/run/dvm/serial2.sock,server=on,wait=off"]
    assert pairs(argv, "-incoming") == ["defer"] and pairs(argv, "-loadvm") == ["dvm-1"]
