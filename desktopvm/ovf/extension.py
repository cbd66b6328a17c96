"""DesktopVM's own optional OVF section: what the standard items lose on our round trip.

OVF has no item for video memory, and the writer exports NVMe and VirtIO controllers as SATA
(VirtualBox and VMware import one controller per bus and know no VirtIO). So an OVA exported
here and imported here would come back with 16 MiB of video memory and its disks on SATA. The
section below says what each disk's bus and the display really were; it is marked
`ovf:required="false"`, which OVF importers skip when they do not know the section (OVF 1.1
§9.1), so other hypervisors see exactly the descriptor they saw before.

    <dvm:DesktopVMSection ovf:required="false" xmlns:dvm="urn:desktopvm:ovf:1">
      <Info>…</Info>
      <dvm:Display videoMemoryMiB="64" monitors="1"/>
      <dvm:Disk diskId="vmdisk1" bus="virtio"/>
    </dvm:DesktopVMSection>

Values read back are checked like everything else in a descriptor: an unknown bus or a number
out of range is ignored (the standard items' reading stands), never trusted.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from desktopvm.model import ControllerKind, DisplaySpec, MachineSpec, StorageController
from desktopvm.ovf.common import whole_number
from desktopvm.ovf.xmlread import attr, children, local, ns
from desktopvm.ovf.xmlwrite import Node

DVM_NS = "urn:desktopvm:ovf:1"
SECTION = "DesktopVMSection"
MAX_VIDEO_MIB = 1024 * 1024  # beyond any real card: a larger figure is not believed
MAX_MONITORS = 64


def extension_node(spec: MachineSpec) -> Node:
    """The section for `spec`; its disks are vmdisk1… in `spec.all_disks()` order, as the
    writer numbers them."""
    section = Node(f"dvm:{SECTION}", {"ovf:required": "false", "xmlns:dvm": DVM_NS})
    section.add("Info", "DesktopVM's own settings that OVF hardware items cannot carry")
    section.add("dvm:Display", attrs={"videoMemoryMiB": str(spec.display.video_memory_mib),
                                      "monitors": str(spec.display.monitors)})
    for number, (index, _) in enumerate(spec.all_disks(), start=1):
        section.add("dvm:Disk", attrs={"diskId": f"vmdisk{number}",
                                       "bus": spec.storage[index].kind.value})
    return section


def read_extension(system: ET.Element) -> tuple[DisplaySpec | None, dict[str, ControllerKind]]:
    """(the display, each disk id's bus) from the section, if the VirtualSystem has one."""
    section = next((c for c in system if isinstance(c.tag, str)
                    and local(c.tag) == SECTION and ns(c.tag) == DVM_NS), None)
    if section is None:
        return None, {}
    display = None
    for element in children(section, "Display"):
        vram = whole_number(attr(element, "videoMemoryMiB") or "")
        monitors = whole_number(attr(element, "monitors") or "")
        if vram is not None and 0 < vram <= MAX_VIDEO_MIB:
            display = DisplaySpec(video_memory_mib=vram, monitors=monitors
                                  if monitors is not None and 0 < monitors <= MAX_MONITORS
                                  else 1)
    buses: dict[str, ControllerKind] = {}
    known = {kind.value: kind for kind in ControllerKind}
    for element in children(section, "Disk"):
        disk_id, bus = attr(element, "diskId") or "", attr(element, "bus") or ""
        if disk_id and bus in known:
            buses[disk_id] = known[bus]
    return display, buses


def restore_buses(storage: list[StorageController],
                  placements: list[tuple[int, int, int, str]],
                  buses: dict[str, ControllerKind]
                  ) -> tuple[list[StorageController], list[tuple[int, int, int, str]]]:
    """Move each disk whose recorded bus differs from its controller's onto a controller of
    that bus (one per bus, after the others), keeping its port; placements follow. Only a
    disk exported from a bus OVF lacks moves: ours wrote NVMe and VirtIO as SATA."""
    moved: dict[ControllerKind, list[tuple[int, int, int, str]]] = {}
    kept_placements = []
    for placement in placements:
        index, _, _, disk_id = placement
        bus = buses.get(disk_id)
        if bus is not None and bus is not storage[index].kind and \
                bus in (ControllerKind.NVME, ControllerKind.VIRTIO):
            moved.setdefault(bus, []).append(placement)
        else:
            kept_placements.append(placement)
    if not moved:
        return storage, placements
    controllers = list(storage)
    leaving = {(index, port, device) for group in moved.values()
               for index, port, device, _ in group}
    for number, controller in enumerate(controllers):
        controllers[number] = controller.model_copy(update={"disks": tuple(
            d for d in controller.disks if (number, d.port, d.device) not in leaving)})
    new_placements = list(kept_placements)
    for bus, group in moved.items():
        disks = []
        for port, (index, old_port, device, disk_id) in enumerate(group):
            disk = next(d for d in storage[index].disks
                        if (d.port, d.device) == (old_port, device))
            disks.append(disk.model_copy(update={"port": port, "device": 0}))
            new_placements.append((len(controllers), port, 0, disk_id))
        name = {ControllerKind.NVME: "NVMe", ControllerKind.VIRTIO: "VirtIO"}[bus]
        controllers.append(StorageController(name=name, kind=bus, disks=tuple(disks)))
    # A controller left empty by the move goes (an empty SATA controller would only confuse).
    keep = [n for n, c in enumerate(controllers) if c.disks or c.optical]
    renumber = {old: new for new, old in enumerate(keep)}
    return ([controllers[n] for n in keep],
            [(renumber[i], port, device, disk_id) for i, port, device, disk_id in new_placements])
