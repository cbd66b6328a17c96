"""Builds the model's MachineSpec and MachineInfo from one get_vm reply."""

from __future__ import annotations

from typing import Any

from backends.hyperv.parsers import (
    BOOT_DEVICES,
    CONTROLLER_TYPES,
    DEFAULT_SWITCH_ID,
    MIB,
    TEMPLATES,
    as_int,
    as_list,
    disk_format,
    enum_name,
    snapshot_tree,
    summary,
)
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DynamicMemory,
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
)
from desktopvm.protocol import MachineInfo


def spec_from_details(details: dict[str, Any], os_id: str = "") -> MachineSpec:
    """The spec of a VM as Hyper-V has it."""
    gen = as_int(details.get("Generation")) or 1
    firmware = details.get("Firmware") or {}
    secure = enum_name(firmware.get("SecureBoot"), {0: "On", 1: "Off"}) == "On"
    processor = details.get("Processor") or {}
    memory = details.get("Memory") or {}
    dynamic = None
    if memory.get("DynamicMemoryEnabled"):
        dynamic = DynamicMemory(minimum_mib=as_int(memory.get("Minimum")) // MIB,
                                maximum_mib=as_int(memory.get("Maximum")) // MIB)
    boot: list[BootDevice] = []
    for name in as_list(details.get("BootOrder")):
        device = BOOT_DEVICES.get(str(name))
        if device is not None and device not in boot:
            boot.append(device)
    return MachineSpec(
        id=str(details.get("Id", "")).lower(),
        name=str(details.get("Name", "")),
        notes=str(details.get("Notes") or ""),
        os=os_id or ("other-linux" if gen == 2 else "other"),
        firmware=FirmwareSpec(
            kind=Firmware.UEFI if gen == 2 else Firmware.BIOS,
            secure_boot=gen == 2 and secure,
            secure_boot_template=TEMPLATES.get(str(firmware.get("SecureBootTemplate") or ""))
            if gen == 2 and secure else None,
            tpm=gen == 2 and bool(firmware.get("TpmEnabled"))),
        cpu=CpuSpec(count=as_int(processor.get("Count")) or as_int(details.get("ProcessorCount")),
                    nested_virtualization=bool(processor.get("ExposeVirtualizationExtensions"))),
        memory=MemorySpec(size_mib=(as_int(memory.get("Startup"))
                                    or as_int(details.get("MemoryStartup"))) // MIB,
                          dynamic=dynamic),
        storage=_storage(details, gen),
        network=tuple(_adapter(nic) for nic in as_list(details.get("NetworkAdapters"))
                      if isinstance(nic, dict)),
        usb=UsbSpec(version=None, tablet=False),
        serial=tuple(SerialPort(number=as_int(p.get("Number")), mode=SerialMode.PIPE,
                                path=str(p.get("Path")))
                     for p in as_list(details.get("ComPorts"))
                     if isinstance(p, dict) and p.get("Path")
                     and 1 <= as_int(p.get("Number")) <= 2),
        boot_order=tuple(boot) or (BootDevice.DISK, BootDevice.OPTICAL),
    )


def _storage(details: dict[str, Any], gen: int) -> tuple[StorageController, ...]:
    disks = [d for d in as_list(details.get("HardDrives")) if isinstance(d, dict)]
    dvds = [d for d in as_list(details.get("DvdDrives")) if isinstance(d, dict)]

    def kind(drive: dict[str, Any]) -> str:
        return enum_name(drive.get("ControllerType"), CONTROLLER_TYPES).upper()

    controllers: list[StorageController] = []
    ide_disks = [d for d in disks if kind(d) == "IDE"]
    ide_dvds = [d for d in dvds if kind(d) == "IDE"]
    if gen == 1 or ide_disks or ide_dvds:
        controllers.append(StorageController(
            name="IDE", kind=ControllerKind.IDE,
            disks=tuple(_disk(d, as_int(d.get("ControllerNumber")),
                              as_int(d.get("ControllerLocation"))) for d in ide_disks),
            optical=tuple(OpticalDrive(iso=str(d.get("Path") or ""),
                                       port=as_int(d.get("ControllerNumber")),
                                       device=as_int(d.get("ControllerLocation")))
                          for d in ide_dvds)))
    scsi_numbers = {as_int(d.get("ControllerNumber")) for d in disks + dvds if kind(d) == "SCSI"}
    count = max([as_int(details.get("ScsiControllerCount")), *(n + 1 for n in scsi_numbers)],
                default=0)
    def on_scsi(drive: dict[str, Any], number: int) -> bool:
        return kind(drive) == "SCSI" and as_int(drive.get("ControllerNumber")) == number

    for number in range(count):
        here = [d for d in disks if on_scsi(d, number)]
        optical = [d for d in dvds if on_scsi(d, number)]
        controllers.append(StorageController(
            name=f"SCSI {number}", kind=ControllerKind.SCSI,
            disks=tuple(_disk(d, as_int(d.get("ControllerLocation")), 0) for d in here),
            optical=tuple(OpticalDrive(iso=str(d.get("Path") or ""),
                                       port=as_int(d.get("ControllerLocation")))
                          for d in optical)))
    return tuple(controllers)


def _disk(drive: dict[str, Any], port: int, device: int) -> Disk:
    path = str(drive.get("Path") or "")
    return Disk(path=path, format=disk_format(path, drive.get("VhdFormat")),
                size_bytes=as_int(drive.get("Size")), port=port, device=device, existing=True)


def _adapter(nic: dict[str, Any]) -> NetworkAdapter:
    switch_id = str(nic.get("SwitchId") or "").lower()
    switch = str(nic.get("SwitchName") or "")
    if switch_id == DEFAULT_SWITCH_ID:
        attachment, network = NetworkAttachment.NAT, ""
    elif switch:
        attachment, network = NetworkAttachment.SWITCH, switch
    else:
        attachment, network = NetworkAttachment.NONE, ""
    mac = str(nic.get("MacAddress") or "")
    if nic.get("DynamicMacAddressEnabled", True) or not mac.strip("0"):
        mac = ""
    return NetworkAdapter(attachment=attachment, network=network, mac=mac,
                          model=None if nic.get("IsLegacy") else NicModel.SYNTHETIC)


def machine_info(details: dict[str, Any], host: str, os_id: str = "", *,
                 backend: str = "hyperv") -> MachineInfo:
    """Spec, state, checkpoint tree, guest addresses and disk files of one VM."""
    spec = spec_from_details(details, os_id)
    addresses = tuple(str(a) for nic in as_list(details.get("NetworkAdapters"))
                      if isinstance(nic, dict) for a in as_list(nic.get("IPAddresses")))
    return MachineInfo(
        summary=summary(details, host, spec.os, backend=backend),
        spec=spec,
        snapshots=snapshot_tree(details.get("Checkpoints")),
        current_snapshot=str(details.get("CurrentCheckpointId") or "").lower(),
        guest_addresses=addresses,
        files=tuple(d.path for _, d in spec.all_disks()),
    )
