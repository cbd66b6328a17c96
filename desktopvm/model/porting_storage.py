"""How `porting.fit` puts disks and DVD drives on a target's controllers, and its report.

Each disk and drive keeps its bus where the target has it (and, with the source's
capabilities given, where that bus is no VirtIO device on the target that was none on the
source); others go to the first bus the guest has drivers for. Controllers of the source stay
where their bus does, holding what stays on them; moved items join the first controller of
their new bus or a new one. Ports past the target's limits are renumbered; a full controller
hands its extra items to a second one of its bus (IDE: to the next bus, as every hypervisor
has one set of IDE channels). The controller holding the boot disk (the first disk) comes
first, so the boot disk stays the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktopvm.model.capabilities import Capabilities
from desktopvm.model.catalog import PREFERRED_DISK_FORMATS, OsEntry
from desktopvm.model.devices import ControllerKind, Disk, OpticalDrive, StorageController
from desktopvm.model.machine import Firmware, MachineSpec
from desktopvm.units import format_size

#: A disk whose bus the target lacks goes to the first of these the target has (and the
#: guest has drivers for). VirtIO is missing on purpose: a guest boots from a VirtIO disk
#: only with VirtIO drivers in its boot image, so fit never picks it by itself.
DISK_BUSES = (ControllerKind.SATA, ControllerKind.SCSI, ControllerKind.IDE, ControllerKind.NVME)
#: Optical drives need a bus with removable media.
OPTICAL_BUSES = (ControllerKind.SATA, ControllerKind.IDE, ControllerKind.SCSI)
REMOVABLE = frozenset(OPTICAL_BUSES)
BUS_NAMES = {ControllerKind.IDE: "IDE", ControllerKind.SATA: "SATA", ControllerKind.SCSI: "SCSI",
             ControllerKind.NVME: "NVMe", ControllerKind.VIRTIO: "VirtIO"}
#: Buses that are VirtIO devices underneath although the model names them otherwise: QEMU's
#: SCSI controller is virtio-scsi-pci (backends/qemu/plans.py). Capabilities do not say how a
#: bus is emulated, so this table does, by the backend's name in its capabilities.
VIRTIO_UNDERNEATH = {"QEMU": frozenset({ControllerKind.SCSI})}


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the mapping report."""

    what: str  # "disk 1 bus", "firmware", "network adapter 2 model", …
    before: str
    after: str
    reason: str  # in the user's words: "Hyper-V generation 2 boots from SCSI"


@dataclass
class Report:
    """The changes and blockers `fit` collects."""

    changes: list[Change] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    def change(self, what: str, before: object, after: object, reason: str) -> None:
        self.changes.append(Change(what, str(before), str(after), reason))


def generation(caps: Capabilities, firmware: Firmware) -> str:
    """The target as the user knows it in this firmware mode: "Hyper-V generation 2"."""
    if caps.bios_only_controllers:  # a hypervisor whose firmware fixes the generation
        return f"{caps.backend} generation {2 if firmware is Firmware.UEFI else 1}"
    return caps.backend


def fit_storage(spec: MachineSpec, caps: Capabilities, *, source: Capabilities | None,
                firmware: Firmware, entry: OsEntry | None,
                report: Report) -> tuple[StorageController, ...]:
    """`spec`'s controllers as `caps` can take them in `firmware` mode."""
    return _Storage(spec, caps, source=source, firmware=firmware, entry=entry,
                    report=report).fitted()


@dataclass
class _Item:
    """A disk or optical drive on its way to a controller of the target."""

    label: str  # "disk 1", "DVD drive 2"
    device: Disk | OpticalDrive
    source: int  # the index of its controller in the source spec
    bus: ControllerKind
    reason: str = ""  # why its bus changed ("" : it did not)
    boot: bool = False


class _Storage:
    """The controllers, disks and optical drives fitted to the target."""

    def __init__(self, spec: MachineSpec, caps: Capabilities, *, source: Capabilities | None,
                 firmware: Firmware, entry: OsEntry | None, report: Report) -> None:
        self.spec, self.caps, self.entry, self.report = spec, caps, entry, report
        uefi = firmware is Firmware.UEFI
        self.mode = generation(caps, firmware)
        self.usable = [k for k in ControllerKind if k in caps.controller_kinds
                       and not (uefi and k in caps.bios_only_controllers)]
        # BIOS-only controllers are what such a target boots from in BIOS mode (Hyper-V
        # generation 1 boots from IDE and has DVD drives only there).
        self.boot_buses = [] if uefi else [k for k in self.usable
                                           if k in caps.bios_only_controllers]
        self.virtio = _virtio(caps)
        self.was_virtio = _virtio(source) if source is not None else None
        drivers = set(entry.disk_buses) if entry is not None else set(ControllerKind)
        plain = [k for k in DISK_BUSES if k in self.usable and k not in self.virtio]
        self.disk_buses = [k for k in plain if k in drivers] or plain

    def fitted(self) -> tuple[StorageController, ...]:
        """The target's controllers, the boot disk's first."""
        items: list[_Item] = []
        number = {"disk": 0, "DVD drive": 0}
        for ci, controller in enumerate(self.spec.storage):
            for disk in controller.disks:
                number["disk"] += 1
                items.append(self._disk(f"disk {number['disk']}", disk, ci, controller.kind,
                                        boot=number["disk"] == 1))
            for drive in controller.optical:
                number["DVD drive"] += 1
                item = self._optical(f"DVD drive {number['DVD drive']}", drive, ci,
                                     controller.kind)
                if item is not None:
                    items.append(item)
        items.sort(key=lambda item: not item.boot)  # the boot disk gets its port first
        return self._place(items)

    def _disk(self, label: str, disk: Disk, source: int, bus: ControllerKind,
              *, boot: bool) -> _Item:
        disk = self._format(label, disk)
        if disk.size_bytes > self.caps.max_disk_bytes:
            self.report.blockers.append(
                f"{label.capitalize()} is {format_size(disk.size_bytes)}; {self.caps.backend} "
                f"takes disks of at most {format_size(self.caps.max_disk_bytes)}.")
        new, reason = self._disk_bus(label, bus, boot=boot)
        return _Item(label, disk, source, new, reason, boot=boot)

    def _disk_bus(self, label: str, bus: ControllerKind, *,
                  boot: bool) -> tuple[ControllerKind, str]:
        """The bus a disk goes to on the target, and why it changed ("": it did not)."""
        if boot and self.boot_buses and bus not in self.boot_buses:
            return self.boot_buses[0], f"{self.mode} boots only from " \
                f"{BUS_NAMES[self.boot_buses[0]]}"
        becomes_virtio = self.was_virtio is not None and bus in self.virtio - self.was_virtio
        if bus in self.usable and not (becomes_virtio and self.disk_buses):
            return bus, ""
        if not self.disk_buses:
            self.report.blockers.append(f"{self.caps.backend} has no controller for {label}.")
            return bus, ""
        new = self.disk_buses[0]
        if becomes_virtio:
            need = "boot from" if boot else "see"
            return new, f"{self.caps.backend}'s {BUS_NAMES[bus]} controller is a VirtIO " \
                f"device; the guest needs VirtIO drivers to {need} a virtio disk: " \
                f"{BUS_NAMES[new]} chosen instead"
        reason = self._lacks(bus)
        preferred = [k for k in (self.entry.disk_buses if self.entry else ())
                     if k in self.usable]
        if preferred[:1] == [ControllerKind.VIRTIO]:
            reason += (f"; the guest needs VirtIO drivers to boot from a virtio disk: "
                       f"{BUS_NAMES[new]} chosen instead")
        elif bus is ControllerKind.VIRTIO and boot:
            reason += f"; the guest's boot image needs its {BUS_NAMES[new]} driver"
        return new, reason

    def _lacks(self, bus: ControllerKind) -> str:
        if bus in self.caps.controller_kinds:  # BIOS-only, and the machine has UEFI
            return f"{self.mode} has no {BUS_NAMES[bus]}; it boots from " + \
                " or ".join(BUS_NAMES[k] for k in self.usable)
        return f"{self.caps.backend} has no {BUS_NAMES[bus]} controller"

    def _format(self, label: str, disk: Disk) -> Disk:
        native = next((f for f in PREFERRED_DISK_FORMATS if f in self.caps.disk_formats), None)
        if native is None:
            self.report.blockers.append(f"{self.caps.backend} takes no disk format here.")
            return disk
        if disk.format is native:
            return disk
        self.report.change(f"{label} format", disk.format.value.upper(), native.value.upper(),
                           f"converted to {self.caps.backend}'s own disk format")
        return disk.model_copy(update={"format": native})

    def _optical(self, label: str, drive: OpticalDrive, source: int,
                 bus: ControllerKind) -> _Item | None:
        if self.boot_buses:
            if bus in self.boot_buses:
                return _Item(label, drive, source, bus)
            new, reason = self.boot_buses[0], f"{self.mode} holds DVD drives only on " \
                f"{BUS_NAMES[self.boot_buses[0]]}"
            return _Item(label, drive, source, new, reason)
        if bus in self.usable and bus in REMOVABLE:
            return _Item(label, drive, source, bus)
        choices = [k for k in OPTICAL_BUSES if k in self.usable]
        if not choices:
            self.report.change(label, BUS_NAMES[bus], "removed", f"{self.mode} has no "
                               "controller that holds DVD drives")
            return None
        return _Item(label, drive, source, choices[0], self._lacks(bus))

    def _place(self, items: list[_Item]) -> tuple[StorageController, ...]:
        """Items on controllers: the source's where its bus stays, new ones for the rest."""
        homes, by_source = self._source_homes(items)
        for item in items:  # unmoved items first, so they keep their ports
            if not item.reason and item.source in by_source:
                by_source[item.source].items.append(item)
        for item in items:
            if item.reason or item.source not in by_source:
                self._home(item.bus, homes).items.append(item)
        placed = 0
        while placed < len(homes):  # homes grow while full ones hand items on
            home = homes[placed]
            placed += 1
            for item in self._slots(home):
                bus = self._overflow(item, home.controller.kind)
                if bus is None:
                    self.report.blockers.append(f"{self.caps.backend} has no free "
                                                f"{BUS_NAMES[home.controller.kind]} port for "
                                                f"{item.label}.")
                    continue
                if bus is not item.bus:
                    item.reason = item.reason or f"{self.mode}'s {BUS_NAMES[item.bus]} ports " \
                        "are all taken"
                    item.bus = bus
                self._home(bus, homes, after=home).items.append(item)
        # An empty controller of the source stays (the user made it); one emptied by the
        # moves goes.
        kept = [h.controller for h in homes if _holds(h.controller)
                or (h.from_source and not _holds(h.original))]
        holder = next((h.controller for h in homes if h.boot), None)
        boot = kept.index(holder) if holder in kept else 0
        return tuple(kept[boot:boot + 1] + kept[:boot] + kept[boot + 1:])

    def _source_homes(self, items: list[_Item]) -> tuple[list[_Home], dict[int, _Home]]:
        """The source's controllers the target keeps, by their index in the source."""
        homes: list[_Home] = []
        by_source: dict[int, _Home] = {}
        ide = ControllerKind.IDE
        for ci, controller in enumerate(self.spec.storage):
            if controller.kind is ide and any(h.controller.kind is ide for h in homes):
                # Every hypervisor has one set of IDE channels: a second IDE controller's
                # drives join the first one's.
                for item in items:
                    if item.source == ci and not item.reason:
                        item.reason = f"{self.mode} has one set of IDE channels"
            elif controller.kind in self.usable:
                by_source[ci] = _Home(controller, from_source=True)
                homes.append(by_source[ci])
            elif not _holds(controller):
                self.report.change(f"{controller.name or BUS_NAMES[controller.kind]} "
                                   "controller", BUS_NAMES[controller.kind], "removed",
                                   self._lacks(controller.kind))
        return homes, by_source

    def _home(self, bus: ControllerKind, homes: list[_Home],
              after: _Home | None = None) -> _Home:
        """The first controller of `bus` (after `after`, which is full), else a new one."""
        start = homes.index(after) + 1 if after is not None else 0
        found = next((h for h in homes[start:] if h.controller.kind is bus), None)
        if found is None:
            taken = {h.controller.name for h in homes} | {c.name for c in self.spec.storage}
            name, n = BUS_NAMES[bus], 2
            while name in taken:
                name, n = f"{BUS_NAMES[bus]} {n}", n + 1
            found = _Home(StorageController(name=name, kind=bus), from_source=False)
            homes.append(found)
        return found

    def _overflow(self, item: _Item, bus: ControllerKind) -> ControllerKind | None:
        """Where an item goes when its controller is full: a second controller of the bus,
        but not for IDE (every hypervisor has one set of IDE channels) — then the next bus."""
        if bus is not ControllerKind.IDE:
            return bus
        if item.boot or (self.boot_buses and isinstance(item.device, OpticalDrive)):
            return None
        choices = self.disk_buses if isinstance(item.device, Disk) else \
            [k for k in OPTICAL_BUSES if k in self.usable]
        return next((k for k in choices if k is not ControllerKind.IDE), None)

    def _moved(self, item: _Item, bus: ControllerKind, slot: tuple[int, int], ports: int,
               per_port: int) -> None:
        was = f"{BUS_NAMES[self.spec.storage[item.source].kind]} " \
            f"{_where(item.device.port, item.device.device)}"
        now = f"{BUS_NAMES[bus]} {_where(*slot)}"
        if item.reason.strip():
            self.report.change(f"{item.label} bus", was, now, item.reason)
        else:
            self.report.change(f"{item.label} port", was, now, f"{self.caps.backend}'s "
                               f"{BUS_NAMES[bus]} controllers have ports 0 to {ports - 1}"
                               + (f" with {per_port} devices each" if per_port > 1 else
                                  ", one device each"))

    def _slots(self, home: _Home) -> list[_Item]:
        """Put `home`'s items on ports that exist and are free; the ones left over."""
        caps, controller, items = self.caps, home.controller, home.items
        bus = controller.kind
        ports = caps.ports_per_controller.get(bus, len(items) + 64)
        per_port = max(1, caps.devices_per_port.get(bus, 1))
        free = [(p, d) for p in range(ports) for d in range(per_port)]
        taken: set[tuple[int, int]] = set()
        placed: list[tuple[_Item, tuple[int, int]]] = []
        waiting: list[_Item] = []
        for item in sorted(items, key=lambda i: not i.boot):  # the boot disk first
            slot = (item.device.port, item.device.device)
            if item.boot and (item.reason or slot not in free):
                # A moved boot disk takes the first port nothing stays on (else the first).
                staying = {(i.device.port, i.device.device) for i in items if not i.reason}
                slot = next((s for s in free if s not in staying), free[0] if free else slot)
                item.reason = item.reason or " "  # reported below as moved
            if (not item.reason or item.boot) and slot in free and slot not in taken:
                taken.add(slot)
                placed.append((item, slot))
                if item.boot:
                    home.boot = True
                    if item.reason.strip() or slot != (item.device.port, item.device.device):
                        self._moved(item, bus, slot, ports, per_port)
            else:
                waiting.append(item)
        left: list[_Item] = []
        for item in waiting:
            spare = next((s for s in free if s not in taken), None)
            if spare is None:
                left.append(item)
                continue
            slot = spare
            taken.add(slot)
            placed.append((item, slot))
            self._moved(item, bus, slot, ports, per_port)
        placed.sort(key=lambda pair: items.index(pair[0]))
        disks = tuple(i.device.model_copy(update={"port": s[0], "device": s[1]})
                      for i, s in placed if isinstance(i.device, Disk))
        optical = tuple(i.device.model_copy(update={"port": s[0], "device": s[1]})
                        for i, s in placed if isinstance(i.device, OpticalDrive))
        home.controller = controller.model_copy(update={"disks": disks, "optical": optical})
        return left


@dataclass
class _Home:
    """A controller of the target and the items going onto it."""

    controller: StorageController
    from_source: bool
    items: list[_Item] = field(default_factory=list)
    original: StorageController = field(init=False)
    boot: bool = False  # holds the boot disk

    def __post_init__(self) -> None:
        self.original = self.controller


def _virtio(caps: Capabilities) -> frozenset[ControllerKind]:
    """The buses that are VirtIO devices on a backend."""
    return VIRTIO_UNDERNEATH.get(caps.backend, frozenset()) | {ControllerKind.VIRTIO}


def _holds(controller: StorageController) -> bool:
    return bool(controller.disks or controller.optical)


def _where(port: int, device: int) -> str:
    return f"port {port}" + (f" device {device}" if device else "")

