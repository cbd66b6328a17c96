"""Edits of a spec's storage (place a disk on a free port, detach it, swap an ISO); pure."""

from __future__ import annotations

from pathlib import PurePath

from desktopvm.model import (
    Capabilities,
    ControllerKind,
    Disk,
    DiskFormat,
    MachineSpec,
    OpticalDrive,
    StorageController,
)

# Buses that take optical drives, in the order a new drive goes on one.
OPTICAL_BUSES = (ControllerKind.SATA, ControllerKind.IDE, ControllerKind.SCSI)
# When a backend states no port count, look this far for a free one.
UNSTATED_PORTS = 32
_EXTENSIONS = {"img": DiskFormat.RAW, "raw": DiskFormat.RAW}


def format_from_path(path: str) -> DiskFormat | None:
    """The disk format a file name suggests ('x.vdi' -> VDI), or None."""
    extension = PurePath(path).suffix.lower().lstrip(".")
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    try:
        return DiskFormat(extension)
    except ValueError:
        return None


def first_disk(spec: MachineSpec) -> tuple[int, int, Disk] | None:
    """(controller index, disk index, disk) of the machine's first disk, or None."""
    for ci, controller in enumerate(spec.storage):
        if controller.disks:
            return ci, 0, controller.disks[0]
    return None


def first_optical(spec: MachineSpec) -> tuple[int, int, OpticalDrive] | None:
    """(controller index, drive index, drive) of the first optical drive, or None."""
    for ci, controller in enumerate(spec.storage):
        if controller.optical:
            return ci, 0, controller.optical[0]
    return None


def free_slot(controller: StorageController, caps: Capabilities) -> tuple[int, int] | None:
    """The first (port, device) no disk or drive uses, or None when the controller is full."""
    used = {(d.port, d.device) for d in controller.disks}
    used |= {(o.port, o.device) for o in controller.optical}
    ports = caps.ports_per_controller.get(controller.kind, UNSTATED_PORTS)
    devices = caps.devices_per_port.get(controller.kind, 1)
    for port in range(ports):
        for device in range(devices):
            if (port, device) not in used:
                return port, device
    return None


def _new_controller(kind: ControllerKind) -> StorageController:
    # Named as defaults_for names controllers, so backends see one convention.
    return StorageController(name=kind.value.upper(), kind=kind)


def add_disk(spec: MachineSpec, disk: Disk, kind: ControllerKind, caps: Capabilities,
             *, first: bool = False) -> MachineSpec:
    """`spec` with `disk` on a free port of a `kind` controller (a new one if none has room).

    `first` puts a new controller before the others, so the disk becomes the first disk.
    """
    storage = list(spec.storage)
    for ci, controller in enumerate(storage):
        slot = free_slot(controller, caps) if controller.kind is kind else None
        if slot is not None:
            placed = disk.model_copy(update={"port": slot[0], "device": slot[1]})
            storage[ci] = controller.model_copy(update={"disks": (*controller.disks, placed)})
            return spec.model_copy(update={"storage": tuple(storage)})
    controller = _new_controller(kind).model_copy(
        update={"disks": (disk.model_copy(update={"port": 0, "device": 0}),)})
    storage.insert(0 if first else len(storage), controller)
    return spec.model_copy(update={"storage": tuple(storage)})


def detach_disk(spec: MachineSpec, controller_index: int, disk_index: int) -> MachineSpec:
    """`spec` without that disk (its file stays where it is)."""
    storage = list(spec.storage)
    controller = storage[controller_index]
    disks = tuple(d for i, d in enumerate(controller.disks) if i != disk_index)
    storage[controller_index] = controller.model_copy(update={"disks": disks})
    return spec.model_copy(update={"storage": tuple(storage)})


def without_empty_controllers(spec: MachineSpec) -> MachineSpec:
    """`spec` without controllers that hold nothing."""
    storage = tuple(c for c in spec.storage if c.disks or c.optical)
    return spec.model_copy(update={"storage": storage})


def with_first_disk(spec: MachineSpec, disk: Disk | None, kind: ControllerKind,
                    caps: Capabilities) -> MachineSpec:
    """`spec` whose first disk is `disk` on a `kind` controller (or removed when None)."""
    found = first_disk(spec)
    if found is not None:
        spec = detach_disk(spec, found[0], found[1])
    if disk is not None:
        spec = add_disk(without_empty_controllers(spec), disk, kind, caps, first=True)
    return without_empty_controllers(spec)


def set_iso(spec: MachineSpec, controller_index: int, drive_index: int, iso: str) -> MachineSpec:
    """`spec` with that optical drive holding `iso` ('' empties it)."""
    storage = list(spec.storage)
    controller = storage[controller_index]
    drives = list(controller.optical)
    drives[drive_index] = drives[drive_index].model_copy(update={"iso": iso})
    storage[controller_index] = controller.model_copy(update={"optical": tuple(drives)})
    return spec.model_copy(update={"storage": tuple(storage)})


def add_optical(spec: MachineSpec, iso: str, caps: Capabilities) -> MachineSpec:
    """`spec` with a new optical drive holding `iso`, on a bus that takes removable media."""
    storage = list(spec.storage)
    for ci, controller in enumerate(storage):
        slot = free_slot(controller, caps) if controller.kind in OPTICAL_BUSES else None
        if slot is not None:
            drive = OpticalDrive(iso=iso, port=slot[0], device=slot[1])
            storage[ci] = controller.model_copy(update={"optical": (*controller.optical, drive)})
            return spec.model_copy(update={"storage": tuple(storage)})
    kind = next((k for k in OPTICAL_BUSES if k in caps.controller_kinds), ControllerKind.SATA)
    storage.append(_new_controller(kind).model_copy(update={"optical": (OpticalDrive(iso=iso),)}))
    return spec.model_copy(update={"storage": tuple(storage)})


def with_first_iso(spec: MachineSpec, iso: str, caps: Capabilities) -> MachineSpec:
    """`spec` whose first optical drive holds `iso` (adding a drive only when there is an ISO)."""
    found = first_optical(spec)
    if found is not None:
        return set_iso(spec, found[0], found[1], iso)
    return add_optical(spec, iso, caps) if iso else spec
