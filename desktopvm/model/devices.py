"""Storage and network devices of a machine: controllers, disks, optical drives, adapters."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from desktopvm.model.base import Value

MAC_PATTERN = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


class ControllerKind(StrEnum):
    """The bus a storage controller speaks."""

    IDE = "ide"
    SATA = "sata"
    SCSI = "scsi"
    NVME = "nvme"
    VIRTIO = "virtio"


class DiskFormat(StrEnum):
    """Disk image file formats."""

    VDI = "vdi"
    VHDX = "vhdx"
    VHD = "vhd"
    VMDK = "vmdk"
    QCOW2 = "qcow2"
    RAW = "raw"

    @property
    def extension(self) -> str:
        """The usual file name extension, without the dot."""
        return "img" if self is DiskFormat.RAW else self.value


class Disk(Value):
    """A hard disk attached to a controller port.

    `path` empty means "a new file in the VM's own folder, named by the backend". With
    `existing` false the disk is created by the operation (and its file must not exist yet);
    with `existing` true the file is attached as it is.
    """

    path: str = ""
    format: DiskFormat = DiskFormat.QCOW2
    size_bytes: Annotated[int, Field(ge=0)] = 0
    port: Annotated[int, Field(ge=0)] = 0
    device: Annotated[int, Field(ge=0)] = 0
    existing: bool = False


class OpticalDrive(Value):
    """A DVD/CD drive; `iso` empty means an empty drive."""

    iso: str = ""
    port: Annotated[int, Field(ge=0)] = 0
    device: Annotated[int, Field(ge=0)] = 0


class StorageController(Value):
    """A storage controller with the disks and optical drives on its ports."""

    name: str = ""
    kind: ControllerKind = ControllerKind.SATA
    disks: tuple[Disk, ...] = ()
    optical: tuple[OpticalDrive, ...] = ()


class NetworkAttachment(StrEnum):
    """What a network adapter is plugged into."""

    NAT = "nat"
    BRIDGED = "bridged"
    INTERNAL = "internal"
    HOST_ONLY = "host-only"
    SWITCH = "switch"
    NONE = "none"


class NicModel(StrEnum):
    """The emulated network card."""

    VIRTIO = "virtio"
    E1000E = "e1000e"
    E1000 = "e1000"
    RTL8139 = "rtl8139"
    PCNET = "pcnet"
    VMXNET3 = "vmxnet3"
    SYNTHETIC = "synthetic"  # Hyper-V's VMBus adapter


class Protocol(StrEnum):
    """Transport protocol of a port forward."""

    TCP = "tcp"
    UDP = "udp"


class PortForward(Value):
    """A NAT port forward from the host to the guest."""

    name: str = ""
    protocol: Protocol = Protocol.TCP
    host_ip: str = "127.0.0.1"
    host_port: Annotated[int, Field(ge=1, le=65535)]
    guest_ip: str = ""  # empty: the guest's address on the NAT network
    guest_port: Annotated[int, Field(ge=1, le=65535)]

    @field_validator("host_ip", "guest_ip")
    @classmethod
    def _an_address(cls, value: str) -> str:
        """Only IP addresses: these end up inside hypervisor option strings."""
        if value:
            ipaddress.ip_address(value)  # raises ValueError with a clear message
        return value


class NetworkAdapter(Value):
    """A network adapter.

    `network` names what the attachment needs: the host interface (bridged), the internal
    or host-only network, or the Hyper-V switch. `mac` empty lets the backend choose.
    """

    attachment: NetworkAttachment = NetworkAttachment.NAT
    network: str = ""
    mac: str = ""
    model: NicModel | None = None
    port_forwards: tuple[PortForward, ...] = ()

    @field_validator("mac")
    @classmethod
    def _normalise_mac(cls, value: str) -> str:
        """Accept 52-54-00-..., 525400... or lower case; store AA:BB:CC:DD:EE:FF."""
        if not value:
            return ""
        digits = re.sub(r"[^0-9A-Fa-f]", "", value)
        if len(digits) != 12 or len(digits) != len(re.sub(r"[:\-.]", "", value)):
            raise ValueError(f"{value!r} is not a MAC address (six hex bytes)")
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).upper()
