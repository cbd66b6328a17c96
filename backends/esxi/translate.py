"""VirtualMachineConfigInfo ⇄ MachineSpec: devices, firmware, guest ids and our OS catalog.

`spec_of` reads a machine's configuration into a MachineSpec and a `Devices` map that says
which vSphere device (by its key) stands behind each part of the spec, so an update can
change exactly those devices.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.esxi.session import vim
from desktopvm.model import MachineSpec
from desktopvm.model.catalog import catalog
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
    CpuSpec,
    DisplaySpec,
    Firmware,
    FirmwareSpec,
    MemorySpec,
    UsbSpec,
    UsbVersion,
)

#: Our catalog id -> vSphere guest id. The guest ids are those pyVmomi 9 knows; an older host
#: lacks some (ESXi 7 lacks debian12/13, freebsd14, windows2022srvNext, almalinux,
#: rockylinux): `nearest_guest_id` then picks one the host lists (plans.guest_id).
GUEST_IDS: dict[str, str] = {
    "windows11": "windows11_64Guest", "windows10": "windows9_64Guest",
    "windows-server-2025": "windows2022srvNext_64Guest",
    "windows-server-2022": "windows2019srvNext_64Guest",
    "windows-server-2019": "windows2019srv_64Guest", "windows8.1": "windows8_64Guest",
    "windows7": "windows7_64Guest",
    "ubuntu24.04": "ubuntu64Guest", "ubuntu22.04": "ubuntu64Guest",
    "ubuntu20.04": "ubuntu64Guest", "linux-mint": "ubuntu64Guest",
    "debian13": "debian13_64Guest", "debian12": "debian12_64Guest",
    "debian11": "debian11_64Guest", "kali": "debian11_64Guest",
    "fedora": "fedora64Guest", "rhel9": "rhel9_64Guest", "almalinux9": "almalinux_64Guest",
    "rocky9": "rockylinux_64Guest", "rhel8": "rhel8_64Guest",
    "centos-stream9": "centos9_64Guest", "opensuse-leap": "opensuse64Guest",
    "opensuse-tumbleweed": "opensuse64Guest", "arch": "otherLinux64Guest",
    "alpine": "otherLinux64Guest", "nixos": "otherLinux64Guest",
    "other-linux": "otherLinux64Guest", "freebsd14": "freebsd14_64Guest",
    "freebsd13": "freebsd13_64Guest", "openbsd": "otherGuest64", "other": "otherGuest64",
}
#: The catalog id a machine was made as is kept beside the guest id (several of ours share
#: one vSphere id), under this extraConfig key.
OS_KEY = "desktopvm.os"
#: The generic guest ids of each of our families, best first: what a machine becomes on a host
#: that lists neither its own id nor an older one of the same kind.
GENERIC: dict[str, tuple[str, ...]] = {
    "linux": ("otherLinux64Guest", "otherGuest64"),
    "windows": ("otherGuest64",), "bsd": ("otherGuest64",), "other": ("otherGuest64",),
}
#: A guest id's parts once "Guest", "64" and "_64" are taken off: stem, release number, and
#: the Windows server kinds (windows2019srvNext_64Guest: windows, 2019, srvNext).
_SHAPE = re.compile(r"^(?P<stem>[A-Za-z]+?)(?P<number>\d+)?(?P<kind>srvNext|srv|Server)?$")

CONTROLLERS: tuple[tuple[type, ControllerKind], ...] = (
    (vim.vm.device.VirtualIDEController, ControllerKind.IDE),
    (vim.vm.device.VirtualAHCIController, ControllerKind.SATA),
    (vim.vm.device.VirtualNVMEController, ControllerKind.NVME),
    (vim.vm.device.VirtualSCSIController, ControllerKind.SCSI),  # PVSCSI, LSI SAS, BusLogic
)
NICS: tuple[tuple[type, NicModel], ...] = (
    (vim.vm.device.VirtualE1000e, NicModel.E1000E),
    (vim.vm.device.VirtualE1000, NicModel.E1000),
    (vim.vm.device.VirtualVmxnet3, NicModel.VMXNET3),
    (vim.vm.device.VirtualPCNet32, NicModel.PCNET),
)


def os_of(guest_id: str, kept: str = "") -> str:
    """Our catalog id for a guest id: the kept id when it agrees with the guest id, or the
    guest id is one `nearest_guest_id` could have put in its place (an older release of the
    same kind, or its family's generic id) on a host that lacked the kept one's own."""
    if kept in GUEST_IDS and (GUEST_IDS[kept] == guest_id or stands_for(guest_id, kept)):
        return kept
    for os_id, known in GUEST_IDS.items():
        if known == guest_id:
            return os_id
    lowered = guest_id.lower()
    if "linux" in lowered or lowered.startswith(("rhel", "centos", "sles", "oracle")):
        return "other-linux"
    return "other"


def guest_id_of(os_id: str) -> str:
    """The vSphere guest id for one of our catalog ids."""
    return GUEST_IDS.get(os_id, "otherGuest64")


def shape(guest_id: str) -> tuple[str, int, str, bool]:
    """(stem, release, server kind, 64-bit) of a guest id: debian12_64Guest → ("debian", 12,
    "", True); windows2019srvNext_64Guest → ("windows", 2019, "srvNext", True)."""
    wide = "64" in guest_id
    core = guest_id
    for tail in ("Guest64", "_64Guest", "64Guest", "Guest"):
        if core.endswith(tail):
            core = core[:-len(tail)]
            break
    found = _SHAPE.match(core)
    if not found:
        return core, 0, "", wide
    return found["stem"], int(found["number"] or 0), found["kind"] or "", wide


def _kin(guest_id: str, other: str) -> bool:
    """Same stem, width, and (Windows) desktop or server: releases of one kind of system."""
    mine, theirs = shape(guest_id), shape(other)
    return (mine[0], mine[3], bool(mine[2])) == (theirs[0], theirs[3], bool(theirs[2]))


def _release(guest_id: str) -> tuple[int, bool]:
    _, number, kind, _ = shape(guest_id)
    return number, kind == "srvNext"


def nearest_guest_id(wanted: str, listed: Sequence[str], family: str = "other") -> str:
    """`wanted` when the host lists it (or lists nothing: it could not be asked); else the
    newest listed release of the same kind not newer than `wanted` (debian12_64Guest →
    debian11_64Guest), else the oldest newer one, else the family's generic id (GENERIC), else
    `wanted` (the host then refuses it in its own words)."""
    if not listed or wanted in listed:
        return wanted
    kin = [g for g in listed if _kin(g, wanted)]
    older = [g for g in kin if _release(g) <= _release(wanted)]
    if older:
        return max(older, key=_release)
    if kin:
        return min(kin, key=_release)
    return next((g for g in GENERIC.get(family, GENERIC["other"]) if g in listed), wanted)


def stands_for(guest_id: str, os_id: str) -> bool:
    """Whether `nearest_guest_id` may have given `guest_id` for our `os_id`."""
    wanted = guest_id_of(os_id)
    return _kin(guest_id, wanted) or guest_id in GENERIC.get(family_of(os_id), ())


def family_of(os_id: str) -> str:
    """'windows', 'linux', 'bsd' or 'other'."""
    entry = catalog().get(os_id)
    return entry.family.value if entry else "other"


def controller_kind(device: Any) -> ControllerKind | None:
    """Our controller kind for a vSphere storage controller (None: not storage)."""
    for cls, kind in CONTROLLERS:
        if isinstance(device, cls):
            return kind
    return None


def nic_model(device: Any) -> NicModel | None:
    """Our NIC model for a vSphere Ethernet card."""
    for cls, model in NICS:
        if isinstance(device, cls):
            return model
    return None


@dataclass
class Devices:
    """Which vSphere device key stands behind each part of a spec read by `spec_of`."""

    controllers: list[int] = field(default_factory=list)  # by controller index
    disks: dict[tuple[int, int], int] = field(default_factory=dict)  # (controller, port)
    optical: dict[tuple[int, int], int] = field(default_factory=dict)
    nics: list[int] = field(default_factory=list)  # by adapter index
    spare_ide: list[int] = field(default_factory=list)  # empty IDE controllers (not in spec)
    video: int | None = None
    usb: int | None = None
    by_key: dict[int, Any] = field(default_factory=dict)


def spec_of(config: Any, machine_id: str = "") -> tuple[MachineSpec, Devices]:
    """A VirtualMachineConfigInfo as a MachineSpec, with the device map behind it."""
    devices = Devices()
    hardware = config.hardware
    all_devices = list(hardware.device or ())
    devices.by_key = {d.key: d for d in all_devices}
    storage: list[StorageController] = []
    index_of: dict[int, int] = {}
    used = {d.controllerKey for d in all_devices if d.controllerKey is not None}
    for device in sorted(all_devices, key=lambda d: d.key):
        kind = controller_kind(device)
        if kind is None:
            continue
        if kind is ControllerKind.IDE and device.key not in used:
            # ESXi gives every machine two IDE controllers; empty ones are not the user's.
            devices.spare_ide.append(device.key)
            continue
        index_of[device.key] = len(storage)
        devices.controllers.append(device.key)
        label = device.deviceInfo.label if device.deviceInfo else f"{kind.value}{device.busNumber}"
        storage.append(StorageController(name=label, kind=kind))
    storage, nics, video, usb = _attached(all_devices, storage, index_of, devices)
    extra = {o.key: str(o.value) for o in (config.extraConfig or ())}
    boot = config.bootOptions
    efi = config.firmware == "efi"
    tpm = any(isinstance(d, vim.vm.device.VirtualTPM) for d in all_devices)
    spec = MachineSpec(
        id=machine_id, name=config.name, notes=config.annotation or "",
        os=os_of(config.guestId or "", extra.get(OS_KEY, "")),
        firmware=FirmwareSpec(kind=Firmware.UEFI if efi else Firmware.BIOS,
                              secure_boot=bool(efi and boot and boot.efiSecureBootEnabled),
                              tpm=tpm),
        cpu=CpuSpec(count=hardware.numCPU or 1,
                    nested_virtualization=bool(config.nestedHVEnabled)),
        memory=MemorySpec(size_mib=hardware.memoryMB or 0),
        storage=tuple(storage), network=tuple(nics), display=video,
        usb=UsbSpec(version=usb))
    return spec, devices


def _attached(all_devices: list[Any], controllers: list[StorageController],
              index_of: dict[int, int], devices: Devices) \
        -> tuple[list[StorageController], list[NetworkAdapter], DisplaySpec, UsbVersion | None]:
    """Disks and drives onto their controllers; adapters, video card and USB controller."""
    storage = controllers
    disks: dict[int, list[Disk]] = {i: [] for i in range(len(storage))}
    optical: dict[int, list[OpticalDrive]] = {i: [] for i in range(len(storage))}
    nics: list[NetworkAdapter] = []
    video = DisplaySpec()
    usb: UsbVersion | None = None
    for device in all_devices:
        where = index_of.get(device.controllerKey or 0)
        if isinstance(device, vim.vm.device.VirtualDisk) and where is not None:
            size = device.capacityInBytes or (device.capacityInKB or 0) * 1024
            path = str(getattr(device.backing, "fileName", "") or "")
            port = device.unitNumber or 0
            disks[where].append(Disk(path=path, format=DiskFormat.VMDK, size_bytes=size,
                                     port=port, existing=True))
            devices.disks[(where, port)] = device.key
        elif isinstance(device, vim.vm.device.VirtualCdrom) and where is not None:
            backing = device.backing
            iso = (str(backing.fileName or "")
                   if isinstance(backing, vim.vm.device.VirtualCdrom.IsoBackingInfo) else "")
            port = device.unitNumber or 0
            optical[where].append(OpticalDrive(iso=iso, port=port))
            devices.optical[(where, port)] = device.key
        elif isinstance(device, vim.vm.device.VirtualEthernetCard):
            devices.nics.append(device.key)
            network = str(getattr(device.backing, "deviceName", "") or "")
            mac = str(device.macAddress or "") if device.addressType == "manual" else ""
            nics.append(NetworkAdapter(
                attachment=NetworkAttachment.SWITCH if network else NetworkAttachment.NONE,
                network=network, mac=mac, model=nic_model(device)))
        elif isinstance(device, vim.vm.device.VirtualVideoCard):
            devices.video = device.key
            video = DisplaySpec(video_memory_mib=max(1, (device.videoRamSizeInKB or 4096)
                                                     // 1024),
                                monitors=max(1, device.numDisplays or 1))
        elif isinstance(device, vim.vm.device.VirtualUSBXHCIController):
            devices.usb, usb = device.key, UsbVersion.USB3
        elif isinstance(device, vim.vm.device.VirtualUSBController):
            devices.usb, usb = device.key, UsbVersion.USB2
    storage = [c.model_copy(update={"disks": tuple(sorted(disks[i], key=lambda d: d.port)),
                                    "optical": tuple(sorted(optical[i], key=lambda o: o.port))})
               for i, c in enumerate(storage)]
    return storage, nics, video, usb
