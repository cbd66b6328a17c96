"""`validate(spec, capabilities)`: every problem of a spec as data a user can read; never raises."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from desktopvm.model.capabilities import Capabilities
from desktopvm.model.catalog import GIB, BootMedia, OsCatalog, catalog
from desktopvm.model.devices import ControllerKind, Disk, NetworkAttachment, StorageController
from desktopvm.model.machine import Firmware, MachineSpec
from desktopvm.model.names import name_problems
from desktopvm.model.problems import Problem, Severity, errors
from desktopvm.model.problems import error as _error
from desktopvm.model.problems import warning as _warning

__all__ = ["Problem", "Severity", "errors", "validate"]  # Problem & co. live in problems.py

NEEDS_NETWORK_NAME = {
    NetworkAttachment.BRIDGED: "the host interface to bridge to",
    NetworkAttachment.INTERNAL: "the internal network's name",
    NetworkAttachment.SWITCH: "the virtual switch",
}
NO_REMOVABLE_MEDIA = {ControllerKind.NVME, ControllerKind.VIRTIO}


class PathFact(NamedTuple):
    """What the file system says about one path of a spec."""

    exists: bool
    is_file: bool


PathLookup = Callable[[str], "PathFact | None"]


def look_at_path(path: str) -> PathFact:
    """Ask the file system now (blocks: a path on a share may take seconds; the app asks on
    a worker and hands validate() the answers)."""
    where = Path(path).expanduser()
    return PathFact(where.exists(), where.is_file())


def validate(
    spec: MachineSpec,
    capabilities: Capabilities,
    *,
    check_paths: bool = True,
    os_catalog: OsCatalog | None = None,
    media: Mapping[str, BootMedia] | None = None,
    path_facts: PathLookup | None = None,
) -> list[Problem]:
    """All problems of `spec` for a backend with `capabilities`.

    `check_paths` looks at the file system (ISOs exist, new disks would not overwrite a
    file); turn it off for specs that describe a machine on another host. `media` tells how
    the spec's ISOs boot (by path, as desktopvm.media read them): firmware they cannot boot
    with, and another architecture, are problems. `path_facts` answers for the file system
    instead (the app asks it on a worker and passes what it knows; None: not known yet, so
    no problem is said about that path until it is).
    """
    lookup = path_facts or look_at_path
    checks = (
        _name(spec, capabilities),
        _cpu_and_memory(spec, capabilities),
        _firmware(spec, capabilities),
        _storage(spec, capabilities, lookup if check_paths else None),
        _network(spec, capabilities),
        _devices(spec, capabilities),
        _guest_os(spec, capabilities, os_catalog or catalog()),
        _boot_media(spec, media or {}),
    )
    return [problem for check in checks for problem in check]


def _name(spec: MachineSpec, caps: Capabilities) -> Iterator[Problem]:
    yield from name_problems(spec.name, caps)


def _cpu_and_memory(spec: MachineSpec, caps: Capabilities) -> Iterator[Problem]:
    cpus = spec.cpu.count
    if cpus < max(1, caps.min_cpus):
        yield _error("cpu.count", f"A machine needs at least {max(1, caps.min_cpus)} CPU.")
    elif cpus > caps.max_cpus:
        yield _error("cpu.count", f"At most {caps.max_cpus} CPUs are possible here, not {cpus}.")
    if spec.cpu.nested_virtualization and not caps.nested_virtualization:
        yield _error("cpu.nested_virtualization", f"{caps.backend} cannot offer nested "
                     "virtualisation on this host.")
    size = spec.memory.size_mib
    if size < caps.min_memory_mib:
        yield _error("memory.size_mib", f"Memory must be at least {caps.min_memory_mib} MiB.")
    elif size > caps.max_memory_mib:
        yield _error("memory.size_mib", f"{size} MiB is more than the {caps.max_memory_mib} MiB "
                     "this host can give a machine.")
    dynamic = spec.memory.dynamic
    if dynamic is not None:
        if not caps.dynamic_memory:
            yield _error("memory.dynamic", f"{caps.backend} has no dynamic memory.")
        elif not dynamic.minimum_mib <= size <= dynamic.maximum_mib:
            yield _error("memory.dynamic", "Dynamic memory needs minimum ≤ start-up memory ≤ "
                         f"maximum (here {dynamic.minimum_mib} ≤ {size} ≤ {dynamic.maximum_mib}).")
        elif dynamic.maximum_mib > caps.max_memory_mib:
            yield _error("memory.dynamic", f"The maximum is more than the {caps.max_memory_mib} "
                         "MiB this host can give a machine.")


def _firmware(spec: MachineSpec, caps: Capabilities) -> Iterator[Problem]:
    fw = spec.firmware
    if fw.kind not in caps.firmware:
        yield _error("firmware.kind",
                     f"{caps.backend} cannot use {fw.kind.value.upper()} firmware.")
    if fw.secure_boot:
        if fw.kind is not Firmware.UEFI:
            yield _error("firmware.secure_boot", "Secure Boot needs UEFI firmware.")
        elif not caps.secure_boot:
            yield _error("firmware.secure_boot", f"{caps.backend} cannot do Secure Boot here.")
        elif fw.secure_boot_template and fw.secure_boot_template not in caps.secure_boot_templates:
            yield _error("firmware.secure_boot_template", f"{caps.backend} has no "
                         f"'{fw.secure_boot_template.value}' Secure Boot template.")
    if fw.tpm:
        if not caps.tpm:
            reason = caps.tpm_unavailable_reason or f"{caps.backend} has no TPM here."
            yield _error("firmware.tpm", f"No TPM 2.0: {reason}")
        elif fw.kind is not Firmware.UEFI:
            yield _warning("firmware.tpm", "Guests use a TPM 2.0 only with UEFI firmware.")


def _storage(spec: MachineSpec, caps: Capabilities,
             lookup: PathLookup | None) -> Iterator[Problem]:
    for ci, controller in enumerate(spec.storage):
        where = f"storage[{ci}]"
        if controller.kind not in caps.controller_kinds:
            yield _error(f"{where}.kind", f"{caps.backend} has no "
                         f"{controller.kind.value.upper()} controller.")
        elif controller.kind in caps.bios_only_controllers and \
                spec.firmware.kind is Firmware.UEFI:
            yield _error(f"{where}.kind", f"{caps.backend} offers "
                         f"{controller.kind.value.upper()} only with BIOS firmware; use SCSI "
                         "with UEFI.")
        yield from _ports(controller, where, caps)
        for i, disk in enumerate(controller.disks):
            yield from _disk(disk, f"{where}.disks[{i}]", caps, lookup)
        for i, drive in enumerate(controller.optical):
            fact = lookup(drive.iso) if lookup and drive.iso else None
            if fact is not None and not fact.is_file:
                yield _error(f"{where}.optical[{i}].iso",
                             f"The ISO file {drive.iso} does not exist.")
    paths = Counter(os.path.normcase(d.path) for _, d in spec.all_disks() if d.path)
    for path, count in paths.items():
        if count > 1:
            yield _error("storage", f"The disk {path} is attached {count} times.")


def _ports(controller: StorageController, where: str, caps: Capabilities) -> Iterator[Problem]:
    kind = controller.kind.value.upper()
    ports = caps.ports_per_controller.get(controller.kind)
    devices = caps.devices_per_port.get(controller.kind, 1)
    slots: Counter[tuple[int, int]] = Counter()
    attached = [(f"{where}.disks[{i}]", d.port, d.device) for i, d in enumerate(controller.disks)]
    attached += [(f"{where}.optical[{i}]", o.port, o.device)
                 for i, o in enumerate(controller.optical)]
    for field, port, device in attached:
        slots[(port, device)] += 1
        if slots[(port, device)] == 2:
            slot = f"port {port}" + (f" device {device}" if devices > 1 else "")
            yield _error(f"{field}.port", f"Two devices on {slot} of the {kind} controller; "
                         "each needs its own.")
        if ports is not None and port >= ports:
            yield _error(f"{field}.port", f"Port {port} does not exist: a {kind} controller has "
                         f"ports 0 to {ports - 1} here.")
        if device >= devices:
            yield _error(f"{field}.device", f"Device {device} does not exist on a {kind} port.")
    if controller.optical and controller.kind in NO_REMOVABLE_MEDIA:
        yield _error(f"{where}.optical", f"A {kind} controller cannot hold optical drives; put "
                     "the drive on SATA or IDE.")


def _disk(disk: Disk, field: str, caps: Capabilities,
          lookup: PathLookup | None) -> Iterator[Problem]:
    if disk.format not in caps.disk_formats:
        yield _error(f"{field}.format", f"{caps.backend} cannot use "
                     f"{disk.format.value.upper()} disks.")
    if not disk.existing:
        if disk.size_bytes <= 0:
            yield _error(f"{field}.size_bytes", "A new disk needs a size.")
        elif disk.size_bytes > caps.max_disk_bytes:
            yield _error(f"{field}.size_bytes", f"At most {caps.max_disk_bytes // GIB} GiB per "
                         "disk.")
    fact = lookup(disk.path) if lookup and disk.path else None
    if fact is not None:
        exists = fact.exists
        if disk.existing and not exists:
            yield _error(f"{field}.path", f"The disk file {disk.path} does not exist.")
        elif not disk.existing and exists:
            yield _error(f"{field}.path", f"{disk.path} already exists; a new disk will not "
                         "overwrite it. Attach it as an existing disk instead.")


def _network(spec: MachineSpec, caps: Capabilities) -> Iterator[Problem]:
    if len(spec.network) > caps.max_network_adapters:
        yield _error("network", f"At most {caps.max_network_adapters} network adapters.")
    macs: Counter[str] = Counter()
    for i, nic in enumerate(spec.network):
        field = f"network[{i}]"
        if nic.attachment not in caps.network_attachments:
            yield _error(f"{field}.attachment", f"{caps.backend} cannot attach an adapter to "
                         f"'{nic.attachment.value}'.")
        needs = NEEDS_NETWORK_NAME.get(nic.attachment)
        if needs and not nic.network:
            yield _error(f"{field}.network", f"Choose {needs}.")
        if nic.model is not None and nic.model not in caps.nic_models:
            yield _error(f"{field}.model", f"{caps.backend} has no {nic.model.value} adapter.")
        if nic.mac:
            macs[nic.mac] += 1
            if int(nic.mac[:2], 16) & 1:
                yield _error(f"{field}.mac", f"{nic.mac} is a multicast address; the first byte "
                             "must be even.")
            if macs[nic.mac] == 2:
                yield _error(f"{field}.mac", f"The MAC address {nic.mac} is used twice.")
        if nic.port_forwards and nic.attachment is not NetworkAttachment.NAT:
            yield _error(f"{field}.port_forwards", "Port forwards work only with NAT.")
        host_ports = Counter((f.protocol, f.host_port) for f in nic.port_forwards)
        for (protocol, port), count in host_ports.items():
            if count > 1:
                yield _error(f"{field}.port_forwards", f"Host port {protocol.value}/{port} is "
                             "forwarded twice.")


def _devices(spec: MachineSpec, caps: Capabilities) -> Iterator[Problem]:
    if spec.display.monitors > caps.max_monitors:
        yield _error("display.monitors", f"At most {caps.max_monitors} monitors.")
    if spec.display.video_memory_mib > caps.max_video_memory_mib:
        yield _error("display.video_memory_mib", f"At most {caps.max_video_memory_mib} MiB of "
                     "video memory.")
    if spec.usb.version is not None and not caps.usb:
        yield _error("usb.version", f"{caps.backend} offers no USB controller here.")
    elif spec.usb.version is not None and spec.usb.version not in caps.usb_versions:
        yield _error("usb.version", f"{caps.backend} offers no USB {spec.usb.version} "
                     f"controller here. {caps.usb_versions_reason}".strip())
    if len(spec.serial) > caps.max_serial_ports:
        yield _error("serial", f"At most {caps.max_serial_ports} serial ports.")
    numbers: Counter[int] = Counter(port.number for port in spec.serial)
    for i, port in enumerate(spec.serial):
        if port.mode not in caps.serial_modes:
            yield _error(f"serial[{i}].mode", f"{caps.backend} cannot connect a serial port to "
                         f"a {port.mode.value}.")
        if numbers[port.number] > 1:
            yield _error(f"serial[{i}].number", f"COM{port.number} is defined twice.")
    for device, count in Counter(spec.boot_order).items():
        if device not in caps.boot_devices:
            yield _error("boot_order", f"{caps.backend} cannot boot from {device.value}.")
        if count > 1:
            yield _error("boot_order", f"'{device.value}' appears twice in the boot order.")


def _guest_os(spec: MachineSpec, caps: Capabilities, os_catalog: OsCatalog) -> Iterator[Problem]:
    entry = os_catalog.get(spec.os)
    if entry is None:
        yield _warning("os", f"'{spec.os}' is not in the OS catalog; defaults for 'other' apply.")
        return
    need = entry.requires
    missing = []
    if need.firmware is not None and spec.firmware.kind is not need.firmware:
        missing.append(f"{need.firmware.value.upper()} firmware")
    if need.secure_boot and not spec.firmware.secure_boot:
        missing.append("Secure Boot")
    if need.tpm and not spec.firmware.tpm:
        missing.append("a TPM 2.0")
    if need.min_cpus and spec.cpu.count < need.min_cpus:
        missing.append(f"{need.min_cpus} CPUs")
    if need.min_memory_mib and spec.memory.size_mib < need.min_memory_mib:
        missing.append(f"{need.min_memory_mib} MiB of memory")
    disks = [d.size_bytes for _, d in spec.all_disks() if not d.existing]
    if need.min_disk_gib and disks and max(disks) < need.min_disk_gib * GIB:
        missing.append(f"a {need.min_disk_gib} GiB disk")
    if missing:
        yield _warning("os", f"{entry.name} needs {_join(missing)}; its installer may refuse "
                       "to run without them.")


# The machines every backend makes are x86-64; 32-bit x86 discs boot on them too.
MACHINE_ARCHITECTURES = ("x86_64", "i686")
ARCHITECTURE_NAMES = {"aarch64": "ARM64", "armv7l": "32-bit ARM", "riscv64": "RISC-V",
                      "ppc64le": "POWER", "s390x": "IBM Z"}


def _boot_media(spec: MachineSpec, media: Mapping[str, BootMedia]) -> Iterator[Problem]:
    for ci, controller in enumerate(spec.storage):
        for i, drive in enumerate(controller.optical):
            disc = media.get(drive.iso) if drive.iso else None
            if disc is None or not (disc.bios or disc.uefi):
                continue  # a data disc: it need not boot
            field = f"storage[{ci}].optical[{i}].iso"
            kind = spec.firmware.kind
            if kind is Firmware.UEFI and not disc.uefi:
                yield _error("firmware.kind", f"This ISO ({Path(drive.iso).name}) can only "
                             "boot with BIOS firmware; choose BIOS.")
            elif kind is Firmware.BIOS and not disc.bios:
                yield _error("firmware.kind", f"This ISO ({Path(drive.iso).name}) can only "
                             "boot with UEFI firmware; choose UEFI.")
            arch = disc.architecture
            if arch is not None and arch not in MACHINE_ARCHITECTURES:
                yield _error(field, f"This ISO is for {ARCHITECTURE_NAMES.get(arch, arch)} "
                             f"({arch}) computers; this machine is x86-64, so it will not "
                             "start. Use the ISO for x86-64 (amd64).")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
