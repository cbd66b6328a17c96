"""The guest OS catalog (resources/os_catalog.json) and `defaults_for`, building a spec from it."""

from __future__ import annotations

import functools
import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import Field, ValidationError

from desktopvm.model.base import Value
from desktopvm.model.capabilities import Capabilities
from desktopvm.model.devices import (
    ControllerKind,
    Disk,
    DiskFormat,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    StorageController,
)
from desktopvm.model.machine import (
    BootDevice,
    CpuSpec,
    DisplaySpec,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    SecureBootTemplate,
    SerialMode,
    SerialPort,
    UsbSpec,
)
from desktopvm.paths import resources_dir

GIB = 1024**3
T = TypeVar("T", ControllerKind, DiskFormat, NicModel)

# Formats in the order a backend's native choice is preferred when it supports several.
PREFERRED_DISK_FORMATS = (
    DiskFormat.QCOW2,
    DiskFormat.VDI,
    DiskFormat.VHDX,
    DiskFormat.VMDK,
    DiskFormat.VHD,
    DiskFormat.RAW,
)


class OsFamily(StrEnum):
    """Broad OS family, for icons and grouping."""

    WINDOWS = "windows"
    LINUX = "linux"
    BSD = "bsd"
    OTHER = "other"


class Requirements(Value):
    """What an OS installer insists on; unmet ones become validation warnings."""

    firmware: Firmware | None = None
    secure_boot: bool = False
    tpm: bool = False
    min_cpus: int = 0
    min_memory_mib: int = 0
    min_disk_gib: int = 0


class OsEntry(Value):
    """One guest OS: recommended hardware and each backend's own type id."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")]
    name: str
    family: OsFamily
    cpus: Annotated[int, Field(ge=1)]
    memory_mib: Annotated[int, Field(ge=4)]
    disk_gib: Annotated[int, Field(ge=1)]
    video_memory_mib: Annotated[int, Field(ge=1)] = 16
    firmware: Firmware
    secure_boot: bool = False
    secure_boot_template: SecureBootTemplate | None = None
    tpm: bool = False
    disk_buses: tuple[ControllerKind, ...]
    nic_models: tuple[NicModel, ...]
    requires: Requirements = Requirements()
    backend_ids: dict[str, str] = Field(default_factory=dict)


class BootMedia(Value):
    """How an install disc boots, as desktopvm.media read it: the model reads no disc itself,
    it is told (defaults_for picks firmware from it, validate checks the spec against it)."""

    bios: bool
    uefi: bool
    architecture: str | None = None  # 'x86_64', 'aarch64', …; None when the disc does not say

    def firmware_for(self, entry_choice: Firmware, offered: frozenset[Firmware]) -> Firmware:
        """The firmware to give a machine booting this disc: the OS's choice if the disc
        boots with it, else the one the disc does boot with (if the backend has it)."""
        boots = {Firmware.BIOS: self.bios, Firmware.UEFI: self.uefi}
        if boots[entry_choice] or not (self.bios or self.uefi):
            return entry_choice
        other = Firmware.UEFI if entry_choice is Firmware.BIOS else Firmware.BIOS
        return other if other in offered else entry_choice


class CatalogFile(Value):
    """The catalog file's top level."""

    schema_version: int
    entries: tuple[OsEntry, ...]


class CatalogError(Exception):
    """The catalog file is missing or malformed (an installation problem, not user input)."""


class OsCatalog:
    """Look-ups over the catalog entries."""

    def __init__(self, entries: tuple[OsEntry, ...]) -> None:
        self.entries = entries
        self._by_id = {entry.id: entry for entry in entries}
        if len(self._by_id) != len(entries):
            raise CatalogError("the OS catalog lists an id twice")

    def get(self, os_id: str) -> OsEntry | None:
        """The entry for `os_id`, or None."""
        return self._by_id.get(os_id)

    def __contains__(self, os_id: object) -> bool:
        return os_id in self._by_id

    def ids(self) -> list[str]:
        """All ids in catalog order."""
        return [entry.id for entry in self.entries]


def load_catalog(path: Path) -> OsCatalog:
    """Read and check a catalog file."""
    try:
        parsed = CatalogFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as error:
        raise CatalogError(f"{path}: {error}") from error
    return OsCatalog(parsed.entries)


@functools.cache
def catalog() -> OsCatalog:
    """The shipped catalog (read once)."""
    return load_catalog(resources_dir() / "os_catalog.json")


def _first_supported(preferred: tuple[T, ...], supported: frozenset[T], fallback: T) -> T:
    """The first preferred choice the backend supports, else any it supports, else `fallback`."""
    for choice in preferred:
        if choice in supported:
            return choice
    return min(supported, key=str) if supported else fallback


def default_name(entry: OsEntry) -> str:
    """A machine name from the OS name: 'Ubuntu 24.04 LTS' -> 'ubuntu-24.04-lts'."""
    return re.sub(r"[^a-z0-9.]+", "-", entry.name.lower()).strip("-") or entry.id


def defaults_for(
    os_id: str,
    capabilities: Capabilities,
    *,
    name: str = "",
    iso: str = "",
    os_catalog: OsCatalog | None = None,
    media: BootMedia | None = None,
) -> MachineSpec:
    """A spec with the catalog's recommendations for `os_id`, cut to what the backend can do.

    `media` (how the ISO boots) overrides the OS's firmware when the disc cannot boot with
    it: a BIOS-only disc gets BIOS even for an OS that prefers UEFI.

    Recommendations the backend cannot honour (TPM, Secure Boot, UEFI) are dropped here
    rather than producing an invalid spec; `validate` then warns about what the OS wants.
    """
    entries = os_catalog or catalog()
    entry = entries.get(os_id) or entries.get("other")
    if entry is None:
        raise CatalogError(f"unknown OS {os_id!r} and no 'other' entry in the catalog")

    firmware_kind = entry.firmware if entry.firmware in capabilities.firmware else Firmware.BIOS
    if media is not None:
        firmware_kind = media.firmware_for(firmware_kind, capabilities.firmware)
    uefi = firmware_kind is Firmware.UEFI
    secure_boot = entry.secure_boot and uefi and capabilities.secure_boot
    template = entry.secure_boot_template if secure_boot else None
    if template is not None and template not in capabilities.secure_boot_templates:
        template = None
    firmware = FirmwareSpec(
        kind=firmware_kind,
        secure_boot=secure_boot,
        secure_boot_template=template,
        tpm=entry.tpm and capabilities.tpm,
    )

    usable = capabilities.controller_kinds - (capabilities.bios_only_controllers if uefi
                                              else frozenset())
    bus = _first_supported(entry.disk_buses, usable, ControllerKind.SATA)
    disk_format = _first_supported(
        PREFERRED_DISK_FORMATS, capabilities.disk_formats, DiskFormat.QCOW2
    )
    disk = Disk(format=disk_format, size_bytes=entry.disk_gib * GIB, port=0)
    controllers = [StorageController(name=bus.value.upper(), kind=bus, disks=(disk,))]
    # Optical drives sit on SATA/IDE where the disk bus has no removable media (NVMe, virtio).
    optical_bus = bus
    if bus in (ControllerKind.NVME, ControllerKind.VIRTIO):
        optical_bus = _first_supported(
            (ControllerKind.SATA, ControllerKind.IDE, ControllerKind.SCSI),
            usable,
            ControllerKind.SATA,
        )
    optical = OpticalDrive(iso=iso, port=1 if optical_bus is bus else 0)
    if optical_bus is bus:
        controllers[0] = controllers[0].model_copy(update={"optical": (optical,)})
    else:
        controllers.append(
            StorageController(name=optical_bus.value.upper(), kind=optical_bus, optical=(optical,))
        )

    network: tuple[NetworkAdapter, ...] = ()
    if NetworkAttachment.NAT in capabilities.network_attachments:
        model = _first_supported(entry.nic_models, capabilities.nic_models, NicModel.E1000)
        network = (NetworkAdapter(attachment=NetworkAttachment.NAT, model=model),)
    elif NetworkAttachment.SWITCH in capabilities.network_attachments:
        network = (NetworkAdapter(attachment=NetworkAttachment.SWITCH),)

    serial: tuple[SerialPort, ...] = ()
    if SerialMode.SOCKET in capabilities.serial_modes and capabilities.max_serial_ports > 0:
        serial = (SerialPort(number=1, mode=SerialMode.SOCKET),)

    cpus = max(capabilities.min_cpus, min(entry.cpus, capabilities.max_cpus))
    memory = max(capabilities.min_memory_mib, min(entry.memory_mib, capabilities.max_memory_mib))
    return MachineSpec(
        name=name or default_name(entry),
        os=entry.id,
        firmware=firmware,
        cpu=CpuSpec(count=cpus),
        memory=MemorySpec(size_mib=memory),
        storage=tuple(controllers),
        network=network,
        display=DisplaySpec(
            video_memory_mib=min(entry.video_memory_mib, capabilities.max_video_memory_mib)
        ),
        usb=UsbSpec() if capabilities.usb and UsbSpec().version in capabilities.usb_versions
        else UsbSpec(version=min(capabilities.usb_versions)) if capabilities.usb_versions
        and capabilities.usb else UsbSpec(version=None, tablet=False),
        serial=serial,
        # Disk first: an empty new disk does not boot, so the installer ISO starts, and
        # after the install the installed system does without ejecting anything.
        boot_order=(BootDevice.DISK, BootDevice.OPTICAL),
    )
