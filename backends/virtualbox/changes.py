"""Update by diff: the VBoxManage calls for exactly the groups an edit changed.

modifyvm needs the machine powered off (its man page: "change settings for a virtual machine
that is stopped"), so a change to a running machine is refused with InvalidState, except what
VirtualBox can change live: the ISO in an existing DVD drive (storageattach takes a shared
lock) and where an existing adapter is plugged (`controlvm nicN`). A machine in saved state
can still be renamed and described.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.virtualbox.plans import (
    Step,
    Target,
    adapter_options,
    attach_optical_step,
    boot_options,
    controller_name,
    firmware_options,
    nested_options,
    os_marker_step,
    port_forward_options,
    secure_boot_steps,
    serial_options,
    storage_diff,
    usb_options,
)
from backends.virtualbox.translate import MAX_ADAPTERS
from desktopvm.model import (
    Firmware,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    changed_groups,
)
from desktopvm.protocol import InvalidState, PowerState

OFFLINE = {PowerState.OFF, PowerState.ABORTED}
SAVED_CHANGEABLE = {"name", "notes"}
STAGE = "Applying changes"


@dataclass(frozen=True)
class Change:
    """The plan for an edit and the groups it touches."""

    steps: list[Step]
    groups: set[str]


def _live_optical_only(old: MachineSpec, new: MachineSpec) -> bool:
    """Only ISOs of existing drives differ (same controllers, disks and drive slots)."""
    if len(old.storage) != len(new.storage):
        return False
    for before, after in zip(old.storage, new.storage, strict=True):
        same_shape = (before.name, before.kind, before.disks) == (after.name, after.kind,
                                                                   after.disks)
        slots = [(o.port, o.device) for o in before.optical]
        if not same_shape or slots != [(o.port, o.device) for o in after.optical]:
            return False
    return True


def _live_network_only(old: MachineSpec, new: MachineSpec) -> bool:
    """Only where existing adapters are plugged differs (not models, MACs or forwards)."""
    if len(old.network) != len(new.network):
        return False
    return all((a.model, a.mac, a.port_forwards) == (b.model, b.mac, b.port_forwards)
               and b.attachment is not NetworkAttachment.NONE
               for a, b in zip(old.network, new.network, strict=True))


def _refuse(name: str, groups: set[str], state: PowerState, allowed: str) -> InvalidState:
    listed = ", ".join(sorted(groups))
    return InvalidState(f"Shut down {name} to change {listed}; while it is {state.value} "
                        f"VirtualBox can change only {allowed}")


def check_state(old: MachineSpec, new: MachineSpec, state: PowerState) -> set[str]:
    """The changed groups, or InvalidState when the machine's state does not allow them."""
    groups = changed_groups(old, new)
    if state in OFFLINE or not groups:
        return groups
    if state is PowerState.SAVED:
        if groups - SAVED_CHANGEABLE:
            raise _refuse(old.name, groups - SAVED_CHANGEABLE, state, "its name and notes "
                          "(discard the saved state to change more)")
        return groups
    live = set()
    if "storage" in groups and _live_optical_only(old, new):
        live.add("storage")
    if "network" in groups and _live_network_only(old, new):
        live.add("network")
    if groups - live:
        raise _refuse(old.name, groups - live, state, "the ISO in a DVD drive and where a "
                      "network adapter is plugged")
    return groups


def _live_steps(old: MachineSpec, new: MachineSpec, groups: set[str],
                target: Target) -> list[Step]:
    """storageattach for changed ISOs, `controlvm nicN` for re-plugged adapters."""
    steps = []
    if "storage" in groups:
        for before, after in zip(old.storage, new.storage, strict=True):
            for was, now in zip(before.optical, after.optical, strict=True):
                if was.iso != now.iso:
                    steps.append(attach_optical_step(target.uuid, controller_name(after),
                                                     now.port, now.device, now.iso))
    if "network" in groups:
        for number, (was_nic, now_nic) in enumerate(zip(old.network, new.network, strict=True),
                                                    start=1):
            if (was_nic.attachment, was_nic.network) != (now_nic.attachment, now_nic.network):
                steps.append(Step(("controlvm", target.uuid, *live_nic_argv(number, now_nic,
                                                                            target)), STAGE))
    return steps


def live_nic_argv(number: int, adapter: NetworkAdapter, target: Target) -> tuple[str, ...]:
    """`nicN <type> [<network>]` for controlvm, from the same choices modifyvm gets."""
    options = adapter_options(number, adapter, target)
    kind = options[0].split("=", 1)[1]
    if kind in ("nat", "null"):
        return (f"nic{number}", kind)
    return (f"nic{number}", kind, options[1].split("=", 1)[1])


def _network_options(old: MachineSpec, new: MachineSpec, target: Target) -> list[str]:
    """Every adapter slot that differs, rewritten; slots no longer used switched off."""
    dialect = target.dialect
    options: list[str] = []
    for number in range(1, min(MAX_ADAPTERS, max(len(old.network), len(new.network))) + 1):
        before = old.network[number - 1] if number <= len(old.network) else None
        after = new.network[number - 1] if number <= len(new.network) else None
        if before == after:
            continue
        options += adapter_options(number, after, target)
        if before is not None and _plain_nat(before) and before.port_forwards:
            options += port_forward_options(number, before, None, dialect)
        if after is not None and _plain_nat(after):
            options += port_forward_options(number, None, after, dialect)
    return options


def _plain_nat(adapter: NetworkAdapter) -> bool:
    return adapter.attachment is NetworkAttachment.NAT and not adapter.network


def _serial_options(old: MachineSpec, new: MachineSpec, target: Target) -> list[str]:
    before = {p.number: p for p in old.serial}
    after = {p.number: p for p in new.serial}
    options: list[str] = []
    for number in sorted(before.keys() | after.keys()):
        if before.get(number) != after.get(number):
            options += serial_options(number, after.get(number), target)
    return options


def _modifyvm_options(old: MachineSpec, new: MachineSpec, groups: set[str],
                      target: Target) -> list[str]:
    """The modifyvm options of the changed groups, in one call."""
    dialect = target.dialect
    writers: dict[str, list[str]] = {
        "name": [f"--name={new.name}"],
        "notes": [f"--description={new.notes}"],
        "cpu": [f"--cpus={new.cpu.count}",
                *nested_options(new.cpu.nested_virtualization, target)],
        "memory": [f"--memory={new.memory.size_mib}"],
        "display": [f"--vram={new.display.video_memory_mib}",
                    f"{dialect.option('monitor_count')}={new.display.monitors}"],
    }
    options: list[str] = []
    for group in ("name", "notes", "cpu", "memory", "display"):
        if group in groups:
            options += writers[group]
    if "usb" in groups:
        options += usb_options(new.usb, dialect)
    if "boot_order" in groups:
        options += boot_options(new)
    if "firmware" in groups:
        options += firmware_options(new.firmware, dialect)
    if "network" in groups:
        options += _network_options(old, new, target)
    if "serial" in groups:
        options += _serial_options(old, new, target)
    return options


def update_plan(old: MachineSpec, new: MachineSpec, state: PowerState, target: Target, *,
                disk_index: int = 0, os_type: str = "") -> tuple[Change, MachineSpec]:
    """The steps that turn `old` into `new` (only changed groups), and the resulting spec.

    `os_type` is VirtualBox's type id for `new.os` (the backend chooses it from `list
    ostypes`); a changed OS sets it, not only our extra-data marker, so VirtualBox itself
    (its GUI, its defaults) sees the new OS too.
    """
    groups = check_state(old, new, state)
    if not groups:
        return Change([], groups), new
    if state not in OFFLINE and state is not PowerState.SAVED:
        return Change(_live_steps(old, new, groups, target), groups), new
    steps: list[Step] = []
    options = _modifyvm_options(old, new, groups, target)
    if "os" in groups and os_type:
        options.append(f"{target.dialect.option('ostype')}={os_type}")
    if options:
        steps.append(Step(("modifyvm", target.uuid, *options), STAGE))
    if "os" in groups:
        steps.append(os_marker_step(target.uuid, new.os))
    result = new
    if "storage" in groups:
        storage, controllers = storage_diff(old.storage, new.storage, target,
                                            first_disk_index=disk_index)
        steps += storage
        result = new.model_copy(update={"storage": controllers})
    if "firmware" in groups:
        secure_before = old.firmware.secure_boot and old.firmware.kind is Firmware.UEFI
        secure_after = new.firmware.secure_boot and new.firmware.kind is Firmware.UEFI
        if secure_before != secure_after:
            steps += secure_boot_steps(target.uuid, secure_after, target.dialect)
    return Change(steps, groups), result
