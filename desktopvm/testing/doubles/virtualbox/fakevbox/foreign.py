"""The double's import of a standard OVF or OVA, one it did not write itself.

Real VBoxManage imports any OVF 1.0/2.0 appliance (VirtualBox manual, "Importing and Exporting
Virtual Machines" and "VBoxManage import"): the descriptor's virtual system becomes a new
machine — its OS type (vbox:OSType where the descriptor has one, else "Other"), CPUs, memory,
firmware, one controller per OVF controller (named IDE, SATA, SCSI, NVMe and VirtioSCSI, as
the import names them), its network adapters with fresh MAC addresses (unless
--options keepallmacs), DVD drives empty — and each disk is copied into the machine's folder,
keeping its format (VDI only with --options importtovdi). `tests/backends/virtualbox/real`
proves DesktopVM's restore against the real 7.2.

The double reads the descriptor with DesktopVM's own OVF reader, which needs the packages the
double otherwise does without (it runs with `python -S`): they are loaded only here.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.virtualbox.fakevbox.state import Vm, new_mac, new_uuid, new_vm

#: Our controller kinds as the import makes them: (bus, shown type, controller name).
CONTROLLERS = {"ide": ("ide", "PIIX4", "IDE"), "sata": ("sata", "IntelAhci", "SATA"),
               "scsi": ("scsi", "LsiLogic", "SCSI"), "nvme": ("pcie", "NVMe", "NVMe"),
               "virtio": ("virtio-scsi", "VirtioSCSI", "VirtioSCSI")}
PORTS = {"ide": 2, "sata": 30, "scsi": 16, "pcie": 255, "virtio-scsi": 256}
NIC_TYPES = {"pcnet": "Am79C973", "e1000": "82540EM", "e1000e": "82545EM", "virtio": "virtio"}
ATTACHMENTS = {"nat": "nat", "bridged": "bridged", "internal": "intnet",
               "host-only": "hostonly"}
#: The disk formats VirtualBox's import reads, by our DiskFormat value -> its own name.
FORMATS = {"vmdk": "VMDK", "vdi": "VDI", "vhd": "VHD"}
_OS_TYPE = re.compile(r"<vbox:OSType[^>]*>\s*([A-Za-z0-9_]+)\s*</vbox:OSType>")


@dataclass(frozen=True)
class ForeignDisk:
    """One disk of the appliance: its file in the package, size, format and where it goes."""

    href: str
    capacity: int
    format: str  # VirtualBox's name: VMDK, VDI, VHD
    controller: int
    slot: str  # "port-device"


def read_foreign(descriptor: bytes, source: Path, name: str, folder: Path
                 ) -> tuple[Vm, list[ForeignDisk]]:
    """The machine and disks a standard descriptor describes (ValueError: not one VirtualBox
    would import)."""
    appliance = _read(descriptor, str(source))
    spec = appliance.spec
    vm = new_vm(name or spec.name, _os_type(descriptor), new_uuid(), folder)
    vm.update(memory=spec.memory.size_mib, cpus=spec.cpu.count,
              firmware="EFI" if spec.firmware.kind.value == "uefi" else "BIOS")
    for number, nic in enumerate(spec.network, start=1):
        kind = ATTACHMENTS.get(nic.attachment.value, "null")
        vm["nics"][str(number)] = {
            "type": kind, "net": nic.network if kind in ("bridged", "intnet", "hostonly")
            else "", "nictype": NIC_TYPES.get(nic.model.value if nic.model else "", "82540EM"),
            "mac": new_mac(), "cable": True, "forwards": []}
    names: dict[str, int] = {}
    for controller in spec.storage:
        bus, shown, label = CONTROLLERS[controller.kind.value]
        names[label] = names.get(label, 0) + 1
        vm["controllers"].append({
            "name": label if names[label] == 1 else f"{label}-{names[label] - 1}", "bus": bus,
            "type": shown, "portcount": PORTS[bus], "maxports": PORTS[bus],
            "attachments": {f"{d.port}-{d.device}": {"type": "dvddrive", "medium": "",
                                                     "uuid": new_uuid()}
                            for d in controller.optical}})
    disks = []
    for disk in appliance.disks:
        fmt = FORMATS.get(disk.format.value)
        if fmt is None:
            raise ValueError(f"VirtualBox cannot import a {disk.format.value} disk")
        disks.append(ForeignDisk(disk.file_href, disk.capacity_bytes, fmt,
                                 disk.controller_index, f"{disk.port}-{disk.device}"))
    return vm, disks


def descriptor_of(source: Path) -> bytes:
    """The descriptor of an .ovf file or inside an .ova."""
    if source.suffix.lower() == ".ovf":
        return source.read_bytes()
    with tarfile.open(source, "r:") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".ovf"))
        file = tar.extractfile(member)
        return file.read() if file is not None else b""


def copy_disk(source: Path, href: str, target: Path) -> None:
    """The disk `href` of the package at `source` copied to `target`, bytes unchanged."""
    if source.suffix.lower() == ".ovf":
        with (source.parent / href).open("rb") as data, target.open("wb") as out:
            while chunk := data.read(1 << 20):
                out.write(chunk)
        return
    with tarfile.open(source, "r:") as tar:
        file = tar.extractfile(href)
        if file is None:
            raise KeyError(href)
        with target.open("wb") as out:
            while chunk := file.read(1 << 20):
                out.write(chunk)


def _os_type(descriptor: bytes) -> str:
    match = _OS_TYPE.search(descriptor.decode("utf-8", "replace"))
    return match.group(1) if match else "Other"


def _read(descriptor: bytes, source: str) -> Any:
    try:
        from desktopvm.ovf import OvfError, read_ovf
    except ImportError:  # run with python -S: the packages come in only for this
        import site

        site.main()
        from desktopvm.ovf import OvfError, read_ovf
    try:
        return read_ovf(descriptor, source)
    except OvfError as error:
        raise ValueError(str(error)) from None
