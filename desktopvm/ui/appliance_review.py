"""What an appliance (OVA/OVF) describes, read from its descriptor alone, and what a target
connection lacks of it: the words of the import review. No Qt widgets here."""
# Which backend adapts what differs is the backend's business (VBoxManage maps buses and
# cards itself; QEMU checks the machine against the rules and stops): the review says what
# differs and that the import may stop there, and the import's error names the cause.

from __future__ import annotations

from pathlib import Path

from desktopvm.model import Capabilities, MachineSpec, NetworkAttachment, Severity, validate
from desktopvm.model.catalog import catalog
from desktopvm.ovf import Appliance, OvfError, read_ovf
from desktopvm.ovf.ova import checked_members, open_ova, single_member
from desktopvm.ovf.package import MAX_DESCRIPTOR_BYTES
from desktopvm.printable import printable
from desktopvm.ui.editors.labels import attachment_short_name, controller_name, nic_model_name
from desktopvm.ui.editors.widgets import format_bytes, format_mib


def read_package(path: Path) -> Appliance:
    """The appliance's descriptor, parsed. An OVA's members are listed and checked as import
    checks them, but only the descriptor is read: its disks stay unread in the archive.
    Raises OvfError (or OSError) in one line."""
    if path.suffix.lower() != ".ova":
        return read_ovf(path.read_bytes(), path.name)
    with open_ova(path) as tar:
        members = checked_members(tar, Path("/nonexistent-ova-root"), path)
        name = single_member(members, ".ovf", path, required=True)
        member = members[name]
        if member.size > MAX_DESCRIPTOR_BYTES:
            raise OvfError(f"the descriptor {name} is implausibly large")
        file = tar.extractfile(member)
        if file is None:
            raise OvfError(f"cannot read archive member {name!r}")
        return read_ovf(file.read(), name)


def hardware_lines(appliance: Appliance) -> list[tuple[str, str]]:
    """(label, value) rows of the hardware as the package describes it."""
    spec = appliance.spec
    entry = catalog().get(spec.os)
    rows = [
        ("Guest OS", entry.name if entry else spec.os),
        ("Processors", str(spec.cpu.count)),
        ("Memory", format_mib(spec.memory.size_mib)),
        ("Firmware", "UEFI" if spec.firmware.kind.value == "uefi" else "BIOS"),
        ("Video memory", format_mib(spec.display.video_memory_mib)),
    ]
    sizes = {(d.controller_index, d.port, d.device): d.capacity_bytes for d in appliance.disks}
    number = 0
    for index, controller in enumerate(spec.storage):
        for disk in controller.disks:
            number += 1
            size = sizes.get((index, disk.port, disk.device), disk.size_bytes)
            rows.append((f"Disk {number}", f"{format_bytes(size)} on "
                                           f"{controller_name(controller.kind)}"))
        for _ in controller.optical:
            rows.append(("Optical drive", f"on {controller_name(controller.kind)}"))
    for number, nic in enumerate(spec.network, start=1):
        model = nic_model_name(nic.model) if nic.model else "default card"
        network = f" “{printable(nic.network)}”" if nic.network else ""
        rows.append((f"Network {number}",
                     f"{attachment_short_name(nic.attachment)}{network}, {model}"))
    return rows


def change_lines(spec: MachineSpec, caps: Capabilities) -> list[tuple[bool, str]]:
    """What the chosen connection lacks of the package's hardware, as (against a rule,
    sentence): the model's rules for that backend (the checks a machine made there must
    pass) and the package's network names, which mean nothing on this host. Empty: it takes
    the machine as described. The disks' format is left out: every importer converts or
    copies the package's disks into its own."""
    lines: list[tuple[bool, str]] = []
    for problem in validate(spec, caps, check_paths=False):
        if problem.field == "name":
            continue  # the name is checked at its own field
        if problem.field.startswith("storage") and problem.field.endswith((".format", ".path")):
            continue
        lines.append((problem.severity is Severity.ERROR, problem.message))
    for number, nic in enumerate(spec.network, start=1):
        if nic.network and nic.attachment is not NetworkAttachment.NAT:
            lines.append((False, f"Network {number} names the package's network "
                                 f"“{printable(nic.network)}”: connect it to one of this "
                                 "host's after importing if it has no network of that name."))
    return lines
