"""MachineSpec → vSphere VirtualMachineConfigSpec: a whole machine, or the changes of an edit.

Pure: builds pyVmomi data objects and sends nothing. New devices get negative temporary keys
(the host gives the real ones); a device a new one hangs on refers to that temporary key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from backends.esxi.placement import Environment
from backends.esxi.session import vim
from backends.esxi.translate import (
    OS_KEY,
    Devices,
    controller_kind,
    family_of,
    guest_id_of,
    nearest_guest_id,
)
from desktopvm.model import MachineSpec, Problem, Severity
from desktopvm.model.devices import (
    ControllerKind,
    Disk,
    NetworkAdapter,
    NicModel,
    OpticalDrive,
    StorageController,
)
from desktopvm.model.machine import Firmware, UsbVersion

Dev = vim.vm.device
Op = Dev.VirtualDeviceSpec.Operation
FileOp = Dev.VirtualDeviceSpec.FileOperation
NIC_CLASSES: dict[NicModel, type] = {
    NicModel.E1000E: Dev.VirtualE1000e, NicModel.E1000: Dev.VirtualE1000,
    NicModel.VMXNET3: Dev.VirtualVmxnet3, NicModel.PCNET: Dev.VirtualPCNet32,
}


def guest_id(os_id: str, environment: Environment | None = None) -> str:
    """The guest id a machine of our `os_id` is made with on this host: the table's
    (translate.GUEST_IDS) when the host lists it for creating, else the nearest it lists."""
    wanted = guest_id_of(os_id)
    if environment is None:
        return wanted
    return nearest_guest_id(wanted, environment.creatable(), family_of(os_id))


def guest_note(os_id: str, environment: Environment, product: str) -> str:
    """What to tell the user when the host does not list our guest id ('' when it does)."""
    wanted, used = guest_id_of(os_id), guest_id(os_id, environment)
    if used == wanted:
        return ""
    # Short enough for the jobs panel's line: the product without its build number.
    host = product.partition(" build-")[0] or "This host"
    return f"{host} does not know the guest OS {wanted}; using {used}"


def host_problems(spec: MachineSpec, environment: Environment) -> list[Problem]:
    """What this host's descriptor of the machine's guest id rules out: a firmware it does not
    list in supportedFirmware (GuestOsDescriptor, vSphere API). Nothing when it said nothing."""
    used = guest_id(spec.os, environment)
    guest = environment.guests.get(used)
    firmware = "efi" if spec.firmware.kind is Firmware.UEFI else "bios"
    if guest is None or not guest.firmware or firmware in guest.firmware:
        return []
    named = {"efi": "UEFI", "bios": "BIOS"}
    others = " or ".join(named.get(f, f) for f in guest.firmware)
    return [Problem(field="firmware.kind", severity=Severity.ERROR,
                    message=f"this host runs {used} with {others} firmware only, not "
                            f"{named[firmware]}; choose {others}")]


class Keys:
    """Temporary keys for new devices: -1, -2, …"""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self) -> int:
        self._next -= 1
        return self._next


def controller(spec: StorageController, bus: int, key: int, os_id: str) -> Any:
    """A new storage controller on bus `bus`."""
    if spec.kind is ControllerKind.SCSI:
        # LSI Logic SAS is what Windows installs onto without extra drivers; other guests get
        # VMware's paravirtual controller.
        cls = (Dev.VirtualLsiLogicSASController if family_of(os_id) == "windows"
               else Dev.ParaVirtualSCSIController)
        return cls(key=key, busNumber=bus, sharedBus=Dev.VirtualSCSIController.Sharing.noSharing)
    cls = {ControllerKind.IDE: Dev.VirtualIDEController,
           ControllerKind.SATA: Dev.VirtualAHCIController,
           ControllerKind.NVME: Dev.VirtualNVMEController}.get(spec.kind)
    if cls is None:
        raise ValueError(f"vSphere has no {spec.kind.value} controller")
    return cls(key=key, busNumber=bus)


def disk(item: Disk, controller_key: int, key: int, datastore: str) -> Any:
    """A disk spec: a new thin disk on `datastore`, or an existing datastore file attached."""
    backing = Dev.VirtualDisk.FlatVer2BackingInfo(
        diskMode="persistent", thinProvisioned=not item.existing,
        fileName=item.path if item.existing else f"[{datastore}]")
    device = Dev.VirtualDisk(key=key, controllerKey=controller_key, unitNumber=item.port,
                             backing=backing)
    if not item.existing or item.size_bytes:
        # An existing disk of known size (a clone's copy) says it, as the file does.
        device.capacityInKB = (item.size_bytes + 1023) // 1024
    return Dev.VirtualDeviceSpec(operation=Op.add, device=device,
                                 fileOperation=None if item.existing else FileOp.create)


def cdrom_backing(iso: str) -> Any:
    """A datastore ISO, or an empty drive (a client device nobody has connected)."""
    if iso:
        return Dev.VirtualCdrom.IsoBackingInfo(fileName=iso)
    return Dev.VirtualCdrom.RemotePassthroughBackingInfo(deviceName="", exclusive=False)


def cdrom(item: OpticalDrive, controller_key: int, key: int) -> Any:
    """A new CD/DVD drive."""
    device = Dev.VirtualCdrom(
        key=key, controllerKey=controller_key, unitNumber=item.port,
        backing=cdrom_backing(item.iso),
        connectable=Dev.VirtualDevice.ConnectInfo(startConnected=bool(item.iso),
                                                  allowGuestControl=True))
    return Dev.VirtualDeviceSpec(operation=Op.add, device=device)


def nic_backing(adapter: NetworkAdapter, networks: dict[str, Any]) -> Any:
    """A port group (standard switch) by name."""
    backing = Dev.VirtualEthernetCard.NetworkBackingInfo(deviceName=adapter.network)
    if adapter.network in networks:
        backing.network = networks[adapter.network]
    return backing


def nic(adapter: NetworkAdapter, key: int, networks: dict[str, Any]) -> Any:
    """A new network adapter on its port group."""
    cls = NIC_CLASSES.get(adapter.model or NicModel.VMXNET3, Dev.VirtualVmxnet3)
    device = cls(key=key, backing=nic_backing(adapter, networks),
                 addressType="manual" if adapter.mac else "generated",
                 connectable=Dev.VirtualDevice.ConnectInfo(startConnected=True,
                                                           allowGuestControl=True))
    if adapter.mac:
        device.macAddress = adapter.mac.lower()
    return Dev.VirtualDeviceSpec(operation=Op.add, device=device)


def usb_controller(version: UsbVersion, key: int) -> Any:
    """A USB controller: xHCI for 3.0, EHCI+UHCI for the others."""
    if version is UsbVersion.USB3:
        return Dev.VirtualUSBXHCIController(key=key)
    return Dev.VirtualUSBController(key=key, ehciEnabled=version is UsbVersion.USB2)


def storage_changes(spec: MachineSpec, keys: Keys, datastore: str,
                    taken: dict[ControllerKind, set[int]] | None = None) -> Iterator[Any]:
    """Every controller, disk and drive of `spec`, as new devices.

    Each new controller gets the lowest bus number of its kind not in `taken` (the buses
    the machine already has; updated here): two controllers of a kind on one bus number
    would put the second one's disks where the host cannot tell them apart."""
    taken = {} if taken is None else taken
    for item in spec.storage:
        key = keys()
        used = taken.setdefault(item.kind, set())
        bus = min(set(range(len(used) + 1)) - used)
        used.add(bus)
        yield Dev.VirtualDeviceSpec(operation=Op.add,
                                    device=controller(item, bus, key, spec.os))
        for d in item.disks:
            yield disk(d, key, keys(), datastore)
        for o in item.optical:
            yield cdrom(o, key, keys())


def create_spec(spec: MachineSpec, datastore: str, networks: dict[str, Any],
                environment: Environment | None = None) -> Any:
    """The whole ConfigSpec that CreateVM_Task makes `spec` from, on `datastore`; the guest id
    one `environment` (the host's) lists (`guest_id`)."""
    keys = Keys()
    changes = list(storage_changes(spec, keys, datastore))
    changes += [nic(a, keys(), networks) for a in spec.network]
    if spec.usb.version is not None:
        changes.append(Dev.VirtualDeviceSpec(operation=Op.add,
                                             device=usb_controller(spec.usb.version, keys())))
    config = vim.vm.ConfigSpec(
        name=spec.name, annotation=spec.notes, guestId=guest_id(spec.os, environment),
        numCPUs=spec.cpu.count, memoryMB=spec.memory.size_mib,
        files=vim.vm.FileInfo(vmPathName=f"[{datastore}]"),
        deviceChange=changes,
        extraConfig=[vim.option.OptionValue(key=OS_KEY, value=spec.os)])
    apply_firmware(config, spec)
    if spec.cpu.nested_virtualization:
        config.nestedHVEnabled = True
    return config


def apply_firmware(config: Any, spec: MachineSpec) -> None:
    """Firmware and Secure Boot onto a ConfigSpec."""
    efi = spec.firmware.kind is Firmware.UEFI
    config.firmware = "efi" if efi else "bios"
    config.bootOptions = vim.vm.BootOptions(efiSecureBootEnabled=bool(efi and
                                                                      spec.firmware.secure_boot))


def video_change(spec: MachineSpec, devices: Devices) -> Any | None:
    """The video card edited to the spec's memory and monitors (None: it has none)."""
    if devices.video is None:
        return None
    card = devices.by_key[devices.video]
    card.videoRamSizeInKB = spec.display.video_memory_mib * 1024
    card.numDisplays = spec.display.monitors
    return Dev.VirtualDeviceSpec(operation=Op.edit, device=card)


def update_spec(old: MachineSpec, new: MachineSpec, groups: set[str], *, devices: Devices,
                datastore: str, networks: dict[str, Any],
                environment: Environment | None = None) -> Any:
    """A ConfigSpec changing only the `groups` that differ (model.changed_groups).

    A disk dropped from the spec is detached and its file kept: a spec edit never deletes
    data. ValueError names a change vSphere cannot make in place.
    """
    config = _scalar_changes(old, new, groups, environment)
    changes: list[Any] = []
    keys = Keys()
    if "display" in groups and (change := video_change(new, devices)) is not None:
        changes.append(change)
    if "usb" in groups and old.usb.version != new.usb.version:
        if devices.usb is not None:
            changes.append(_remove(devices, devices.usb))
        if new.usb.version is not None:
            changes.append(Dev.VirtualDeviceSpec(operation=Op.add,
                                                 device=usb_controller(new.usb.version, keys())))
    if "network" in groups:
        changes += _network_changes(old, new, devices, keys, networks)
    if "storage" in groups:
        changes += _storage_changes(old, new, devices, keys, datastore)
    config.deviceChange = changes
    return config


def _scalar_changes(old: MachineSpec, new: MachineSpec, groups: set[str],
                    environment: Environment | None) -> Any:
    """The ConfigSpec's own fields for the changed groups (devices come after)."""
    config = vim.vm.ConfigSpec()
    if "name" in groups:
        config.name = new.name
    if "notes" in groups:
        config.annotation = new.notes
    if "os" in groups:
        config.guestId = guest_id(new.os, environment)
        config.extraConfig = [vim.option.OptionValue(key=OS_KEY, value=new.os)]
    if "cpu" in groups:
        config.numCPUs = new.cpu.count
        config.nestedHVEnabled = new.cpu.nested_virtualization
    if "memory" in groups:
        config.memoryMB = new.memory.size_mib
    if "firmware" in groups:
        if old.firmware.tpm != new.firmware.tpm:
            raise ValueError("a virtual TPM is added or removed in vCenter (it needs a key "
                             "provider); DesktopVM does not change it")
        apply_firmware(config, new)
    return config


def _remove(devices: Devices, key: int) -> Any:
    """Remove a device (a disk's file stays: no fileOperation)."""
    return Dev.VirtualDeviceSpec(operation=Op.remove, device=devices.by_key[key])


def _network_changes(old: MachineSpec, new: MachineSpec, devices: Devices, keys: Keys,
                     networks: dict[str, Any]) -> Iterator[Any]:
    for index in range(max(len(old.network), len(new.network))):
        before = old.network[index] if index < len(old.network) else None
        after = new.network[index] if index < len(new.network) else None
        if before == after:
            continue
        if before is not None and (after is None or before.model != after.model):
            yield _remove(devices, devices.nics[index])
            before = None
        if after is None:
            continue
        if before is None:
            yield nic(after, keys(), networks)
            continue
        card = devices.by_key[devices.nics[index]]
        card.backing = nic_backing(after, networks)
        if after.mac:
            card.addressType, card.macAddress = "manual", after.mac.lower()
        elif before.mac:
            card.addressType, card.macAddress = "generated", None
        yield Dev.VirtualDeviceSpec(operation=Op.edit, device=card)


def _storage_changes(old: MachineSpec, new: MachineSpec, devices: Devices, keys: Keys,
                     datastore: str) -> Iterator[Any]:
    taken: dict[ControllerKind, set[int]] = {}  # every bus the machine has, spare IDE too
    for device in devices.by_key.values():
        if (kind := controller_kind(device)) is not None:
            taken.setdefault(kind, set()).add(device.busNumber)
    for index in range(max(len(old.storage), len(new.storage))):
        before = old.storage[index] if index < len(old.storage) else None
        after = new.storage[index] if index < len(new.storage) else None
        if before == after:
            continue
        if before is None:
            assert after is not None
            if after.kind is ControllerKind.IDE and devices.spare_ide:
                # An empty IDE controller ESXi made is used before a new one is added.
                owner = devices.spare_ide.pop(0)
                empty = after.model_copy(update={"disks": (), "optical": ()})
                yield from _disk_changes(index, empty, after, owner=owner, devices=devices,
                                         keys=keys, datastore=datastore)
                yield from _optical_changes(index, empty, after, owner=owner, devices=devices,
                                            keys=keys)
                continue
            yield from storage_changes(new.model_copy(update={"storage": (after,)}), keys,
                                       datastore, taken)
            continue
        owner = devices.controllers[index]
        if after is None:
            for (where, _), key in {**devices.disks, **devices.optical}.items():
                if where == index:
                    yield _remove(devices, key)
            yield _remove(devices, owner)
            continue
        if before.kind != after.kind:
            raise ValueError(f"controller {before.name or index} cannot change from "
                             f"{before.kind.value} to {after.kind.value}; add a new one")
        yield from _disk_changes(index, before, after, owner=owner, devices=devices, keys=keys,
                                 datastore=datastore)
        yield from _optical_changes(index, before, after, owner=owner, devices=devices,
                                    keys=keys)


def _disk_changes(index: int, before: StorageController, after: StorageController, *,
                  owner: int, devices: Devices, keys: Keys, datastore: str) -> Iterator[Any]:
    old_disks = {d.port: d for d in before.disks}
    new_disks = {d.port: d for d in after.disks}
    for port in sorted(old_disks.keys() | new_disks.keys()):
        was, now = old_disks.get(port), new_disks.get(port)
        if was == now:
            continue
        if was is not None and now is not None and now.existing and now.path == was.path:
            if now.size_bytes < was.size_bytes:
                raise ValueError(f"the disk {was.path} cannot shrink")
            device = devices.by_key[devices.disks[(index, port)]]
            device.capacityInKB = (now.size_bytes + 1023) // 1024
            device.capacityInBytes = None
            yield Dev.VirtualDeviceSpec(operation=Op.edit, device=device)
            continue
        if was is not None:
            yield _remove(devices, devices.disks[(index, port)])
        if now is not None:
            yield disk(now, owner, keys(), datastore)


def _optical_changes(index: int, before: StorageController, after: StorageController, *,
                     owner: int, devices: Devices, keys: Keys) -> Iterator[Any]:
    old_drives = {o.port: o for o in before.optical}
    new_drives = {o.port: o for o in after.optical}
    for port in sorted(old_drives.keys() | new_drives.keys()):
        was, now = old_drives.get(port), new_drives.get(port)
        if was == now:
            continue
        if was is not None and now is not None:
            drive = devices.by_key[devices.optical[(index, port)]]
            drive.backing = cdrom_backing(now.iso)
            drive.connectable = Dev.VirtualDevice.ConnectInfo(
                startConnected=bool(now.iso), connected=bool(now.iso), allowGuestControl=True)
            yield Dev.VirtualDeviceSpec(operation=Op.edit, device=drive)
        elif was is not None:
            yield _remove(devices, devices.optical[(index, port)])
        elif now is not None:
            yield cdrom(now, owner, keys())
