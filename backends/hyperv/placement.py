"""Where the model's controllers, disks and adapters land on Hyper-V, and what it refuses.

Hyper-V has two IDE controllers with two locations each (Generation 1 only) and up to four
SCSI controllers with 64 locations. The model's IDE controller maps port -> controller
number and device -> location; its n-th SCSI controller is SCSI controller n, port ->
location. Generation 2 has no IDE at all: IDE controllers of a UEFI spec (the catalog's
default bus for Windows) are placed on the SCSI controllers after the spec's own SCSI ones.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from desktopvm.model import (
    BootDevice,
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    OpticalDrive,
    Problem,
    SecureBootTemplate,
    Severity,
    catalog,
)

MIB = 1024 * 1024
HYPERV_TEMPLATES = {
    SecureBootTemplate.MICROSOFT_WINDOWS: "MicrosoftWindows",
    SecureBootTemplate.MICROSOFT_UEFI_CA: "MicrosoftUEFICertificateAuthority",
    SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM: "OpenSourceShieldedVM",
}
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
                  *(f"LPT{i}" for i in range(10))}


@dataclass(frozen=True)
class Slot:
    """One drive at its Hyper-V address."""

    kind: str  # "disk" or "dvd"
    controller_type: str  # "IDE" or "SCSI"
    number: int
    location: int
    disk: Disk | None = None
    dvd: OpticalDrive | None = None

    @property
    def address(self) -> tuple[str, int, int]:
        """(controller type, controller number, location)."""
        return (self.controller_type, self.number, self.location)


def generation(spec: MachineSpec) -> int:
    """Hyper-V generation: 2 for UEFI, 1 for BIOS (fixed when the VM is created)."""
    return 2 if spec.firmware.kind is Firmware.UEFI else 1


def slots(spec: MachineSpec, gen: int) -> list[Slot]:
    """Every disk and DVD drive of `spec` at its Hyper-V address."""
    scsi = [c for c in spec.storage if c.kind is ControllerKind.SCSI]
    ide = [c for c in spec.storage if c.kind is ControllerKind.IDE]
    result: list[Slot] = []
    if gen == 1:
        for controller in ide:
            result += [Slot("disk", "IDE", d.port, d.device, disk=d) for d in controller.disks]
            result += [Slot("dvd", "IDE", o.port, o.device, dvd=o) for o in controller.optical]
    for number, controller in enumerate(scsi + (ide if gen == 2 else [])):
        def location(port: int, device: int, kind: ControllerKind = controller.kind) -> int:
            return port if kind is ControllerKind.SCSI else port * 2 + device
        result += [Slot("disk", "SCSI", number, location(d.port, d.device), disk=d)
                   for d in controller.disks]
        result += [Slot("dvd", "SCSI", number, location(o.port, o.device), dvd=o)
                   for o in controller.optical]
    return result


def problems(spec: MachineSpec) -> list[Problem]:
    """What Hyper-V refuses beyond the generic validation."""
    found: list[Problem] = []
    gen = generation(spec)
    placed = slots(spec, gen)
    if gen == 1 and any(s.kind == "dvd" and s.controller_type == "SCSI" for s in placed):
        found.append(_error("storage", "Generation 1 (BIOS) machines hold DVD drives only on "
                            "IDE."))
    if len({s.number for s in placed if s.controller_type == "SCSI"}) > 4:
        found.append(_error("storage", "Hyper-V machines have at most 4 SCSI controllers."))
    for address, count in Counter(s.address for s in placed).items():
        if count > 1:
            found.append(_error("storage", f"Two drives at {address[0]} {address[1]}:"
                                f"{address[2]} once IDE is placed on SCSI; give each its own."))
    if gen == 2 and any(s.disk is not None and s.disk.format is DiskFormat.VHD for s in placed):
        # "Generation 2 virtual machines only support VHDX format virtual hard drives"
        # (Generation 2 Virtual Machine Overview, 2012 R2 FAQ; review H3).
        found.append(_error("storage", "Generation 2 (UEFI) machines use VHDX disks only; "
                            "convert the VHD to VHDX (Convert-VHD) or choose VHDX."))
    if gen == 1 and BootDevice.NETWORK in spec.boot_order:
        # PXE from a standard adapter is Generation 2 only; Generation 1 needs a legacy
        # adapter, which DesktopVM does not add (review H7).
        found.append(Problem(field="boot_order", severity=Severity.WARNING, message=(
            "Generation 1 (BIOS) machines boot from the network only through a legacy "
            "network adapter, which DesktopVM does not add; the network entry has no effect.")))
    if spec.cpu.nested_virtualization and spec.memory.dynamic is not None:
        # "even if dynamic memory is enabled, the amount of memory will not fluctuate"
        # (Hyper-V nested virtualization guide; review H11).
        found.append(_error("memory.dynamic", "A machine with nested virtualization keeps "
                            "its start-up memory: Hyper-V cannot use dynamic memory for it; "
                            "turn one of them off."))
    if spec.memory.size_mib % 2:
        found.append(_error("memory.size_mib", "Hyper-V needs memory in steps of 2 MiB."))
    dynamic = spec.memory.dynamic
    if dynamic is not None and (dynamic.minimum_mib % 2 or dynamic.maximum_mib % 2):
        found.append(_error("memory.dynamic", "Hyper-V needs memory in steps of 2 MiB."))
    return found


def _error(field: str, message: str) -> Problem:
    return Problem(field=field, severity=Severity.ERROR, message=message)


def secure_boot_template(spec: MachineSpec) -> str:
    """Hyper-V's template name: the spec's, else by the guest's family (Windows or not)."""
    template = spec.firmware.secure_boot_template
    if template is None:
        entry = catalog().get(spec.os)
        windows = entry is not None and entry.family.value == "windows"
        template = (SecureBootTemplate.MICROSOFT_WINDOWS if windows
                    else SecureBootTemplate.MICROSOFT_UEFI_CA)
    return HYPERV_TEMPLATES[template]


def folder_name(name: str) -> str:
    """A folder name for a VM from its (free-text) name: no wildcards, separators or devices."""
    safe = re.sub(r"[^\w .()-]", "_", name, flags=re.UNICODE).strip(" .")
    safe = re.sub(r"_+", "_", safe)[:64].strip(" .") or "vm"
    return f"vm-{safe}" if safe.split(".")[0].upper() in RESERVED_NAMES else safe


def round_size(size_bytes: int) -> int:
    """VHDX sizes are whole MiB: round up."""
    return -(-size_bytes // MIB) * MIB


def mac_for_hyperv(mac: str) -> str:
    """'00:15:5D:01:02:03' -> '00155D010203' (Hyper-V's form); '' stays '' (dynamic)."""
    return mac.replace(":", "").upper()


def switch_for(adapter: NetworkAdapter, default_switch: str) -> str:
    """The switch an adapter plugs into: its own, the Default Switch for NAT, '' for none."""
    if adapter.attachment is NetworkAttachment.NAT:
        return default_switch
    if adapter.attachment is NetworkAttachment.NONE:
        return ""
    return adapter.network
