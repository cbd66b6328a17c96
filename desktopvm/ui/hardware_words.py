"""A machine's hardware in words for the details pane: "NAT, VirtIO network", "4 GiB",
"64 GiB disk on VirtIO (qcow2)". Paths and MAC addresses go to the tooltip, not the line; an
ISO file that is gone says so in the line ("gone.iso — the file is missing")."""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, NamedTuple

from desktopvm.ui.inventory_model import os_name
from desktopvm.ui.words import format_bytes, format_mib

if TYPE_CHECKING:
    from desktopvm.model import MachineSpec

# Keyed by the enums' values: the pane is part of the first paint, which the model (pydantic)
# is kept out of; the editors' fuller labels import it.
NIC_SHORT = {
    "virtio": "VirtIO", "e1000e": "Intel e1000e", "e1000": "Intel e1000",
    "rtl8139": "Realtek RTL8139", "pcnet": "AMD PCnet", "vmxnet3": "VMware vmxnet3",
    "synthetic": "Hyper-V synthetic",
}
BUS = {"ide": "IDE", "sata": "SATA", "scsi": "SCSI", "nvme": "NVMe", "virtio": "VirtIO"}
ATTACHMENT = {"nat": "NAT", "bridged": "Bridged", "internal": "Internal",
              "host-only": "Host-only", "switch": "Switch", "none": "Not connected"}


class Row(NamedTuple):
    """One line of the hardware summary."""

    label: str
    value: str
    tooltip: str = ""
    problem: bool = False  # shown as a warning: something the machine needs is not there


def _file_name(path: str) -> str:
    # Windows paths from a Hyper-V host too: PurePath on this OS would not split them.
    return PurePath(path.replace("\\", "/")).name or path


def hardware_rows(spec: MachineSpec, missing: frozenset[str] = frozenset()) -> list[Row]:
    """The rows describing a spec for people; memory in one format (format_mib) throughout.
    `missing`: ISO paths known not to be files (the details job looked; details_reader.py)."""
    fw = spec.firmware
    firmware = "UEFI" if fw.kind.value == "uefi" else fw.kind.value.upper()
    firmware += ", Secure Boot" if fw.secure_boot else ""
    firmware += ", TPM 2.0" if fw.tpm else ""
    memory = format_mib(spec.memory.size_mib)
    if spec.memory.dynamic:
        memory += (f" (dynamic, {format_mib(spec.memory.dynamic.minimum_mib)} to "
                   f"{format_mib(spec.memory.dynamic.maximum_mib)})")
    rows = [Row("Guest OS", os_name(spec.os)), Row("Firmware", firmware),
            Row("CPUs", str(spec.cpu.count)), Row("Memory", memory)]
    for controller in spec.storage:
        bus = BUS.get(controller.kind.value, controller.kind.value)
        for disk in controller.disks:
            size = f"{format_bytes(disk.size_bytes)} disk" if disk.size_bytes else "Disk"
            rows.append(Row("Disk", f"{size} on {bus} ({disk.format.value}), "
                                    f"{_file_name(disk.path)}", disk.path))
        for drive in controller.optical:
            if drive.iso and drive.iso in missing:
                # Found now, not only when Start refuses: Settings → Storage ejects or changes it.
                rows.append(Row("Optical drive", f"{_file_name(drive.iso)} — the file is "
                                f"missing (on {bus})", f"{drive.iso} does not exist: eject it "
                                "or choose another disc in Settings → Storage", problem=True))
                continue
            shown = _file_name(drive.iso) if drive.iso else "empty"
            rows.append(Row("Optical drive", f"{shown}, on {bus}", drive.iso))
    for nic in spec.network:
        words = ATTACHMENT.get(nic.attachment.value, nic.attachment.value)
        if nic.network:
            words += f" “{nic.network}”"
        if nic.model:
            words += f", {NIC_SHORT.get(nic.model.value, nic.model.value)} network"
        rows.append(Row("Network", words, f"MAC address {nic.mac}" if nic.mac else ""))
    if not spec.network:
        rows.append(Row("Network", "No network adapter"))
    display = f"{format_mib(spec.display.video_memory_mib)} video memory"
    if spec.display.monitors > 1:
        display += f", {spec.display.monitors} monitors"
    rows.append(Row("Display", display))
    return rows
