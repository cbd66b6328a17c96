"""`MachineSpec`: one description of a virtual machine's hardware for every backend."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from desktopvm.model.base import Value
from desktopvm.model.devices import Disk, NetworkAdapter, OpticalDrive, StorageController


class Firmware(StrEnum):
    """Boot firmware."""

    BIOS = "bios"
    UEFI = "uefi"


class SecureBootTemplate(StrEnum):
    """Which keys Secure Boot trusts (Hyper-V's template names, shared by all backends)."""

    MICROSOFT_WINDOWS = "microsoft-windows"
    MICROSOFT_UEFI_CA = "microsoft-uefi-ca"  # Linux shims signed by Microsoft's 3rd-party CA
    OPEN_SOURCE_SHIELDED_VM = "open-source-shielded-vm"


class FirmwareSpec(Value):
    """Firmware, Secure Boot and TPM."""

    kind: Firmware = Firmware.BIOS
    secure_boot: bool = False
    secure_boot_template: SecureBootTemplate | None = None
    tpm: bool = False


class CpuSpec(Value):
    """Virtual CPUs."""

    count: Annotated[int, Field(ge=0)] = 1
    nested_virtualization: bool = False


class DynamicMemory(Value):
    """A memory range the hypervisor may balloon within (Hyper-V dynamic memory)."""

    minimum_mib: Annotated[int, Field(ge=0)]
    maximum_mib: Annotated[int, Field(ge=0)]


class MemorySpec(Value):
    """Memory in MiB, with an optional dynamic range."""

    size_mib: Annotated[int, Field(ge=0)] = 1024
    dynamic: DynamicMemory | None = None


class DisplaySpec(Value):
    """The virtual graphics card."""

    video_memory_mib: Annotated[int, Field(ge=0)] = 16
    monitors: Annotated[int, Field(ge=1)] = 1


class UsbVersion(StrEnum):
    """USB controller generation."""

    USB1 = "1.1"
    USB2 = "2.0"
    USB3 = "3.0"


class UsbSpec(Value):
    """The USB controller; `None` version means no USB controller."""

    version: UsbVersion | None = UsbVersion.USB2
    tablet: bool = True  # absolute pointer device: the console pointer follows the mouse


class SerialMode(StrEnum):
    """Where a serial port's host side goes."""

    DISCONNECTED = "disconnected"
    SOCKET = "socket"  # a local socket the app can attach a console to
    PIPE = "pipe"  # a named pipe (Windows hosts)
    FILE = "file"  # output only, to a log file
    TCP = "tcp"  # a TCP server on the loopback interface


class SerialPort(Value):
    """A serial (COM) port; `number` 1 is COM1/ttyS0."""

    number: Annotated[int, Field(ge=1, le=4)] = 1
    mode: SerialMode = SerialMode.SOCKET
    path: str = ""


class BootDevice(StrEnum):
    """A place the firmware may boot from."""

    DISK = "disk"
    OPTICAL = "optical"
    NETWORK = "network"


class MachineSpec(Value):
    """The whole hardware configuration of a VM. Immutable: edits make a new value."""

    id: str = ""  # assigned by the backend; empty in a spec for a machine not yet created
    name: str
    notes: str = ""
    os: str = "other"  # an id in the OS catalog
    firmware: FirmwareSpec = FirmwareSpec()
    cpu: CpuSpec = CpuSpec()
    memory: MemorySpec = MemorySpec()
    storage: tuple[StorageController, ...] = ()
    network: tuple[NetworkAdapter, ...] = ()
    display: DisplaySpec = DisplaySpec()
    usb: UsbSpec = UsbSpec()
    serial: tuple[SerialPort, ...] = ()
    boot_order: tuple[BootDevice, ...] = (BootDevice.DISK, BootDevice.OPTICAL)

    def all_disks(self) -> list[tuple[int, Disk]]:
        """Every disk with the index of its controller."""
        return [(i, d) for i, c in enumerate(self.storage) for d in c.disks]

    def all_optical(self) -> list[tuple[int, OpticalDrive]]:
        """Every optical drive with the index of its controller."""
        return [(i, o) for i, c in enumerate(self.storage) for o in c.optical]
