"""MachineSpec -> the .vmx keys that say it (create), and the key changes an edit needs (update).

`hardware_keys(spec)` is the one mapping (translate.py reads the same keys back); `create_keys`
adds what only a new file needs — Packer's `DefaultVMXTemplate` (research/vmware.md §A.7) is
the model: `config.version = "8"` and `virtualHW.version` (without them vmrun says "Cannot
read the virtual machine configuration file"), `pciBridge0` and `pciBridge4-7` as
`pcieRootPort` with 8 functions (without them there is no PCIe slot for the NIC and
vmware-vmx aborts), `vmci0`, `hpet0`, `nvram`, `extendedConfigFile` (a VM without it is
refused by some tools), `powerType.* = "soft"`. `update_changes(old, new)` is the difference
between the keys of the two specs: only what the user changed is written, so a change made
meanwhile to anything else stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backends.vmware.translate import GUEST_OS, MIB
from backends.vmware.vmx import VmxDocument
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    Disk,
    Firmware,
    MachineSpec,
    NetworkAttachment,
    NicModel,
    SerialMode,
    StorageController,
    UsbVersion,
)

BUS = {ControllerKind.SCSI: "scsi", ControllerKind.SATA: "sata", ControllerKind.NVME: "nvme",
       ControllerKind.IDE: "ide"}
CONNECTION = {NetworkAttachment.NAT: "nat", NetworkAttachment.BRIDGED: "bridged",
              NetworkAttachment.HOST_ONLY: "hostonly", NetworkAttachment.SWITCH: "custom",
              NetworkAttachment.INTERNAL: "pvn"}
NIC_DEV = {NicModel.E1000: "e1000", NicModel.E1000E: "e1000e", NicModel.VMXNET3: "vmxnet3",
           NicModel.PCNET: "vlance"}
BOOT = {BootDevice.DISK: "hdd", BootDevice.OPTICAL: "cdrom", BootDevice.NETWORK: "ethernet"}
MIB_BYTES = 1024 * 1024
SCSI_DEVICE = "lsisas1068"  # Windows' in-box driver; lsilogic for everything else (Packer)


@dataclass(frozen=True)
class NewDisk:
    """A disk file the operation makes with vmware-vdiskmanager before the .vmx names it."""

    path: Path
    size_bytes: int
    adapter: str  # vdiskmanager's -a: ide, buslogic or lsilogic ("lsilogic for other types")


def controller_prefixes(spec: MachineSpec) -> list[tuple[StorageController, str]]:
    """Each controller with its .vmx bus and number (the n-th SCSI controller is scsi<n>)."""
    counts: dict[str, int] = {}
    found = []
    for controller in spec.storage:
        bus = BUS.get(controller.kind, "sata")
        number = counts.get(bus, 0)
        counts[bus] = number + 1
        found.append((controller, f"{bus}{number}" if bus != "ide" else "ide"))
    return found


def device_key(bus_number: str, port: int, device: int) -> str:
    """`scsi0:3` for SCSI/SATA/NVMe port 3; IDE's port is the channel: `ide1:0`."""
    if bus_number == "ide":
        return f"ide{port}:{device}"
    return f"{bus_number}:{port}"


def disk_file(spec: MachineSpec, folder: Path, index: int, disk: Disk) -> Path:
    """Where a disk lives: its path, or `<folder>/<name>-<n>.vmdk` for a new one."""
    if disk.path:
        return Path(disk.path)
    return folder / f"{safe_stem(spec.name)}-disk{index}.vmdk"


def size_argument(size_bytes: int) -> str:
    """vmdiskmanager's -s: "…MB" when whole mebibytes, else "…KB" (rounded up)."""
    if size_bytes % MIB_BYTES == 0:
        return f"{size_bytes // MIB_BYTES}MB"
    return f"{-(-size_bytes // 1024)}KB"


def safe_stem(name: str) -> str:
    """A file name from a machine name: no path separators, quotes or control characters."""
    cleaned = "".join(c if c.isalnum() or c in " ._-()" else "_" for c in name).strip(" .")
    return cleaned[:80] or "machine"


def hardware_keys(spec: MachineSpec, folder: Path, *, windows: bool = False) -> dict[str, str]:
    """Every key the spec decides (the same keys translate.py reads)."""
    keys: dict[str, str] = {
        "displayName": spec.name, "annotation": spec.notes,
        "guestOS": GUEST_OS.get(spec.os, "other-64"),
        "numvcpus": str(spec.cpu.count), "memsize": str(spec.memory.size_mib),
        "vhv.enable": "TRUE" if spec.cpu.nested_virtualization else "FALSE",
        "svga.vramSize": str(spec.display.video_memory_mib * MIB),
        "bios.bootOrder": ",".join(BOOT[b] for b in spec.boot_order),
    }
    if spec.firmware.kind is Firmware.UEFI:
        keys["firmware"] = "efi"
        keys["uefi.secureBoot.enabled"] = "TRUE" if spec.firmware.secure_boot else "FALSE"
    keys.update(storage_keys(spec, folder))
    keys.update(network_keys(spec))
    if spec.usb.version is not None:
        keys["usb.present"] = "TRUE"
        if spec.usb.version in (UsbVersion.USB2, UsbVersion.USB3):
            keys["ehci.present"] = "TRUE"
        if spec.usb.version is UsbVersion.USB3:
            keys["usb_xhci.present"] = "TRUE"
    keys.update(serial_keys(spec, folder, windows=windows))
    return keys


def storage_keys(spec: MachineSpec, folder: Path) -> dict[str, str]:
    """Controllers, disks and CD-ROMs."""
    keys: dict[str, str] = {}
    disk_index = 0
    for controller, prefix in controller_prefixes(spec):
        if prefix != "ide":
            keys[f"{prefix}.present"] = "TRUE"
            if controller.kind is ControllerKind.SCSI:
                keys[f"{prefix}.virtualDev"] = SCSI_DEVICE if spec.os.startswith("windows") \
                    else "lsilogic"
        for disk in controller.disks:
            key = device_key(prefix, disk.port, disk.device)
            keys[f"{key}.present"] = "TRUE"
            path = disk_file(spec, folder, disk_index, disk)
            # the VM's own disks by name, as Workstation writes them (the folder may move)
            keys[f"{key}.fileName"] = path.name if path.parent == folder else str(path)
            disk_index += 1
        for drive in controller.optical:
            key = device_key(prefix, drive.port, drive.device)
            keys[f"{key}.present"] = "TRUE"
            if drive.iso:  # an ISO in an image drive; empty: Fusion's "auto detect" drive
                keys.update({f"{key}.deviceType": "cdrom-image", f"{key}.fileName": drive.iso,
                             f"{key}.startConnected": "TRUE"})
            else:
                keys.update({f"{key}.deviceType": "atapi-cdrom",
                             f"{key}.fileName": "auto detect",
                             f"{key}.startConnected": "FALSE"})
    return keys


def network_keys(spec: MachineSpec) -> dict[str, str]:
    """`ethernetN`: connection, vnet, model, MAC."""
    keys: dict[str, str] = {}
    for n, nic in enumerate(spec.network):
        prefix = f"ethernet{n}."
        keys[prefix + "present"] = "TRUE"
        if nic.attachment is NetworkAttachment.NONE:  # an unplugged adapter
            keys[prefix + "startConnected"] = "FALSE"
        else:
            keys[prefix + "connectionType"] = CONNECTION[nic.attachment]
        if nic.attachment in (NetworkAttachment.SWITCH, NetworkAttachment.INTERNAL):
            keys[prefix + "vnet"] = nic.network
        if nic.model in NIC_DEV:
            keys[prefix + "virtualDev"] = NIC_DEV[nic.model]
        if nic.mac:  # a static address; else VMware generates one (00:0c:29:…)
            keys.update({prefix + "addressType": "static", prefix + "address": nic.mac})
        else:
            keys[prefix + "addressType"] = "generated"
    return keys


def serial_keys(spec: MachineSpec, folder: Path, *, windows: bool) -> dict[str, str]:
    """`serialN`: a pipe (Windows) or Unix socket, a file, or a TCP server."""
    keys: dict[str, str] = {}
    for port in spec.serial:
        prefix = f"serial{port.number - 1}."
        keys[prefix + "present"] = "TRUE"
        path = port.path or str(folder / f"serial{port.number}.{'pipe' if windows else 'sock'}")
        if port.mode in (SerialMode.SOCKET, SerialMode.PIPE):
            if windows and not path.startswith("\\\\.\\pipe\\"):
                path = f"\\\\.\\pipe\\desktopvm-{safe_stem(spec.name)}-serial{port.number}"
            keys.update({prefix + "fileType": "pipe", prefix + "fileName": path,
                         prefix + "pipe.endPoint": "server", prefix + "tryNoRxLoss": "FALSE"})
        elif port.mode is SerialMode.FILE:
            keys.update({prefix + "fileType": "file", prefix + "fileName": path})
        elif port.mode is SerialMode.TCP:
            keys.update({prefix + "fileType": "network", prefix + "fileName": path,
                         prefix + "network.endPoint": "server"})
        else:
            keys[prefix + "startConnected"] = "FALSE"
    return keys


def create_keys(spec: MachineSpec, folder: Path, hardware_version: int, *,
                windows: bool = False) -> dict[str, str]:
    """All keys of a new .vmx, in the order Workstation's own files have them."""
    stem = safe_stem(spec.name)
    keys = {"config.version": "8", "virtualHW.version": str(hardware_version),
            "virtualHW.productCompatibility": "hosted", "nvram": f"{stem}.nvram",
            "extendedConfigFile": f"{stem}.vmxf", "pciBridge0.present": "TRUE"}
    for n in range(4, 8):
        keys.update({f"pciBridge{n}.present": "TRUE", f"pciBridge{n}.virtualDev": "pcieRootPort",
                     f"pciBridge{n}.functions": "8"})
    keys.update({"vmci0.present": "TRUE", "hpet0.present": "TRUE",
                 "powerType.powerOff": "soft", "powerType.reset": "soft",
                 "powerType.suspend": "soft", "tools.syncTime": "TRUE"})
    keys.update(hardware_keys(spec, folder, windows=windows))
    return keys


def new_disks(spec: MachineSpec, folder: Path, old: MachineSpec | None = None) -> list[NewDisk]:
    """The disks of `spec` to make (not `existing`, and not in `old`)."""
    had = {d for _, d in old.all_disks()} if old else set()
    made = []
    index = 0
    for controller, _ in controller_prefixes(spec):
        for disk in controller.disks:
            if not disk.existing and disk not in had:
                adapter = {ControllerKind.IDE: "ide"}.get(controller.kind, "lsilogic")
                made.append(NewDisk(disk_file(spec, folder, index, disk), disk.size_bytes,
                                    adapter))
            index += 1
    return made


def update_changes(old: MachineSpec, new: MachineSpec, folder: Path, *,
                   windows: bool = False) -> dict[str, str | None]:
    """The keys to set (or remove, None) so that a file saying `old` says `new`."""
    before = {k.lower(): (k, v) for k, v in hardware_keys(old, folder, windows=windows).items()}
    after = {k.lower(): (k, v) for k, v in hardware_keys(new, folder, windows=windows).items()}
    changes: dict[str, str | None] = {}
    for lower, (key, value) in after.items():
        if before.get(lower, ("", None))[1] != value:
            changes[key] = value
    for lower, (key, _) in before.items():
        if lower not in after:
            changes[key] = None
    return changes


def document_for(spec: MachineSpec, folder: Path, hardware_version: int, *,
                 windows: bool = False) -> VmxDocument:
    """A new .vmx document for `spec`."""
    from backends.vmware.vmx import new_document

    return new_document(create_keys(spec, folder, hardware_version, windows=windows))
