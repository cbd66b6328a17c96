"""Human names and orderings for the model's enums, as the editors show them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from PySide6.QtCore import QCoreApplication

from desktopvm.model import (
    BootDevice,
    ControllerKind,
    DiskFormat,
    Firmware,
    NetworkAttachment,
    NicModel,
    SecureBootTemplate,
    SerialMode,
    UsbVersion,
)

E = TypeVar("E")


def _tr(text: str) -> str:
    return QCoreApplication.translate("labels", text)


# Most common first: the order choices appear in combo boxes.
ATTACHMENT_ORDER = (
    NetworkAttachment.NAT, NetworkAttachment.BRIDGED, NetworkAttachment.SWITCH,
    NetworkAttachment.HOST_ONLY, NetworkAttachment.INTERNAL, NetworkAttachment.NONE,
)
FORMAT_ORDER = (
    DiskFormat.QCOW2, DiskFormat.VDI, DiskFormat.VHDX, DiskFormat.VMDK, DiskFormat.VHD,
    DiskFormat.RAW,
)
CONTROLLER_ORDER = (
    ControllerKind.VIRTIO, ControllerKind.NVME, ControllerKind.SATA, ControllerKind.SCSI,
    ControllerKind.IDE,
)
NIC_ORDER = (
    NicModel.VIRTIO, NicModel.SYNTHETIC, NicModel.E1000E, NicModel.E1000, NicModel.VMXNET3,
    NicModel.RTL8139, NicModel.PCNET,
)


def ordered(choices: Iterable[E], order: tuple[E, ...]) -> list[E]:
    """`choices` in the preferred display `order` (unknown ones last)."""
    present = set(choices)
    return [c for c in order if c in present] + sorted(present - set(order), key=str)


def firmware_name(kind: Firmware) -> str:
    """'UEFI' / 'BIOS (legacy)'."""
    return _tr("UEFI") if kind is Firmware.UEFI else _tr("BIOS (legacy)")


def template_name(template: SecureBootTemplate) -> str:
    """Which keys a Secure Boot template trusts, in words."""
    return {
        SecureBootTemplate.MICROSOFT_WINDOWS: _tr("Microsoft Windows"),
        SecureBootTemplate.MICROSOFT_UEFI_CA: _tr("Microsoft UEFI CA"),
        SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM: _tr("Open Source Shielded VM"),
    }[template]


def template_hint(template: SecureBootTemplate | None) -> str:
    """Which guests boot with a template's keys."""
    if template is None:
        return _tr("The hypervisor's usual keys.")
    return {
        SecureBootTemplate.MICROSOFT_WINDOWS: _tr("Boots Windows only."),
        SecureBootTemplate.MICROSOFT_UEFI_CA: _tr("Boots Windows and most Linux distributions "
                                                  "(their shim is signed by Microsoft)."),
        SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM: _tr("Boots Linux in shielded machines."),
    }[template]


def disk_format_name(disk_format: DiskFormat) -> str:
    """A disk format with the hypervisor it comes from."""
    return {
        DiskFormat.QCOW2: _tr("QCOW2 (QEMU copy-on-write)"),
        DiskFormat.VDI: _tr("VDI (VirtualBox)"),
        DiskFormat.VHDX: _tr("VHDX (Hyper-V)"),
        DiskFormat.VHD: _tr("VHD (Virtual PC, older Hyper-V)"),
        DiskFormat.VMDK: _tr("VMDK (VMware)"),
        DiskFormat.RAW: _tr("Raw image"),
    }[disk_format]


def controller_name(kind: ControllerKind) -> str:
    """The bus name as people write it."""
    return {
        ControllerKind.IDE: "IDE", ControllerKind.SATA: "SATA", ControllerKind.SCSI: "SCSI",
        ControllerKind.NVME: "NVMe", ControllerKind.VIRTIO: "VirtIO",
    }[kind]


def controller_hint(kind: ControllerKind) -> str:
    """When to pick this bus."""
    return {
        ControllerKind.IDE: _tr("Oldest and slowest; for very old guests only."),
        ControllerKind.SATA: _tr("Works with every guest, including installers without extra "
                                 "drivers."),
        ControllerKind.SCSI: _tr("Many disks on one controller; needs guest drivers."),
        ControllerKind.NVME: _tr("Fast; supported by Windows 10, 11 and current Linux."),
        ControllerKind.VIRTIO: _tr("Fastest; Linux has the driver, Windows needs the VirtIO "
                                   "drivers."),
    }[kind]


def attachment_name(attachment: NetworkAttachment) -> str:
    """What an adapter is plugged into."""
    return {
        NetworkAttachment.NAT: _tr("NAT (share the host's connection)"),
        NetworkAttachment.BRIDGED: _tr("Bridged to a host interface"),
        NetworkAttachment.SWITCH: _tr("Virtual switch"),
        NetworkAttachment.HOST_ONLY: _tr("Host-only network"),
        NetworkAttachment.INTERNAL: _tr("Internal network"),
        NetworkAttachment.NONE: _tr("Not connected"),
    }[attachment]


def attachment_short_name(attachment: NetworkAttachment) -> str:
    """A one-word attachment name for lists and summaries."""
    return {
        NetworkAttachment.NAT: _tr("NAT"), NetworkAttachment.BRIDGED: _tr("Bridged"),
        NetworkAttachment.SWITCH: _tr("Switch"), NetworkAttachment.HOST_ONLY: _tr("Host-only"),
        NetworkAttachment.INTERNAL: _tr("Internal"), NetworkAttachment.NONE: _tr("Not connected"),
    }[attachment]


def attachment_hint(attachment: NetworkAttachment) -> str:
    """What the choice means for the guest."""
    return {
        NetworkAttachment.NAT: _tr("The machine reaches the network through the host; other "
                                   "computers cannot reach it."),
        NetworkAttachment.BRIDGED: _tr("The machine appears on the host's network as a computer "
                                       "of its own."),
        NetworkAttachment.SWITCH: _tr("The machine plugs into a virtual switch of the host."),
        NetworkAttachment.HOST_ONLY: _tr("The machine can talk to the host and to other "
                                         "host-only machines, not beyond."),
        NetworkAttachment.INTERNAL: _tr("The machine can talk only to machines on the same "
                                        "internal network."),
        NetworkAttachment.NONE: _tr("The adapter is there but no cable is plugged in."),
    }[attachment]


def network_field_label(attachment: NetworkAttachment) -> str:
    """The label of the field naming what the adapter plugs into."""
    return {
        NetworkAttachment.BRIDGED: _tr("Host interface:"),
        NetworkAttachment.SWITCH: _tr("Switch:"),
        NetworkAttachment.HOST_ONLY: _tr("Host-only network:"),
        NetworkAttachment.INTERNAL: _tr("Network name:"),
    }.get(attachment, _tr("Network:"))


def nic_model_name(model: NicModel) -> str:
    """The emulated card by its product name."""
    return {
        NicModel.VIRTIO: _tr("VirtIO (paravirtual, fastest)"),
        NicModel.E1000E: _tr("Intel 82574L (e1000e)"),
        NicModel.E1000: _tr("Intel PRO/1000 (e1000)"),
        NicModel.RTL8139: _tr("Realtek RTL8139"),
        NicModel.PCNET: _tr("AMD PCnet"),
        NicModel.VMXNET3: _tr("VMware vmxnet3"),
        NicModel.SYNTHETIC: _tr("Hyper-V synthetic adapter"),
    }[model]


SERIAL_MODE_ORDER = (
    SerialMode.SOCKET, SerialMode.PIPE, SerialMode.FILE, SerialMode.TCP, SerialMode.DISCONNECTED,
)
BOOT_DEVICE_ORDER = (BootDevice.DISK, BootDevice.OPTICAL, BootDevice.NETWORK)


def usb_version_name(version: UsbVersion | None) -> str:
    """A USB controller generation with the chip people know it by."""
    if version is None:
        return _tr("No USB controller")
    return {
        UsbVersion.USB1: _tr("USB 1.1 (OHCI/UHCI)"),
        UsbVersion.USB2: _tr("USB 2.0 (EHCI)"),
        UsbVersion.USB3: _tr("USB 3.0 (xHCI)"),
    }[version]


def serial_mode_name(mode: SerialMode) -> str:
    """Where a serial port's host side goes, in words."""
    return {
        SerialMode.SOCKET: _tr("Local socket (for the console)"),
        SerialMode.PIPE: _tr("Named pipe"),
        SerialMode.FILE: _tr("Log file (output only)"),
        SerialMode.TCP: _tr("TCP port on this computer"),
        SerialMode.DISCONNECTED: _tr("Not connected"),
    }[mode]


def serial_mode_hint(mode: SerialMode) -> str:
    """What the choice does for the user."""
    return {
        SerialMode.SOCKET: _tr("DesktopVM's console attaches to it: the Serial tab shows what "
                               "the guest writes and sends what you type."),
        SerialMode.PIPE: _tr("A Windows named pipe, written \\\\.\\pipe\\NAME; leave it empty "
                             "for one named after the machine."),
        SerialMode.FILE: _tr("Everything the guest writes to the port is appended to this file."),
        SerialMode.TCP: _tr("A TCP server on the loopback interface: connect with telnet or nc "
                            "to that port."),
        SerialMode.DISCONNECTED: _tr("The guest sees the port, but nothing is plugged in."),
    }[mode]


def serial_mode_short_name(mode: SerialMode) -> str:
    """A serial port's connection in one or two words, for lists."""
    return {
        SerialMode.SOCKET: _tr("Console socket"),
        SerialMode.PIPE: _tr("Named pipe"),
        SerialMode.FILE: _tr("Log file"),
        SerialMode.TCP: _tr("TCP port"),
        SerialMode.DISCONNECTED: _tr("Not connected"),
    }[mode]


def boot_device_name(device: BootDevice) -> str:
    """A boot device as firmware menus name it."""
    return {
        BootDevice.DISK: _tr("Hard disk"),
        BootDevice.OPTICAL: _tr("Optical drive (DVD/CD)"),
        BootDevice.NETWORK: _tr("Network (PXE)"),
    }[device]
