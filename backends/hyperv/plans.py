"""The request (script name + JSON arguments) for each operation: pure functions, golden-tested.

Nothing here talks to PowerShell; `backend.py` sends what these return. User values only
ever appear as argument values, never in script text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backends.hyperv.placement import (
    MIB,
    Slot,
    folder_name,
    generation,
    mac_for_hyperv,
    round_size,
    secure_boot_template,
    slots,
    switch_for,
)
from desktopvm.model import (
    DiskFormat,
    MachineSpec,
    NetworkAdapter,
    SerialMode,
    changed_groups,
)
from desktopvm.protocol import InvalidState, UnsupportedOperation

QUICK = 60.0
SLOW = 600.0
COPY = 4 * 3600.0  # exports, clones, conversions of big disks
LIVE_GROUPS = {"name", "notes", "os"}  # changed in place whatever the state


@dataclass(frozen=True)
class Call:
    """One request: the operation (= script name), its arguments and how long it may take."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    timeout: float = QUICK


def _disk_args(slot: Slot, file_name: str) -> dict[str, Any]:
    assert slot.disk is not None
    return {"Path": slot.disk.path, "FileName": "" if slot.disk.path else file_name,
            "Create": not slot.disk.existing, "SizeBytes": round_size(slot.disk.size_bytes),
            "ControllerType": slot.controller_type, "ControllerNumber": slot.number,
            "ControllerLocation": slot.location}


def _dvd_args(slot: Slot) -> dict[str, Any]:
    assert slot.dvd is not None
    return {"Path": slot.dvd.iso, "ControllerNumber": slot.number,
            "ControllerLocation": slot.location}


def _adapter_args(adapter: NetworkAdapter, default_switch: str) -> dict[str, Any]:
    return {"SwitchName": switch_for(adapter, default_switch),
            "MacAddress": mac_for_hyperv(adapter.mac)}


def _com_ports(spec: MachineSpec, folder: str) -> list[dict[str, Any]]:
    ports = []
    for port in sorted(spec.serial, key=lambda p: p.number):
        path = ""
        if port.mode is SerialMode.PIPE:
            path = port.path or rf"\\.\pipe\{folder}-com{port.number}"
        ports.append({"Number": port.number, "Path": path})
    return ports


def disk_file_name(folder: str, index: int, disk_format: DiskFormat) -> str:
    """'web.vhdx', then 'web-1.vhdx', 'web-2.vhdx', … for disks without a path."""
    return f"{folder}{'' if index == 0 else f'-{index}'}.{disk_format.value}"


def create(spec: MachineSpec, default_switch: str) -> Call:
    """New-VM and everything after it, in one request (the script undoes it all on failure)."""
    gen = generation(spec)
    folder = folder_name(spec.name)
    dynamic = spec.memory.dynamic
    placed = slots(spec, gen)
    unnamed = iter(range(len(placed)))
    disks = [_disk_args(s, disk_file_name(folder, next(unnamed), s.disk.format))
             if s.disk is not None and not s.disk.path else _disk_args(s, "")
             for s in placed if s.kind == "disk"]
    args: dict[str, Any] = {
        "Name": spec.name,
        "FolderName": folder,
        "Generation": gen,
        "MemoryStartupBytes": spec.memory.size_mib * MIB,
        "DynamicMemory": dynamic is not None,
        "MemoryMinimumBytes": dynamic.minimum_mib * MIB if dynamic else 0,
        "MemoryMaximumBytes": dynamic.maximum_mib * MIB if dynamic else 0,
        "ProcessorCount": spec.cpu.count,
        "NestedVirtualization": spec.cpu.nested_virtualization,
        "SecureBoot": gen == 2 and spec.firmware.secure_boot,
        "SecureBootTemplate": secure_boot_template(spec)
        if gen == 2 and spec.firmware.secure_boot else "",
        "Tpm": gen == 2 and spec.firmware.tpm,
        "Disks": disks,
        "DvdDrives": [_dvd_args(s) for s in placed if s.kind == "dvd"],
        "NetworkAdapters": [_adapter_args(a, default_switch) for a in spec.network],
        "ComPorts": _com_ports(spec, folder),
        "BootOrder": [device.value for device in spec.boot_order],
        "Notes": spec.notes,
    }
    return Call("create_vm", args, timeout=SLOW)


def random_suffix() -> str:
    """A short random tag for file and folder names that must not clash."""
    return uuid.uuid4().hex[:8]


def update(machine_id: str, old: MachineSpec, new: MachineSpec, *, running: bool,
           default_switch: str, unique: Callable[[], str] = random_suffix) -> list[Call]:
    """The requests that turn `old` into `new`, only for the groups that changed.

    While the VM runs (or is paused or saved) only the name, notes, DVD media and the switch
    an adapter plugs into may change; anything else raises InvalidState naming the groups.
    """
    groups = changed_groups(old, new)
    if "firmware" in groups and old.firmware.kind != new.firmware.kind:
        raise UnsupportedOperation("Hyper-V fixes BIOS or UEFI (the generation) when a machine "
                                   "is created; make a new machine to change it")
    gen = generation(new)
    storage_calls = _storage(machine_id, old, new, gen, unique) if "storage" in groups else []
    network_calls = _network(machine_id, old, new, default_switch) if "network" in groups else []
    if running:
        blocked = sorted(g for g in groups - LIVE_GROUPS - {"storage", "network", "display", "usb"})
        if any(c.args.get("Remove") or c.args.get("AddDisks") or c.args.get("AddDvdDrives")
               for c in storage_calls):
            blocked.append("storage")
        if any(a["Action"] != "connect" for c in network_calls for a in c.args["Adapters"]):
            blocked.append("network")
        if blocked:
            raise InvalidState(f"Shut down {old.name} to change {', '.join(sorted(blocked))}; "
                               "while it runs only its name, notes, DVD media and network "
                               "connections can change")
    calls: list[Call] = []
    if "name" in groups:
        calls.append(Call("rename_vm", {"Id": machine_id, "Name": new.name}))
    if "notes" in groups:
        calls.append(Call("set_notes", {"Id": machine_id, "Notes": new.notes}))
    if "cpu" in groups:
        calls.append(Call("set_processor", {
            "Id": machine_id, "Count": new.cpu.count,
            "NestedVirtualization": new.cpu.nested_virtualization}))
    if "memory" in groups:
        dynamic = new.memory.dynamic
        calls.append(Call("set_memory", {
            "Id": machine_id, "StartupBytes": new.memory.size_mib * MIB,
            "DynamicMemory": dynamic is not None,
            "MinimumBytes": dynamic.minimum_mib * MIB if dynamic else 0,
            "MaximumBytes": dynamic.maximum_mib * MIB if dynamic else 0}))
    if "firmware" in groups:
        calls.append(Call("set_firmware", {
            "Id": machine_id, "SecureBoot": new.firmware.secure_boot,
            "SecureBootTemplate": secure_boot_template(new) if new.firmware.secure_boot else "",
            "Tpm": new.firmware.tpm}))
    calls += storage_calls + network_calls
    if "serial" in groups:
        calls.append(Call("set_com_ports", {"Id": machine_id, "ComPorts": _all_com_ports(new)}))
    if _boot_order_changes(groups, storage_calls, running):
        calls.append(Call("set_boot_order", {"Id": machine_id,
                                             "BootOrder": [d.value for d in new.boot_order]}))
    return calls


def _boot_order_changes(groups: set[str], storage_calls: list[Call], running: bool) -> bool:
    """Set the boot order when it changed or drives came or went; never for a media swap and
    never while the machine runs (Set-VMFirmware/Set-VMBios need it off; review H1)."""
    if running:
        return False
    drives_changed = any(c.args.get("Remove") or c.args.get("AddDisks")
                         or c.args.get("AddDvdDrives") for c in storage_calls)
    return "boot_order" in groups or drives_changed


def _all_com_ports(spec: MachineSpec) -> list[dict[str, Any]]:
    ports = {p["Number"]: p for p in _com_ports(spec, folder_name(spec.name))}
    return [ports.get(number, {"Number": number, "Path": ""}) for number in (1, 2)]


def _storage(machine_id: str, old: MachineSpec, new: MachineSpec, gen: int,
             unique: Callable[[], str]) -> list[Call]:
    before = {s.address: s for s in slots(old, gen)}
    after = {s.address: s for s in slots(new, gen)}
    remove, add_disks, add_dvds, media = [], [], [], []
    folder = folder_name(new.name)
    for address, slot in before.items():
        other = after.get(address)
        if other is None or other.kind != slot.kind or (
                slot.disk is not None and other.disk is not None
                and (slot.disk.path != other.disk.path
                     or (slot.disk.existing and not other.disk.existing))):
            remove.append({"Kind": slot.kind, "ControllerType": address[0],
                           "ControllerNumber": address[1], "ControllerLocation": address[2]})
    removed = {(r["ControllerType"], r["ControllerNumber"], r["ControllerLocation"])
               for r in remove}
    for address, slot in sorted(after.items()):
        if address in before and address not in removed:
            if slot.dvd is not None and before[address].dvd is not None \
                    and slot.dvd.iso != before[address].dvd.iso:  # type: ignore[union-attr]
                media.append({"ControllerNumber": address[1], "ControllerLocation": address[2],
                              "Path": slot.dvd.iso})
            continue
        if slot.disk is not None:
            add_disks.append(_disk_args(slot, f"{folder}-{unique()}.{slot.disk.format.value}"))
        else:
            add_dvds.append(_dvd_args(slot))
    if not (remove or add_disks or add_dvds or media):
        return []
    return [Call("update_storage", {"Id": machine_id, "Remove": remove, "AddDisks": add_disks,
                                    "AddDvdDrives": add_dvds, "Media": media}, timeout=SLOW)]


def _network(machine_id: str, old: MachineSpec, new: MachineSpec,
             default_switch: str) -> list[Call]:
    adapters = []
    for index in range(max(len(old.network), len(new.network))):
        if index >= len(new.network):
            adapters.append({"Index": index, "Action": "remove", "SwitchName": "",
                             "MacAddress": ""})
            continue
        wanted = _adapter_args(new.network[index], default_switch)
        if index >= len(old.network):
            adapters.append({"Index": index, "Action": "add", **wanted})
            continue
        before = old.network[index]
        after = new.network[index]
        if before == after:
            continue
        same_card = before.mac == after.mac and before.model == after.model
        adapters.append({"Index": index, "Action": "connect" if same_card else "set", **wanted})
    if not adapters:
        return []
    return [Call("update_network", {"Id": machine_id, "Adapters": adapters})]
