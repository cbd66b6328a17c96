"""Storage controllers, drives and network adapters of an OVF hardware section, in our model."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    StorageController,
)
from desktopvm.ovf.common import OvfError, basename, whole_number
from desktopvm.ovf.xmlread import HardwareItem

IDE, SCSI, ETHERNET, CD, DVD, DISK, OTHER_STORAGE = 5, 6, 10, 15, 16, 17, 20
CONTROLLER_NAMES = {
    ControllerKind.IDE: "IDE",
    ControllerKind.SATA: "SATA",
    ControllerKind.SCSI: "SCSI",
    ControllerKind.NVME: "NVMe",
    ControllerKind.VIRTIO: "VirtIO",
}
NIC_MODELS = {
    "e1000": NicModel.E1000,
    "82540em": NicModel.E1000,  # VirtualBox's names for its E1000 variants
    "82543gc": NicModel.E1000,
    "82545em": NicModel.E1000,
    "e1000e": NicModel.E1000E,
    "pcnet32": NicModel.PCNET,
    "pcnet": NicModel.PCNET,
    "am79c970a": NicModel.PCNET,
    "am79c973": NicModel.PCNET,
    "virtionet": NicModel.VIRTIO,
    "virtio-net": NicModel.VIRTIO,
    "virtio": NicModel.VIRTIO,
    "vmxnet3": NicModel.VMXNET3,
    "rtl8139": NicModel.RTL8139,
}
_HOST_RESOURCE = re.compile(r"^(?:ovf:)?/{0,2}disk/(.+)$")
_EXTENSIONS = {f.extension: f for f in DiskFormat}


def disk_format(format_url: str, href: str) -> DiskFormat:
    """The image format from the DiskSection ovf:format URL, else from the file extension."""
    url = format_url.lower()
    for marker, found in (("vmdk", DiskFormat.VMDK), ("vhdx", DiskFormat.VHDX),
                          ("vhd", DiskFormat.VHD), ("qcow", DiskFormat.QCOW2),
                          ("vdi", DiskFormat.VDI)):
        if marker in url:
            return found
    extension = basename(href).rsplit(".", 1)[-1].lower() if "." in href else ""
    return _EXTENSIONS.get(extension, DiskFormat.VMDK)


@dataclass
class _Controller:
    kind: ControllerKind
    group: int  # the StorageController it becomes; OVF's two IDE channels share one
    channel: int = 0  # IDE only: the channel, which is our port number


@dataclass
class _Group:
    kind: ControllerKind
    disks: list[tuple[Disk, str]] = field(default_factory=list)  # with the DiskSection id
    optical: list[OpticalDrive] = field(default_factory=list)
    slots: set[tuple[int, int]] = field(default_factory=set)

    def free_slot(self, port: int | None) -> tuple[int, int]:
        """The first unused (port, device): any port, or a device on the given IDE port."""
        for candidate in range(64):
            slot = (candidate, 0) if port is None else (port, candidate)
            if slot not in self.slots:
                return slot
        raise OvfError("a storage controller has more than 64 devices")


class Hardware:
    """Collects controller, drive and adapter items; `storage()` then builds controllers."""

    def __init__(self, source: str,
                 disks_by_id: dict[str, tuple[str | None, int, DiskFormat]]) -> None:
        self.source = source
        self.disks_by_id = disks_by_id
        self.controllers: dict[str, _Controller] = {}
        self.groups: list[_Group] = []
        self.drives: list[HardwareItem] = []
        self.adapters: list[NetworkAdapter] = []
        self.warnings: list[str] = []
        self._ide_group: int | None = None

    def add(self, item: HardwareItem) -> None:
        """Take one item of resource type 5, 6, 20 (controllers), 15/16/17 (drives) or 10."""
        if item.resource_type in (IDE, SCSI, OTHER_STORAGE):
            self._controller(item)
        elif item.resource_type == ETHERNET:
            self._adapter(item)
        else:
            self.drives.append(item)  # placed once every controller is known

    def storage(self) -> tuple[list[StorageController], list[tuple[int, int, int, str]]]:
        """The controllers that hold something, and (controller index, port, device, disk id)."""
        used: set[str] = set()
        for item in self.drives:
            self._place(item, used)
        controllers: list[StorageController] = []
        placements: list[tuple[int, int, int, str]] = []
        counts: dict[ControllerKind, int] = {}
        for group in self.groups:
            # Empty controllers are left out: an unused IDE controller of a VMware export
            # would make the spec invalid on a backend without IDE (Hyper-V generation 2).
            if not group.disks and not group.optical:
                continue
            counts[group.kind] = counts.get(group.kind, 0) + 1
            name = CONTROLLER_NAMES[group.kind]
            if counts[group.kind] > 1:
                name += f" {counts[group.kind]}"
            for disk, disk_id in group.disks:
                if disk.existing:
                    placements.append((len(controllers), disk.port, disk.device, disk_id))
            controllers.append(StorageController(
                name=name, kind=group.kind, disks=tuple(d for d, _ in group.disks),
                optical=tuple(group.optical)))
        return controllers, placements

    def _fail(self, message: str) -> OvfError:
        return OvfError(f"{self.source}: {message}")

    def _controller(self, item: HardwareItem) -> None:
        instance = item.get("InstanceID")
        if not instance or instance in self.controllers:
            raise self._fail(f"storage controller {item.get('ElementName')!r} has a missing or "
                             f"repeated InstanceID {instance!r}")
        kind = self._controller_kind(item)
        if kind is not ControllerKind.IDE:
            self.groups.append(_Group(kind))
            self.controllers[instance] = _Controller(kind, len(self.groups) - 1)
            return
        # OVF lists each IDE channel as a controller (Address 0 primary, 1 secondary);
        # our model has one IDE controller whose port is the channel.
        if self._ide_group is None:
            self.groups.append(_Group(kind))
            self._ide_group = len(self.groups) - 1
        taken = {c.channel for c in self.controllers.values() if c.group == self._ide_group}
        address = whole_number(item.get("Address"))
        channel = address if address is not None and address not in taken else min(
            n for n in range(len(taken) + 1) if n not in taken)
        self.controllers[instance] = _Controller(kind, self._ide_group, channel)

    def _controller_kind(self, item: HardwareItem) -> ControllerKind:
        subtype = item.get("ResourceSubType").lower()
        if subtype in ("virtioscsi", "virtio-scsi"):
            return ControllerKind.VIRTIO
        if item.resource_type == IDE:
            return ControllerKind.IDE
        if item.resource_type == SCSI:
            return ControllerKind.SCSI  # lsilogic, lsilogicsas, buslogic, VirtualSCSI
        if subtype in ("nvme", "vmware.nvme.controller"):
            return ControllerKind.NVME
        if subtype not in ("ahci", "vmware.sata.ahci"):
            self.warnings.append(f"Storage controller type {subtype or '(none)'!r} is "
                                 "imported as SATA.")
        return ControllerKind.SATA

    def _place(self, item: HardwareItem, used: set[str]) -> None:
        label = item.get("ElementName") or item.get("Caption") or item.get("InstanceID")
        controller = self.controllers.get(item.get("Parent"))
        if controller is None:
            if item.resource_type == DISK:
                raise self._fail(f"disk {label!r} is attached to {item.get('Parent')!r}, "
                                 "which is not a storage controller")
            self.warnings.append(f"The CD/DVD drive {label!r} is on no storage controller; "
                                 "it is left out.")
            return
        group = self.groups[controller.group]
        address = whole_number(item.get("AddressOnParent"))
        if controller.kind is ControllerKind.IDE:
            slot = (controller.channel, address) if address is not None else group.free_slot(
                controller.channel)
        else:
            slot = (address, 0) if address is not None else group.free_slot(None)
        group.slots.add(slot)
        port, device = slot
        if item.resource_type in (CD, DVD):
            # An ISO in the package (rare: neither VMware nor VirtualBox export one) is not
            # imported; the drive comes in empty.
            group.optical.append(OpticalDrive(port=port, device=device))
            return
        match = _HOST_RESOURCE.match(item.get("HostResource"))
        disk_id = match.group(1) if match else ""
        if disk_id not in self.disks_by_id:
            raise self._fail(f"disk {label!r} names host resource "
                             f"{item.get('HostResource')!r}, which DiskSection does not list")
        if disk_id in used:
            raise self._fail(f"disk {disk_id!r} is attached twice")
        used.add(disk_id)
        href, capacity, image_format = self.disks_by_id[disk_id]
        if href is None:
            self.warnings.append(f"Disk {label!r} has no file in the package; a new empty "
                                 "disk of its size is created.")
            disk = Disk(size_bytes=capacity, port=port, device=device)
        else:
            disk = Disk(path=href, format=image_format, size_bytes=capacity,
                        port=port, device=device, existing=True)
        group.disks.append((disk, disk_id))

    def _adapter(self, item: HardwareItem) -> None:
        number = len(self.adapters) + 1
        subtype = item.get("ResourceSubType")
        model = NIC_MODELS.get(subtype.lower())
        if subtype and model is None:
            self.warnings.append(f"Network adapter {number}: model {subtype!r} is unknown; the "
                                 "backend's default model is used.")
        connection = item.get("Connection")
        key = connection.lower().replace("-", "").replace(" ", "")
        if item.get("AutomaticAllocation").lower() == "false":
            attachment = NetworkAttachment.NONE  # "not connected at power on"
        elif key == "bridged":
            attachment = NetworkAttachment.BRIDGED
            self.warnings.append(f"Network adapter {number} was bridged on the exporting host; "
                                 "choose the host interface to bridge to.")
        elif key == "hostonly":
            attachment = NetworkAttachment.HOST_ONLY
        else:
            attachment = NetworkAttachment.NAT
            if key not in ("", "nat"):
                self.warnings.append(f"Network adapter {number} was on network "
                                     f"{connection!r}; it is attached to NAT.")
        self.adapters.append(NetworkAdapter(attachment=attachment, model=model))
