"""showvminfo --machinereadable -> MachineSpec, and the value maps both directions share.

Reading is tolerant: missing keys give model defaults, unknown values are skipped (a generic
or cloud NIC becomes an unattached adapter, a floppy controller is left out). The writing side
lives in plans.py and changes.py and uses the same maps, so a spec read here and written back
produces the settings it was read from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PureWindowsPath

from backends.virtualbox.parse import MachineReadable, parse_blocks
from backends.virtualbox.settingsfile import OS_KEY, SECURE_BOOT_KEY, SettingsFacts
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    DisplaySpec,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    OsCatalog,
    PortForward,
    SecureBootTemplate,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
)
from desktopvm.model.devices import Protocol
from desktopvm.protocol import PowerState

# VMState (machineStateToName(fShort=true) in VBoxManageInfo.cpp) -> our vocabulary.
POWER_STATES = {
    "poweroff": PowerState.OFF, "teleported": PowerState.OFF, "aborted": PowerState.ABORTED,
    "saved": PowerState.SAVED, "aborted-saved": PowerState.SAVED,
    "running": PowerState.RUNNING, "livesnapshotting": PowerState.RUNNING,
    "onlinesnapshotting": PowerState.RUNNING, "teleporting": PowerState.RUNNING,
    "deletingsnapshotlive": PowerState.RUNNING,
    "paused": PowerState.PAUSED, "teleportingpausedvm": PowerState.PAUSED,
    "deletingsnapshotlivepaused": PowerState.PAUSED,
    "gurumeditation": PowerState.PAUSED,  # stuck: the process exists, only power-off helps
    "starting": PowerState.STARTING, "restoring": PowerState.STARTING,
    "teleportingin": PowerState.STARTING,
    "stopping": PowerState.STOPPING, "saving": PowerState.STOPPING,
}
# storagecontrollertypeN -> bus; and the bus -> (storagectl --add, --controller) we create.
CONTROLLER_KINDS = {
    "PIIX3": ControllerKind.IDE, "PIIX4": ControllerKind.IDE, "ICH6": ControllerKind.IDE,
    "IntelAhci": ControllerKind.SATA, "LsiLogic": ControllerKind.SCSI,
    "BusLogic": ControllerKind.SCSI, "LsiLogicSas": ControllerKind.SCSI,
    "NVMe": ControllerKind.NVME, "VirtioSCSI": ControllerKind.VIRTIO,
}
CONTROLLER_ADD = {
    ControllerKind.IDE: ("ide", "PIIX4"), ControllerKind.SATA: ("sata", "IntelAhci"),
    ControllerKind.SCSI: ("scsi", "LSILogic"), ControllerKind.NVME: ("pcie", "NVMe"),
    ControllerKind.VIRTIO: ("virtio-scsi", "VirtIO"),
}
DEVICES_PER_PORT = {ControllerKind.IDE: 2}
NIC_MODELS = {
    "Am79C970A": NicModel.PCNET, "Am79C973": NicModel.PCNET, "Am79C960": NicModel.PCNET,
    "82540EM": NicModel.E1000, "82543GC": NicModel.E1000, "82545EM": NicModel.E1000,
    "virtio": NicModel.VIRTIO,
}
NIC_TYPES = {NicModel.PCNET: "Am79C973", NicModel.E1000: "82540EM", NicModel.VIRTIO: "virtio"}
BOOT_DEVICES = {"disk": BootDevice.DISK, "dvd": BootDevice.OPTICAL, "net": BootDevice.NETWORK}
BOOT_NAMES = {device: name for name, device in BOOT_DEVICES.items()}
OPTICAL_EXTENSIONS = (".iso", ".cdr", ".dmg", ".img")
DISK_FORMATS = {".vdi": DiskFormat.VDI, ".vmdk": DiskFormat.VMDK, ".vhd": DiskFormat.VHD,
                ".vhdx": DiskFormat.VHDX}
COM_PORTS = {1: ("0x3F8", "4"), 2: ("0x2F8", "3"), 3: ("0x3E8", "4"), 4: ("0x2E8", "3")}
MAX_ADAPTERS = 8
SLOT_KEY = re.compile(r"^(?P<port>\d+)-(?P<device>\d+)$")


def power_state(vm_state: str) -> PowerState:
    """Our power state for a `VMState` value."""
    return POWER_STATES.get(vm_state.strip().lower(), PowerState.UNKNOWN)


@dataclass
class OsTypes:
    """VirtualBox's guest OS types (`list ostypes`): ids and the descriptions showvminfo prints."""

    descriptions: dict[str, str] = field(default_factory=dict)  # id -> description

    @classmethod
    def from_list_output(cls, text: str) -> OsTypes:
        """From `VBoxManage list ostypes`: `ID:` and `Description:` lines (up to 7.1, and 7.2's
        `--long`), or 7.2's `ID / Description: Ubuntu_64 -- Ubuntu (64-bit)`."""
        # 7.2 heads the list with "Supported guest OS types:", which would pass for the first
        # key of one big record.
        body = "\n".join(line for line in text.splitlines()
                         if not line.startswith("Supported guest OS types"))
        types = {}
        for block in parse_blocks(body):
            if block.get("ID"):
                types[block["ID"]] = block.get("Description", block["ID"])
            elif block.get("ID / Description"):
                type_id, _, description = block["ID / Description"].partition(" -- ")
                types[type_id.strip()] = description.strip() or type_id.strip()
        return cls(types)

    def id_for(self, shown: str) -> str:
        """The type id for what showvminfo printed as `ostype` (a description, or an id)."""
        if shown in self.descriptions:
            return shown
        return next((i for i, d in self.descriptions.items() if d == shown), "")

    def choose(self, primary: str, fallback: str, series_is_61: bool) -> str:
        """The --ostype to create with: the catalog id if this VirtualBox knows it, else the
        catalog's 6.1 fallback, else Other. Without a type list, the series decides."""
        if self.descriptions:
            for candidate in (primary, fallback, "Other_64", "Other"):
                if candidate and candidate in self.descriptions:
                    return candidate
            return primary or "Other"
        return (fallback or primary or "Other") if series_is_61 else (primary or "Other")


def _first_word(text: str) -> str:
    match = re.match(r"[A-Za-z]+", text.strip())
    return match.group(0).lower() if match else ""


def catalog_os(vbox_type: str, os_catalog: OsCatalog, description: str = "") -> str:
    """The catalog entry for a VirtualBox type id (ambiguous ids give the generic entry).

    With the type's `description` (`list ostypes`), an entry of the OS it names wins: the
    generic `Ubuntu_64` ("Ubuntu (64-bit)") is the fallback type of every Ubuntu release and
    the primary type of Linux Mint, and a machine VirtualBox made as Ubuntu is Ubuntu (the
    first such entry, the newest release).
    """
    if not vbox_type:
        return "other"
    primary = [e for e in os_catalog.entries if e.backend_ids.get("virtualbox") == vbox_type]
    fallback = [e for e in os_catalog.entries
                if e.backend_ids.get("virtualbox_fallback") == vbox_type]
    word = _first_word(description)
    named = [e for e in primary + fallback if word and _first_word(e.name) == word]
    if named:
        return named[0].id
    if len(primary) == 1:
        return primary[0].id
    matches = primary or fallback
    if not matches:
        return "other"
    generic = [e for e in matches if e.id.startswith("other")]
    if generic:
        return generic[0].id
    families = {e.family.value for e in matches}
    if len(matches) > 1 and families == {"linux"} and "other-linux" in os_catalog:
        return "other-linux"
    return matches[0].id


def _file_suffix(path: str) -> str:
    """The extension of a path in either syntax (Windows paths accept `/` too)."""
    return PureWindowsPath(path).suffix.lower()


def _is_optical(info: MachineReadable, position: int, controller: str, slot: str,
                value: str) -> bool:
    """DVD or hard disk? 7.0+ prints `<ctl>-IsEjected-<p>-<d>` for DVDs; older releases print
    an unnumbered `<ctl>-IsEjected`/`<ctl>-tempeject` right after the DVD's lines."""
    if value == "emptydrive":
        return True
    if f"{controller}-IsEjected-{slot}" in info or f"{controller}-tempeject-{slot}" in info:
        return True
    for key, _ in info.items[position + 1:position + 4]:
        if key in (f"{controller}-IsEjected", f"{controller}-tempeject"):
            return True
        if SLOT_KEY.match(key.removeprefix(f"{controller}-")):
            break
    return _file_suffix(value) in OPTICAL_EXTENSIONS


def storage_from(info: MachineReadable) -> tuple[StorageController, ...]:
    """Controllers with their disks and optical drives."""
    positions = {key: i for i, (key, _) in enumerate(info.items)}
    controllers = []
    index = 0
    while f"storagecontrollername{index}" in info:
        name = info.get(f"storagecontrollername{index}")
        kind = CONTROLLER_KINDS.get(info.get(f"storagecontrollertype{index}"))
        index += 1
        if kind is None:  # floppy, USB: not part of the model
            continue
        disks, optical = [], []
        for key, value in info.items:
            if not key.startswith(f"{name}-"):
                continue
            slot = key[len(name) + 1:]
            match = SLOT_KEY.match(slot)
            if not match or value == "none":
                continue
            port, device = int(match.group("port")), int(match.group("device"))
            if _is_optical(info, positions[key], name, slot, value):
                iso = "" if value == "emptydrive" else value
                optical.append(OpticalDrive(iso=iso, port=port, device=device))
            else:
                disk_format = DISK_FORMATS.get(_file_suffix(value), DiskFormat.VDI)
                disks.append(Disk(path=value, format=disk_format, port=port, device=device,
                                  existing=True))
        controllers.append(StorageController(name=name, kind=kind, disks=tuple(disks),
                                             optical=tuple(optical)))
    return tuple(controllers)


def _forwards_by_adapter(info: MachineReadable) -> dict[int, list[PortForward]]:
    """`Forwarding(i)=` lines carry no adapter number: they follow their adapter's `nicN`."""
    result: dict[int, list[PortForward]] = {}
    adapter = 0
    for key, value in info.items:
        match = re.fullmatch(r"nic(\d+)", key)
        if match:
            adapter = int(match.group(1))
        elif key.startswith("Forwarding(") and adapter:
            parts = value.split(",")
            if len(parts) != 6:
                continue
            name, protocol, host_ip, host_port, guest_ip, guest_port = parts
            try:
                result.setdefault(adapter, []).append(PortForward(
                    name=name, protocol=Protocol(protocol) if protocol in ("tcp", "udp")
                    else Protocol.TCP, host_ip=host_ip, host_port=int(host_port),
                    guest_ip=guest_ip, guest_port=int(guest_port)))
            except ValueError:
                continue
    return result


def network_from(info: MachineReadable) -> tuple[NetworkAdapter, ...]:
    """Adapters in slot order; disabled slots (`nicN="none"`) are left out."""
    forwards = _forwards_by_adapter(info)
    adapters = []
    for number in range(1, 37):
        kind = info.get(f"nic{number}")
        if not kind or kind == "none":
            continue
        attachment, network = {
            "nat": (NetworkAttachment.NAT, ""),
            "natnetwork": (NetworkAttachment.NAT, info.get(f"nat-network{number}")),
            "bridged": (NetworkAttachment.BRIDGED, info.get(f"bridgeadapter{number}")),
            "intnet": (NetworkAttachment.INTERNAL, info.get(f"intnet{number}")),
            "hostonly": (NetworkAttachment.HOST_ONLY, info.get(f"hostonlyadapter{number}")),
            "hostonlynetwork": (NetworkAttachment.HOST_ONLY,
                                info.get(f"hostonly-network{number}")),
        }.get(kind, (NetworkAttachment.NONE, ""))
        mac = info.get(f"macaddress{number}")
        adapters.append(NetworkAdapter(
            attachment=attachment, network=network,
            mac=mac if re.fullmatch(r"[0-9A-Fa-f]{12}", mac) else "",
            model=NIC_MODELS.get(info.get(f"nictype{number}")),
            port_forwards=tuple(forwards.get(number, ())) if kind == "nat" else ()))
    return tuple(adapters)


def serial_from(info: MachineReadable) -> tuple[SerialPort, ...]:
    """COM1-COM4 that are switched on."""
    ports = []
    for number in range(1, 5):
        if info.get(f"uart{number}", "off") in ("off", ""):
            continue
        mode_text = info.get(f"uartmode{number}", "disconnected")
        kind, _, path = mode_text.partition(",")
        if kind == "server":
            mode = SerialMode.PIPE if path.startswith("\\\\.\\pipe\\") else SerialMode.SOCKET
        elif kind == "file":
            mode = SerialMode.FILE
        elif kind == "tcpserver":
            mode = SerialMode.TCP
        else:
            mode, path = SerialMode.DISCONNECTED, ""
        ports.append(SerialPort(number=number, mode=mode, path=path))
    return tuple(ports)


def usb_from(info: MachineReadable) -> UsbSpec:
    """The fastest USB controller switched on, and whether the pointer is a USB tablet."""
    version = (UsbVersion.USB3 if info.flag("xhci") else UsbVersion.USB2 if info.flag("ehci")
               else UsbVersion.USB1 if info.flag("usb") else None)
    return UsbSpec(version=version, tablet=info.get("hidpointing") in ("usbtablet", "combomouse",
                                                                        "usbmultitouch"))


def firmware_from(info: MachineReadable, facts: SettingsFacts) -> FirmwareSpec:
    """Firmware kind; Secure Boot from 7.1's `SecureBoot` key or our marker; TPM from .vbox."""
    uefi = info.get("firmware", "BIOS").upper().startswith("EFI")
    if "SecureBoot" in info:
        secure = info.flag("SecureBoot")
    else:
        secure = facts.extra_data.get(SECURE_BOOT_KEY) == "on"
    secure = secure and uefi
    return FirmwareSpec(kind=Firmware.UEFI if uefi else Firmware.BIOS, secure_boot=secure,
                        secure_boot_template=SecureBootTemplate.MICROSOFT_WINDOWS if secure
                        else None, tpm=facts.tpm in ("2.0", "host", "swtpm"))


def spec_from(info: MachineReadable, facts: SettingsFacts, os_types: OsTypes,
              os_catalog: OsCatalog) -> MachineSpec:
    """The MachineSpec of one machine."""
    marker = facts.extra_data.get(OS_KEY, "")
    if marker in os_catalog:
        os_id = marker
    else:
        vbox_type = os_types.id_for(info.get("ostype")) or info.get("GuestOSType")
        os_id = catalog_os(vbox_type, os_catalog, os_types.descriptions.get(vbox_type, ""))
    boot = [BOOT_DEVICES[info.get(f"boot{i}")] for i in range(1, 5)
            if info.get(f"boot{i}") in BOOT_DEVICES]
    return MachineSpec(
        id=info.get("UUID").lower(),
        name=info.get("name"),
        notes=info.get("description"),
        os=os_id,
        firmware=firmware_from(info, facts),
        cpu=CpuSpec(count=info.integer("cpus", 1),
                    nested_virtualization=info.flag("nested-hw-virt")),
        memory=MemorySpec(size_mib=info.integer("memory", 0)),
        storage=storage_from(info),
        network=network_from(info),
        display=DisplaySpec(video_memory_mib=info.integer("vram", 0),
                            monitors=max(1, info.integer("monitorcount", 1))),
        usb=usb_from(info),
        serial=serial_from(info),
        boot_order=tuple(dict.fromkeys(boot)),
    )
