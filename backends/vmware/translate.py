"""A .vmx document -> MachineSpec, by libvirt's vmx mapping (research/vmware.md §A.7).

libvirt's `src/vmx/vmx.c` is the reference: `displayName` (`%XX` then `|XX` unescaped),
`annotation`, `numvcpus` (default 1), `memsize` (MB, default 32), `firmware = "efi"` (absent:
BIOS) with `uefi.secureBoot.enabled`, `guestOS`, controllers `scsiN`/`sataN`/`nvmeN`/`ideN`,
devices `<bus>N:U.*`, `ethernetN.*`, `serialN.*`, `svga.vramSize` (bytes). Keys beyond
libvirt: `vtpm.present` (Workstation 17.5+), `vhv.enable`, `bios.bootOrder`, `usb.present` /
`ehci.present` / `usb_xhci.present`.
"""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

from backends.vmware.vmx import VmxDocument
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
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
)

MIB = 1024 * 1024
DEFAULT_MEMORY_MIB = 32  # libvirt: memsize defaults to 32
BUSES = {"scsi": ControllerKind.SCSI, "sata": ControllerKind.SATA, "nvme": ControllerKind.NVME,
         "ide": ControllerKind.IDE}
# Device ranges (libvirt's mapping comment): scsi0-3:0-15 (7 reserved), sata0:0-29,
# nvme0-3:0-14, ide0-1:0-1.
CONTROLLERS = {"scsi": 4, "sata": 4, "nvme": 4, "ide": 2}
UNITS = {"scsi": 16, "sata": 30, "nvme": 15, "ide": 2}
CDROM_TYPES = {"cdrom-image", "atapi-cdrom", "cdrom-raw"}
EMPTY_MEDIA = {"", "emptybackingstring", "auto detect"}  # ESXi and Fusion's empty drives

#: Our OS catalog id -> VMware's guestOS. From the fixtures and research §A.7: windows11-64,
#: windows2019srv-64, windows2019srvNext-64, rhel9-64, rhel7-64, ubuntu-64, debian6-64,
#: debian11-64, other-64. The rest follow VMware's naming and are [unverified] until a live
#: run (docs/vmware.md lists them).
GUEST_OS = {
    "windows11": "windows11-64", "windows10": "windows9-64",
    "windows-server-2025": "windows2022srvNext-64",
    "windows-server-2022": "windows2019srvNext-64", "windows-server-2019": "windows2019srv-64",
    "windows8.1": "windows8-64", "windows7": "windows7-64",
    "ubuntu24.04": "ubuntu-64", "ubuntu22.04": "ubuntu-64", "ubuntu20.04": "ubuntu-64",
    "linux-mint": "ubuntu-64",
    "debian13": "debian12-64", "debian12": "debian12-64", "debian11": "debian11-64",
    "kali": "debian12-64", "fedora": "fedora-64",
    "rhel9": "rhel9-64", "almalinux9": "rhel9-64", "rocky9": "rhel9-64",
    "centos-stream9": "rhel9-64", "rhel8": "rhel8-64",
    "opensuse-leap": "opensuse-64", "opensuse-tumbleweed": "opensuse-64",
    "arch": "other5xlinux-64", "alpine": "other5xlinux-64", "nixos": "other5xlinux-64",
    "other-linux": "other5xlinux-64", "freebsd14": "freebsd14-64", "freebsd13": "freebsd13-64",
    "openbsd": "other-64", "other": "other-64",
}
#: guestOS -> catalog id when reading: the first catalog id that writes it, plus the older
#: ids seen in the fixtures.
READ_GUEST_OS = {**{guest.lower(): os_id for os_id, guest in reversed(GUEST_OS.items())},
                 "rhel7-64": "rhel8", "debian6-64": "debian11", "windows9-64": "windows10",
                 "winxppro": "other", "rhel5": "other-linux", "other": "other",
                 # one guestOS, several catalog ids: the generic one is read back
                 "other5xlinux-64": "other-linux", "other-64": "other",
                 "debian12-64": "debian12"}
NIC_MODELS = {"e1000": NicModel.E1000, "e1000e": NicModel.E1000E,
              "vmxnet3": NicModel.VMXNET3, "vlance": NicModel.PCNET}
ATTACHMENTS = {"nat": NetworkAttachment.NAT, "bridged": NetworkAttachment.BRIDGED,
               "hostonly": NetworkAttachment.HOST_ONLY, "custom": NetworkAttachment.SWITCH,
               "pvn": NetworkAttachment.INTERNAL}
BOOT = {"hdd": BootDevice.DISK, "cdrom": BootDevice.OPTICAL, "ethernet": BootDevice.NETWORK}
_PERCENT = re.compile(r"%(2[fF]|5[cC])")  # libvirt writes / and \ in displayName as %XX


def display_name(document: VmxDocument) -> str:
    """The machine's name: `displayName`, `%2F`/`%5C` and `|XX` unescaped."""
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), document.get("displayName"))


def os_id(document: VmxDocument) -> str:
    """Our catalog id for the file's guestOS ("other" when we do not know it)."""
    guest = document.get("guestOS").strip().lower()
    if guest in READ_GUEST_OS:
        return READ_GUEST_OS[guest]
    if guest.startswith("windows"):
        return "windows10"
    return "other-linux" if "linux" in guest or guest.endswith("-64") else "other"


def resolve(folder: Path, name: str) -> str:
    """A device's file name as an absolute path (relative names are the .vmx's folder's)."""
    if not name or Path(name).is_absolute() or PureWindowsPath(name).is_absolute() \
            or name.startswith("["):  # "[datastore] path" on ESXi stays as written
        return name
    return str(folder / name)


def _devices(document: VmxDocument, bus: str, controller: int
             ) -> list[tuple[int, dict[str, str]]]:
    """(unit, properties) of every present device on `bus` `controller`."""
    found = []
    for unit in range(UNITS[bus]):
        prefix = f"{bus}{controller}:{unit}."
        props = {k[len(prefix):]: v for k, v in document.with_prefix(prefix).items()}
        if props.get("present", "").lower() == "true":
            found.append((unit, props))
    return found


def storage(document: VmxDocument, folder: Path) -> tuple[StorageController, ...]:
    """Controllers with their disks and CD-ROMs (IDE's two channels are one controller)."""
    controllers = []
    for bus, kind in BUSES.items():
        ide_disks: list[Disk] = []
        ide_optical: list[OpticalDrive] = []
        for number in range(CONTROLLERS[bus]):
            devices = _devices(document, bus, number)
            declared = document.flag(f"{bus}{number}.present")
            if not (devices or declared):
                continue
            disks, optical = [], []
            for unit, props in devices:
                port, device = (number, unit) if bus == "ide" else (unit, 0)
                kind_of = props.get("devicetype", "").lower()
                if kind_of in CDROM_TYPES:
                    media = props.get("filename", "")
                    iso = resolve(folder, media) if kind_of == "cdrom-image" and \
                        media.lower() not in EMPTY_MEDIA else ""
                    optical.append(OpticalDrive(iso=iso, port=port, device=device))
                elif props.get("filename"):
                    disks.append(Disk(path=resolve(folder, props["filename"]),
                                      format=DiskFormat.VMDK, port=port, device=device,
                                      existing=True))
            if bus == "ide":
                ide_disks += disks
                ide_optical += optical
            else:
                controllers.append(StorageController(name=f"{bus}{number}", kind=kind,
                                                     disks=tuple(disks), optical=tuple(optical)))
        if ide_disks or ide_optical:
            controllers.append(StorageController(name="ide", kind=kind, disks=tuple(ide_disks),
                                                 optical=tuple(ide_optical)))
    return tuple(controllers)


def network(document: VmxDocument) -> tuple[NetworkAdapter, ...]:
    """`ethernetN`: connectionType (default bridged), vnet or ESX networkName, MAC, model."""
    adapters = []
    for n in range(10):
        prefix = f"ethernet{n}."
        if not document.flag(prefix + "present"):
            continue
        connection = document.get(prefix + "connectionType", "").strip().lower()
        name = document.get(prefix + "vnet") or document.get(prefix + "networkName")
        unplugged = not connection and not document.flag(prefix + "startConnected", True)
        if not connection:  # ESXi: a port group by name; Workstation's default is bridged
            connection = "custom" if document.get(prefix + "networkName") else "bridged"
        attachment = NetworkAttachment.NONE if unplugged else ATTACHMENTS.get(
            connection, NetworkAttachment.BRIDGED)
        kind = document.get(prefix + "addressType", "generated").strip().lower()
        mac = document.get(prefix + ("address" if kind == "static" else "generatedAddress"))
        if mac.strip() in ("", "00:00:00:00:00:00"):
            mac = ""
        model = NIC_MODELS.get(document.get(prefix + "virtualDev").strip().lower())
        adapters.append(NetworkAdapter(attachment=attachment,
                                       network=name if attachment in (
                                           NetworkAttachment.SWITCH,
                                           NetworkAttachment.INTERNAL) else "",
                                       mac=mac, model=model))
    return tuple(adapters)


def serial(document: VmxDocument, *, windows: bool) -> tuple[SerialPort, ...]:
    """`serialN.fileType`: pipe (a named pipe on Windows, a Unix socket elsewhere), file,
    network (telnet://host:port), device."""
    ports = []
    for n in range(4):
        prefix = f"serial{n}."
        if not document.flag(prefix + "present"):
            continue
        kind = document.get(prefix + "fileType").strip().lower()
        path = document.get(prefix + "fileName")
        if kind == "pipe":
            mode = SerialMode.PIPE if windows else SerialMode.SOCKET
        elif kind == "file":
            mode = SerialMode.FILE
        elif kind == "network":
            mode = SerialMode.TCP
        else:
            mode, path = SerialMode.DISCONNECTED, ""
        ports.append(SerialPort(number=n + 1, mode=mode, path=path))
    return tuple(ports)


def usb(document: VmxDocument) -> UsbSpec:
    """The newest USB controller present (xHCI 3.0, EHCI 2.0, UHCI 1.1), or none."""
    if document.flag("usb_xhci.present"):
        return UsbSpec(version=UsbVersion.USB3)
    if document.flag("ehci.present"):
        return UsbSpec(version=UsbVersion.USB2)
    if document.flag("usb.present"):
        return UsbSpec(version=UsbVersion.USB1)
    return UsbSpec(version=None, tablet=False)


def boot_order(document: VmxDocument) -> tuple[BootDevice, ...]:
    """`bios.bootOrder` ("hdd,cdrom"), or disk then optical when absent."""
    names = [p.strip().lower() for p in document.get("bios.bootOrder").split(",") if p.strip()]
    order = tuple(dict.fromkeys(BOOT[n] for n in names if n in BOOT))
    return order or (BootDevice.DISK, BootDevice.OPTICAL)


def to_spec(document: VmxDocument, vmx_path: Path, *, windows: bool = False) -> MachineSpec:
    """The MachineSpec a .vmx describes; `id` is the .vmx path."""
    uefi = document.get("firmware").strip().lower() == "efi"
    vram = document.number("svga.vramSize", 16 * MIB)
    return MachineSpec(
        id=str(vmx_path), name=display_name(document), notes=document.get("annotation"),
        os=os_id(document),
        firmware=FirmwareSpec(kind=Firmware.UEFI if uefi else Firmware.BIOS,
                              secure_boot=uefi and document.flag("uefi.secureBoot.enabled"),
                              tpm=document.flag("vtpm.present")),
        cpu=CpuSpec(count=max(1, document.number("numvcpus", 1)),
                    nested_virtualization=document.flag("vhv.enable")),
        memory=MemorySpec(size_mib=document.number("memsize", DEFAULT_MEMORY_MIB)),
        storage=storage(document, vmx_path.parent), network=network(document),
        display=DisplaySpec(video_memory_mib=max(1, vram // MIB)),
        usb=usb(document), serial=serial(document, windows=windows),
        boot_order=boot_order(document))
