"""`write_ovf`: a MachineSpec as an OVF 1.0 descriptor that VirtualBox and VMware both import."""

from __future__ import annotations

from dataclasses import dataclass

from desktopvm.model import (
    ControllerKind,
    Firmware,
    MachineSpec,
    NetworkAttachment,
    NicModel,
    StorageController,
    UsbVersion,
)
from desktopvm.ovf.common import (
    OVF1_NS,
    RASD_NS,
    STREAM_OPTIMIZED_VMDK,
    VBOX_NS,
    VMW_NS,
    VSSD_NS,
    XSI_NS,
    OvfError,
    check_href,
)
from desktopvm.ovf.extension import extension_node
from desktopvm.ovf.osmap import os_for_export
from desktopvm.ovf.xmlwrite import Node, comment

# VirtualBox ignores the hardware family; VMware refuses "virtualbox-2.2" (what VirtualBox
# writes) and needs hardware version 10 or later for SATA, which VirtualBox exports use.
VIRTUAL_SYSTEM_TYPE = "vmx-10"
# VirtualBox 6.1+ and VMware both accept VMware's subtype; VirtualBox up to 6.0 wanted "AHCI".
SATA_SUBTYPE = "vmware.sata.ahci"
NIC_SUBTYPES = {
    NicModel.E1000: "E1000",
    NicModel.E1000E: "E1000e",
    NicModel.PCNET: "PCNet32",
    NicModel.VIRTIO: "VirtioNet",
    NicModel.VMXNET3: "VmxNet3",
}
CONNECTIONS = {  # the names VirtualBox writes and understands on import
    NetworkAttachment.NAT: "NAT",
    NetworkAttachment.BRIDGED: "Bridged",
    NetworkAttachment.HOST_ONLY: "HostOnly",
    NetworkAttachment.INTERNAL: "Internal",
}
USB_SUBTYPES = {UsbVersion.USB3: "vmware.usb.xhci", UsbVersion.USB2: "vmware.usb.ehci"}
# NVMe and virtio have no OVF controller type both importers know; SATA is the closest.
EXPORTED_BUS = {ControllerKind.IDE: ControllerKind.IDE, ControllerKind.SCSI: ControllerKind.SCSI}
MAX_PORTS = {ControllerKind.IDE: 2, ControllerKind.SATA: 30, ControllerKind.SCSI: 16}


def all_slots(bus: ControllerKind) -> list[tuple[int, int]]:
    """Every (port, device) slot of an exported controller."""
    devices = 2 if bus is ControllerKind.IDE else 1
    return [(port, device) for port in range(MAX_PORTS[bus]) for device in range(devices)]


@dataclass(frozen=True)
class ExportDisk:
    """One disk file of the package, in the order of `spec.all_disks()`."""

    href: str  # the file name inside the package
    capacity_bytes: int  # the virtual size the guest sees
    file_size: int  # bytes of the file itself
    format_url: str = STREAM_OPTIMIZED_VMDK


def write_ovf(spec: MachineSpec, disks: list[ExportDisk], *, product: str = "DesktopVM") -> bytes:
    """The OVF 1.0 descriptor (UTF-8) for `spec` with these disk files.

    What the format cannot carry is left out; `export_warnings(spec)` lists it.
    """
    return _Writer(spec, disks).build(product).encode("utf-8")


def export_warnings(spec: MachineSpec) -> list[str]:
    """What `write_ovf` cannot express for this spec, for the user to see before exporting."""
    placeholders = [ExportDisk(f"disk{i}.vmdk", disk.size_bytes, 0)
                    for i, (_, disk) in enumerate(spec.all_disks(), start=1)]
    writer = _Writer(spec, placeholders)
    writer.build("")
    return writer.warnings


class _Writer:
    def __init__(self, spec: MachineSpec, disks: list[ExportDisk]) -> None:
        self.spec = spec
        self.disks = disks
        self.warnings: list[str] = []
        self.hardware = Node("VirtualHardwareSection")
        self.instance = 0
        wanted = len(spec.all_disks())
        if len(disks) != wanted:
            raise OvfError(f"the spec has {wanted} disk(s) but {len(disks)} disk file(s) "
                           "were given")
        hrefs = [check_href(d.href, f"disk file {i}") for i, d in enumerate(disks, start=1)]
        if len(set(hrefs)) != len(hrefs):
            raise OvfError("two disks would be written to the same file name")

    def build(self, product: str) -> str:
        spec = self.spec
        envelope = Node("Envelope", {
            "ovf:version": "1.0", "xml:lang": "en-US", "xmlns": OVF1_NS, "xmlns:ovf": OVF1_NS,
            "xmlns:rasd": RASD_NS, "xmlns:vssd": VSSD_NS, "xmlns:xsi": XSI_NS,
            "xmlns:vbox": VBOX_NS, "xmlns:vmw": VMW_NS})
        references = envelope.add("References")
        disk_section = envelope.add("DiskSection")
        disk_section.add("Info", "List of the virtual disks used in the package")
        for n, disk in enumerate(self.disks, start=1):
            file_attrs = {"ovf:href": disk.href, "ovf:id": f"file{n}"}
            if disk.file_size > 0:
                file_attrs["ovf:size"] = str(disk.file_size)
            references.add("File", attrs=file_attrs)
            disk_section.add("Disk", attrs={
                "ovf:capacity": str(disk.capacity_bytes), "ovf:diskId": f"vmdisk{n}",
                # The default is bytes (DSP0243), but vcsim reads a bare capacity as KiB.
                "ovf:capacityAllocationUnits": "byte",
                "ovf:fileRef": f"file{n}", "ovf:format": disk.format_url})
        networks = envelope.add("NetworkSection")
        networks.add("Info", "Logical networks used in the package")

        system = envelope.add("VirtualSystem", attrs={"ovf:id": spec.name})
        system.add("Info", "A virtual machine")
        system.add("Name", spec.name)
        if spec.notes:
            notes = system.add("AnnotationSection", attrs={"ovf:required": "false"})
            notes.add("Info", "A human-readable annotation")
            notes.add("Annotation", spec.notes)
        self._os(system)
        system.kids.append(self.hardware)
        self.hardware.add("Info", "Virtual hardware requirements for a virtual machine")
        vssd = self.hardware.add("System")
        vssd.add("vssd:ElementName", "Virtual Hardware Family")
        vssd.add("vssd:InstanceID", "0")
        vssd.add("vssd:VirtualSystemIdentifier", spec.name)
        vssd.add("vssd:VirtualSystemType", VIRTUAL_SYSTEM_TYPE)
        cpus = max(spec.cpu.count, 1)
        self._item(3, {"Caption": f"{cpus} virtual CPU", "Description": "Number of virtual CPUs",
                       "VirtualQuantity": str(cpus)})
        mib = spec.memory.size_mib
        self._item(4, {"AllocationUnits": "byte * 2^20", "Caption": f"{mib} MB of memory",
                       "Description": "Memory Size", "VirtualQuantity": str(mib)})
        self._storage()
        for name in self._network():
            networks.add("Network", attrs={"ovf:name": name}).add(
                "Description", f"Logical network used by this appliance: {name}")
        self._usb_and_firmware()
        system.kids.append(extension_node(spec))  # what the items above cannot carry
        head = '<?xml version="1.0" encoding="UTF-8"?>\n'
        return head + (comment(f"Generated by {product}") if product else "") + envelope.render()

    def _item(self, resource_type: int, values: dict[str, str], *, required: bool = True) -> str:
        """Append a hardware Item; returns its InstanceID.

        rasd elements are written in alphabetical order: the CIM schema declares them as a
        sequence in that order, and VMware's importer checks it.
        """
        self.instance += 1
        values = {**values, "InstanceID": str(self.instance), "ResourceType": str(resource_type)}
        values.setdefault("ElementName", values.get("Caption", ""))
        item = self.hardware.add("Item", attrs={} if required else {"ovf:required": "false"})
        for name in sorted(values):
            item.add(f"rasd:{name}", values[name])
        return str(self.instance)

    def _os(self, system: Node) -> None:
        ovf_os = os_for_export(self.spec.os)
        attrs = {"ovf:id": str(ovf_os.cim_id)}
        if ovf_os.vmw_type:
            attrs["vmw:osType"] = ovf_os.vmw_type
        section = system.add("OperatingSystemSection", attrs=attrs)
        section.add("Info", "The kind of installed guest operating system")
        section.add("Description", ovf_os.description)
        if ovf_os.vbox_type:
            section.add("vbox:OSType", ovf_os.vbox_type, {"ovf:required": "false"})

    def _storage(self) -> None:
        # One OVF controller per bus: VirtualBox imports a single IDE, SATA and SCSI
        # controller and ignores further ones, so like controllers are merged into one.
        parents: dict[ControllerKind, dict[int, str]] = {}
        plan: list[tuple[StorageController, ControllerKind]] = []
        for controller in self.spec.storage:
            bus = EXPORTED_BUS.get(controller.kind, ControllerKind.SATA)
            label = controller.name or controller.kind.value.upper()
            if bus is not controller.kind:
                self.warnings.append(f"Controller {label}: OVF has no "
                                     f"{controller.kind.value.upper()} controller; other "
                                     "hypervisors import its disks on SATA (the guest needs "
                                     "its SATA driver there); DesktopVM's import puts them "
                                     f"back on {controller.kind.value.upper()}.")
            if bus not in parents:
                parents[bus] = self._controller_items(bus)
            elif controller.disks or controller.optical:
                self.warnings.append(f"Controller {label} shares the export's single "
                                     f"{bus.value.upper()} controller with another controller.")
            plan.append((controller, bus))
        taken: dict[ControllerKind, set[tuple[int, int]]] = {bus: set() for bus in parents}
        disk_number = 0
        for controller, bus in plan:
            for disk in controller.disks:
                disk_number += 1
                self._item(17, {
                    **self._attachment(bus, parents[bus], taken[bus], disk.port, disk.device),
                    "Caption": f"disk{disk_number}", "Description": "Disk Image",
                    "HostResource": f"ovf:/disk/vmdisk{disk_number}"})
            for drive in controller.optical:
                if drive.iso:
                    self.warnings.append(f"The ISO {drive.iso} is not exported; its drive "
                                         "is exported empty.")
                self._item(15, {
                    **self._attachment(bus, parents[bus], taken[bus], drive.port, drive.device),
                    "AutomaticAllocation": "true", "Caption": "cdrom",
                    "Description": "CD-ROM Drive"}, required=False)

    def _controller_items(self, bus: ControllerKind) -> dict[int, str]:
        """Items for one exported controller: our port (IDE: channel) -> parent InstanceID."""
        if bus is ControllerKind.IDE:
            # OVF models each IDE channel as a controller; VirtualBox writes both. No
            # subtype: VirtualBox defaults to PIIX4, and VMware knows no chipset names.
            return {channel: self._item(5, {
                "Address": str(channel), "Caption": f"ideController{channel}",
                "Description": "IDE Controller"})
                for channel in (0, 1)}
        if bus is ControllerKind.SCSI:
            instance = self._item(6, {"Address": "0", "Caption": "scsiController0",
                                      "Description": "SCSI Controller",
                                      "ResourceSubType": "lsilogic"})
        else:
            # VirtualBox before 6.1 also insisted on a Caption starting "sataController".
            instance = self._item(20, {"Address": "0", "Caption": "sataController0",
                                       "Description": "SATA Controller",
                                       "ResourceSubType": SATA_SUBTYPE})
        return {port: instance for port in range(MAX_PORTS[bus])}

    def _attachment(self, bus: ControllerKind, parents: dict[int, str],
                    taken: set[tuple[int, int]], port: int, device: int) -> dict[str, str]:
        """Parent and AddressOnParent for a device, moved to a free slot if merging needs it."""
        wanted = (port, device if bus is ControllerKind.IDE else 0)
        free = [slot for slot in sorted(all_slots(bus)) if slot not in taken]
        if not free:
            raise OvfError(f"more devices than the exported {bus.value.upper()} controller has "
                           "ports")
        slot = wanted if wanted in free else free[0]
        if slot != wanted:
            self.warnings.append(f"A device on port {port} is exported on port {slot[0]}"
                                 + (f" device {slot[1]}" if bus is ControllerKind.IDE else "")
                                 + f" of the {bus.value.upper()} controller.")
        taken.add(slot)
        address = slot[1] if bus is ControllerKind.IDE else slot[0]
        return {"Parent": parents[slot[0]], "AddressOnParent": str(address)}

    def _network(self) -> list[str]:
        """Adds the adapters; returns the network names for the NetworkSection."""
        names: list[str] = []
        for n, nic in enumerate(self.spec.network, start=1):
            connection = CONNECTIONS.get(nic.attachment, "NAT")
            if nic.attachment is NetworkAttachment.SWITCH:
                self.warnings.append(f"Network adapter {n}: a Hyper-V switch has no OVF "
                                     "equivalent; it is exported as NAT.")
            subtype = NIC_SUBTYPES.get(nic.model) if nic.model else "E1000"
            if subtype is None:
                subtype = "E1000"
                self.warnings.append(f"Network adapter {n}: model {nic.model} is exported "
                                     "as E1000.")
            if nic.port_forwards:
                self.warnings.append(f"Network adapter {n}: port forwards are not exported.")
            connected = nic.attachment is not NetworkAttachment.NONE
            self._item(10, {"AutomaticAllocation": "true" if connected else "false",
                            "Caption": f"Ethernet adapter on '{connection}'",
                            "Connection": connection, "ResourceSubType": subtype})
            if connection not in names:
                names.append(connection)
        return names

    def _usb_and_firmware(self) -> None:
        spec = self.spec
        if spec.usb.version is not None:
            values = {"Address": "0", "Caption": "usb", "Description": "USB Controller"}
            if spec.usb.version in USB_SUBTYPES:
                values["ResourceSubType"] = USB_SUBTYPES[spec.usb.version]
            self._item(23, values, required=False)
        # VMware's way of saying UEFI; optional, so VirtualBox (which reads firmware only
        # from its own vbox:Machine section) skips it, and our reader understands it.
        if spec.firmware.kind is Firmware.UEFI:
            self._vmw_config("firmware", "efi")
            if spec.firmware.secure_boot:
                self._vmw_config("uefi.secureBoot.enabled", "true")
        if spec.firmware.tpm:
            self.warnings.append("The TPM is not exported (its keys stay with this machine); "
                                 "add one after importing.")
        if spec.memory.dynamic is not None:
            self.warnings.append("Dynamic memory is not exported; the start-up size is.")

    def _vmw_config(self, key: str, value: str) -> None:
        self.hardware.add("vmw:Config", attrs={
            "ovf:required": "false", "vmw:key": key, "vmw:value": value})
