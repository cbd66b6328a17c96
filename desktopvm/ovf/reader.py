"""`read_ovf`: an untrusted OVF 1.x/2.x descriptor to a MachineSpec plus the disk files it needs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from desktopvm.model import (
    ControllerKind,
    CpuSpec,
    DiskFormat,
    DisplaySpec,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    UsbSpec,
    UsbVersion,
)
from desktopvm.ovf.common import VMW_NS, OvfError, check_href, unit_multiplier, whole_number
from desktopvm.ovf.extension import read_extension
from desktopvm.ovf.hardware import Hardware, disk_format
from desktopvm.ovf.osmap import os_from_ovf
from desktopvm.ovf.xmlread import (
    HardwareItem,
    attr,
    child,
    children,
    descendants,
    hardware_items,
    local,
    parse_envelope,
    text,
    vmw_config,
)

MIB = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class ApplianceDisk:
    """A disk file of the package and where it is attached in `Appliance.spec`."""

    file_href: str  # relative to the descriptor, checked safe
    format: DiskFormat  # VMDK for (stream-optimized) VMDK; a StrEnum, so == "vmdk" holds
    capacity_bytes: int
    controller_index: int  # index into spec.storage
    port: int
    device: int = 0
    format_url: str = ""  # the DiskSection ovf:format URL, e.g. ...vmdk.html#streamOptimized
    file_size: int | None = None  # References ovf:size, when given


@dataclass(frozen=True)
class Appliance:
    """What an OVF descriptor describes, in our model."""

    spec: MachineSpec
    disks: list[ApplianceDisk]
    warnings: list[str] = field(default_factory=list)
    # The bus each disk (by DiskSection id) had where DesktopVM exported it, when OVF could
    # not say it (NVMe, VirtIO are written as SATA); `ovf.fitted` puts disks back on it.
    buses: dict[str, ControllerKind] = field(default_factory=dict)
    disk_ids: list[str] = field(default_factory=list)  # the DiskSection id of each of `disks`


@dataclass(frozen=True)
class _DiskEntry:
    href: str | None
    capacity: int
    format_url: str
    file_size: int | None


def read_ovf(xml_bytes: bytes, source: str) -> Appliance:
    """Parse an OVF descriptor; `source` names it in messages. OvfError when unusable.

    Disks in the spec are `existing=True` with `path` = the package-relative file name;
    the importer rewrites paths once the files are in place.
    """
    root, namespace = parse_envelope(xml_bytes, source)
    return _Reader(root, namespace, source).read()


class _Reader:
    def __init__(self, root: ET.Element, namespace: str, source: str) -> None:
        self.root = root
        self.ns = namespace
        self.source = source
        self.warnings: list[str] = []

    def fail(self, message: str) -> OvfError:
        return OvfError(f"{self.source}: {message}")

    def read(self) -> Appliance:
        disks = self._disk_section(self._references())
        systems = descendants(self.root, "VirtualSystem")
        if not systems:
            raise self.fail("the descriptor describes no VirtualSystem")
        if len(systems) > 1:
            self.warnings.append(f"The package holds {len(systems)} virtual machines; only the "
                                 "first is imported.")
        system = systems[0]
        section = self._section(system, "VirtualHardwareSection")
        if section is None:
            raise self.fail("the VirtualSystem has no VirtualHardwareSection")
        items = hardware_items(section, self.ns, self._configuration())
        machine = child(system, "Machine")  # VirtualBox's complete settings, if exported by it
        vbox_hw = child(machine, "Hardware") if machine is not None else None

        hardware = Hardware(self.source, {
            disk_id: (d.href, d.capacity, disk_format(d.format_url, d.href or ""))
            for disk_id, d in disks.items()})
        cpus, memory_mib, usb = self._scan(items, hardware, vbox_hw)
        storage, placements = hardware.storage()
        self.warnings.extend(hardware.warnings)
        own_display, buses = read_extension(system)  # our own export's buses and display

        appliance_disks, disk_ids = [], []
        for controller_index, port, device, disk_id in placements:
            entry = disks[disk_id]
            if entry.href is None:
                continue
            disk_ids.append(disk_id)
            appliance_disks.append(ApplianceDisk(
                file_href=entry.href, format=disk_format(entry.format_url, entry.href),
                capacity_bytes=entry.capacity, controller_index=controller_index, port=port,
                device=device, format_url=entry.format_url, file_size=entry.file_size))

        if cpus <= 0:
            self.warnings.append("The appliance names no CPU count; using 1.")
        if memory_mib <= 0:
            self.warnings.append("The appliance names no memory size; using 1024 MiB.")
        os_id = self._guest_os(system, machine)
        annotation = self._section(system, "AnnotationSection")
        spec = MachineSpec(
            name=self._name(system),
            notes=text(child(annotation, "Annotation")) if annotation is not None else "",
            os=os_id,
            firmware=self._firmware(section, items, vbox_hw),
            cpu=CpuSpec(count=max(cpus, 1)),
            memory=MemorySpec(size_mib=memory_mib if memory_mib > 0 else 1024),
            storage=tuple(storage),
            network=tuple(hardware.adapters),
            display=own_display if own_display is not None and vbox_hw is None
            else _display(vbox_hw),
            usb=UsbSpec(version=usb) if usb else UsbSpec(version=None, tablet=False),
        )
        return Appliance(spec=spec, disks=appliance_disks, warnings=self.warnings, buses=buses,
                         disk_ids=disk_ids)

    def _scan(self, items: list[HardwareItem], hardware: Hardware,
              vbox_hw: ET.Element | None) -> tuple[int, int, UsbVersion | None]:
        """CPU count, memory MiB and USB version; storage and network items go to `hardware`."""
        cpus, memory_mib, serial_ports, usb = 0, 0, 0, None
        for item in items:
            kind = item.resource_type
            if kind == 3:
                cpus = self._quantity(item, "CPU count")
            elif kind == 4:
                memory_mib = self._memory(item)
            elif kind == 23:
                usb = _usb_version(item.get("ResourceSubType"), vbox_hw)
            elif kind == 21:
                serial_ports += 1
            elif kind in (5, 6, 15, 16, 17, 20, 10):
                hardware.add(item)
            elif kind not in (1, 14, 22, 24, 35) and item.required:
                # 1 other, 14 floppy, 22 parallel, 24 graphics, 35 sound: nothing to map.
                self.warnings.append(f"Ignored hardware item of resource type {kind} "
                                     f"({item.get('ElementName') or item.get('Caption')}).")
        if serial_ports:
            # Their host side (pipe, socket, file) means nothing on this host.
            self.warnings.append(f"{serial_ports} serial port(s) are not imported; add them "
                                 "in the settings if the guest needs them.")
        return cpus, memory_mib, usb

    def _section(self, parent: ET.Element, name: str) -> ET.Element | None:
        """A section by element name or, in OVF 1.0 style, `<Section xsi:type="ovf:X_Type">`."""
        for element in parent:
            if not isinstance(element.tag, str):
                continue
            if local(element.tag) == name:
                return element
            if (attr(element, "type") or "").split(":")[-1] == f"{name}_Type":
                return element
        return None

    def _references(self) -> dict[str, tuple[str, int | None]]:
        refs: dict[str, tuple[str, int | None]] = {}
        section = child(self.root, "References")
        for file in children(section, "File") if section is not None else []:
            file_id = attr(file, "id", self.ns) or ""
            href = check_href(attr(file, "href", self.ns) or "", f"{self.source}: file {file_id!r}")
            compression = attr(file, "compression", self.ns) or "identity"
            if compression != "identity" or attr(file, "chunkSize", self.ns):
                raise self.fail(f"file {href!r} is compressed or split (ovf:compression / "
                                "ovf:chunkSize), which DesktopVM cannot import")
            if file_id in refs:
                raise self.fail(f"two References/File entries have the id {file_id!r}")
            size = attr(file, "size", self.ns)
            refs[file_id] = (href, whole_number(size or ""))
        return refs

    def _disk_section(self, refs: dict[str, tuple[str, int | None]]) -> dict[str, _DiskEntry]:
        disks: dict[str, _DiskEntry] = {}
        section = self._section(self.root, "DiskSection")
        for disk in children(section, "Disk") if section is not None else []:
            disk_id = attr(disk, "diskId", self.ns) or ""
            raw = attr(disk, "capacity", self.ns) or ""
            units = attr(disk, "capacityAllocationUnits", self.ns) or "byte"
            multiplier = unit_multiplier(units)
            capacity = whole_number(raw)
            if capacity is None or multiplier is None:
                raise self.fail(f"disk {disk_id!r} has a capacity DesktopVM cannot read "
                                f"({raw!r} in units {units!r})")
            file_ref = attr(disk, "fileRef", self.ns)
            href, size = None, None
            if file_ref:
                if file_ref not in refs:
                    raise self.fail(f"disk {disk_id!r} names file {file_ref!r}, which "
                                    "References does not list")
                href, size = refs[file_ref]
            if disk_id in disks:
                raise self.fail(f"two DiskSection entries have the id {disk_id!r}")
            disks[disk_id] = _DiskEntry(href, capacity * multiplier,
                                        attr(disk, "format", self.ns) or "", size)
        return disks

    def _configuration(self) -> str:
        """The deployment option whose hardware items apply: the default one, else the first."""
        section = self._section(self.root, "DeploymentOptionSection")
        configs = children(section, "Configuration") if section is not None else []
        if not configs:
            return ""
        chosen = next((c for c in configs if (attr(c, "default", self.ns) or "") == "true"),
                      configs[0])
        name = attr(chosen, "id", self.ns) or ""
        if len(configs) > 1:
            self.warnings.append(f"The appliance offers {len(configs)} configurations; "
                                 f"using {text(child(chosen, 'Label')) or name!r}.")
        return name

    def _quantity(self, item: HardwareItem, what: str) -> int:
        raw = item.get("VirtualQuantity")
        value = whole_number(raw)
        if value is None:
            raise self.fail(f"the {what} {raw!r} is not a whole number")
        return value

    def _memory(self, item: HardwareItem) -> int:
        units = item.get("AllocationUnits")
        multiplier = unit_multiplier(units) if units else MIB
        if not units:
            self.warnings.append("The memory size has no units; assuming MiB.")
        if multiplier is None:
            raise self.fail(f"memory allocation units {units!r} are not understood")
        return self._quantity(item, "memory size") * multiplier // MIB

    def _name(self, system: ET.Element) -> str:
        candidates = [text(child(system, "Name")), attr(system, "id", self.ns) or ""]
        candidates += [text(e) for e in descendants(system, "VirtualSystemIdentifier")]
        for candidate in candidates:
            cleaned = _CONTROL.sub(" ", candidate).strip()
            if cleaned:
                return cleaned
        return "Imported machine"

    def _guest_os(self, system: ET.Element, machine: ET.Element | None) -> str:
        section = self._section(system, "OperatingSystemSection")
        cim_id, hints = None, []
        if section is not None:
            raw = attr(section, "id", self.ns) or ""
            cim_id = whole_number(raw)
            hints = [text(child(section, "Description")), attr(section, "osType", VMW_NS) or "",
                     text(child(section, "OSType"))]
        if machine is not None:
            hints.append(attr(machine, "OSType") or "")
        os_id, warning = os_from_ovf(cim_id, hints)
        if warning:
            self.warnings.append(warning)
        return os_id

    def _firmware(self, section: ET.Element, items: list[HardwareItem],
                  vbox_hw: ET.Element | None) -> FirmwareSpec:
        config = vmw_config(section)
        for item in items:
            config.update(item.vmw_config)
        uefi = config.get("firmware", "").lower() == "efi"
        tpm = False
        if vbox_hw is not None:
            # VirtualBox puts <Firmware type="EFI|EFI64|..."/> under Hardware (7.1: Platform).
            types = [(attr(f, "type") or "").upper() for f in descendants(vbox_hw, "Firmware")]
            uefi = uefi or any(t.startswith("EFI") for t in types)
            tpm = any((attr(t, "type") or "").lower().startswith("v2")
                      for t in descendants(vbox_hw, "TrustedPlatformModule"))
        if not uefi:
            return FirmwareSpec()
        secure = config.get("uefi.secureBoot.enabled", "").lower() == "true"
        return FirmwareSpec(kind=Firmware.UEFI, secure_boot=secure, tpm=tpm)


def _usb_version(subtype: str, vbox_hw: ET.Element | None) -> UsbVersion:
    """USB generation from VMware's subtype (vmware.usb.xhci...) or VirtualBox's settings."""
    names = subtype.lower()
    if vbox_hw is not None:
        for element in descendants(vbox_hw, "Controller") + descendants(vbox_hw, "USBController"):
            names += " " + (attr(element, "type") or "").lower()
            if (attr(element, "enabledEhci") or "").lower() == "true":
                names += " ehci"
    if "xhci" in names:
        return UsbVersion.USB3
    if "ehci" in names or not names.strip():
        return UsbVersion.USB2
    return UsbVersion.USB1 if ("ohci" in names or "uhci" in names) else UsbVersion.USB2


def _display(vbox_hw: ET.Element | None) -> DisplaySpec:
    """Video memory and monitors: only VirtualBox's settings carry them."""
    display = child(vbox_hw, "Display") if vbox_hw is not None else None
    if display is None:
        return DisplaySpec()
    vram, monitors = attr(display, "VRAMSize") or "", attr(display, "monitorCount") or ""
    vram_mib, count = whole_number(vram), whole_number(monitors)
    return DisplaySpec(
        video_memory_mib=vram_mib if vram_mib is not None else DisplaySpec().video_memory_mib,
        monitors=count if count else 1,
    )
