"""`fitted`: an appliance with its disks back on the buses DesktopVM exported them from, where
the target can take them (the standard OVF items said SATA; see ovf/extension.py)."""

from __future__ import annotations

from dataclasses import replace

from desktopvm.model import Capabilities
from desktopvm.ovf.extension import restore_buses
from desktopvm.ovf.reader import Appliance, ApplianceDisk


def fitted(appliance: Appliance, capabilities: Capabilities | None) -> Appliance:
    """`appliance` with each disk on its recorded bus when `capabilities` offers that bus
    (None: every recorded bus, i.e. the machine as it was); other disks stay where the
    standard items put them, so a target without VirtIO still imports on SATA."""
    buses = {disk_id: bus for disk_id, bus in appliance.buses.items()
             if capabilities is None or bus in capabilities.controller_kinds}
    if not buses:
        return appliance
    placements = [(d.controller_index, d.port, d.device, disk_id)
                  for d, disk_id in zip(appliance.disks, appliance.disk_ids, strict=True)]
    storage, moved = restore_buses(list(appliance.spec.storage), placements, buses)
    where = {disk_id: (index, port, device) for index, port, device, disk_id in moved}
    disks: list[ApplianceDisk] = []
    for disk, disk_id in zip(appliance.disks, appliance.disk_ids, strict=True):
        index, port, device = where[disk_id]
        disks.append(replace(disk, controller_index=index, port=port, device=device))
    spec = appliance.spec.model_copy(update={"storage": tuple(storage)})
    return replace(appliance, spec=spec, disks=disks)


def unfitted(appliance: Appliance, capabilities: Capabilities) -> list[tuple[int, str]]:
    """(disk number, bus) of each disk whose recorded bus `capabilities` lacks: it is
    imported on the bus the standard items name instead."""
    lacking = []
    for number, disk_id in enumerate(appliance.disk_ids, start=1):
        bus = appliance.buses.get(disk_id)
        if bus is not None and bus not in capabilities.controller_kinds:
            lacking.append((number, bus.value))
    return lacking
