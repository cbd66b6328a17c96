"""Reads one machine: `showvminfo --machinereadable` plus its `.vbox` facts -> spec, summary."""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace

from backends.virtualbox.disksize import image_capacity
from backends.virtualbox.parse import MachineReadable, parse_machine_readable, parse_snapshot_tree
from backends.virtualbox.settingsfile import SettingsFacts, read_settings_file
from backends.virtualbox.translate import OsTypes, power_state, spec_from
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.model import MachineSpec, OsCatalog
from desktopvm.protocol import MachineSummary, PowerState, Snapshot

INACCESSIBLE = "<inaccessible>"


def folder_of(path: str) -> str:
    """The folder of a file path in either syntax (Windows paths come from Windows hosts)."""
    return ntpath.dirname(path) if "\\" in path else posixpath.dirname(path)


@dataclass(frozen=True)
class MachineRecord:
    """Everything one showvminfo told us about a machine, already translated."""

    uuid: str
    info: MachineReadable
    facts: SettingsFacts
    spec: MachineSpec
    summary: MachineSummary
    snapshots: tuple[Snapshot, ...]
    current_snapshot: str

    @property
    def state(self) -> PowerState:
        """The machine's power state."""
        return self.summary.state

    @property
    def settings_file(self) -> str:
        """The `.vbox` file."""
        return self.info.get("CfgFile")

    @property
    def folder(self) -> str:
        """The machine's folder (where the .vbox file is)."""
        return folder_of(self.settings_file)

    @property
    def guest_additions_running(self) -> bool:
        """Whether Guest Additions report in (only then are guest properties worth a call)."""
        return self.info.integer("GuestAdditionsRunLevel") > 0


def with_settings_facts(snapshots: tuple[Snapshot, ...],
                        facts: SettingsFacts) -> tuple[Snapshot, ...]:
    """Snapshot times and saved-memory flags, which only the .vbox file has."""
    def enrich(snapshot: Snapshot) -> Snapshot:
        known = facts.snapshots.get(snapshot.id)
        children = tuple(enrich(c) for c in snapshot.children)
        if known is None:
            return replace(snapshot, children=children)
        return replace(snapshot, created=known.created, has_memory=known.has_memory,
                       children=children)
    return tuple(enrich(s) for s in snapshots)


def with_disk_sizes(spec: MachineSpec) -> MachineSpec:
    """The spec with each disk's capacity read from its image header (showvminfo has none)."""
    controllers = tuple(
        controller.model_copy(update={"disks": tuple(
            disk.model_copy(update={"size_bytes": image_capacity(disk.path)})
            if disk.path and not disk.size_bytes else disk for disk in controller.disks)})
        for controller in spec.storage)
    return spec.model_copy(update={"storage": controllers})


class MachineReader:
    """Turns showvminfo output into MachineRecords. One per backend."""

    def __init__(self, vbox: VBoxManage, os_types: Callable[[], OsTypes], os_catalog: OsCatalog,
                 backend_name: str = "virtualbox", host_name: str = "localhost") -> None:
        self.vbox = vbox
        self.os_types = os_types
        self.os_catalog = os_catalog
        self.backend_name = backend_name
        self.host_name = host_name

    def read(self, uuid: str) -> MachineRecord:
        """One showvminfo call (MachineNotFound if VirtualBox has no such machine)."""
        result = self.vbox.run(["showvminfo", uuid, "--machinereadable"])
        return self.record(uuid, parse_machine_readable(result.stdout))

    def record(self, uuid: str, info: MachineReadable) -> MachineRecord:
        """Translate parsed output (split out so tests and replay can feed text directly)."""
        uuid = (info.get("UUID") or uuid).lower()
        if info.get("name") == INACCESSIBLE:
            spec = MachineSpec(id=uuid, name=INACCESSIBLE)
            summary = MachineSummary(self.backend_name, uuid, INACCESSIBLE, PowerState.UNKNOWN,
                                     host=self.host_name)
            return MachineRecord(uuid, info, SettingsFacts(), spec, summary, (), "")
        facts = read_settings_file(info.get("CfgFile"))
        spec = with_disk_sizes(spec_from(info, facts, self.os_types(), self.os_catalog))
        summary = MachineSummary(self.backend_name, uuid, spec.name,
                                 power_state(info.get("VMState")), host=self.host_name,
                                 os=spec.os, cpus=spec.cpu.count,
                                 memory_mib=spec.memory.size_mib)
        roots, current = parse_snapshot_tree(info)
        return MachineRecord(uuid, info, facts, spec, summary,
                             with_settings_facts(roots, facts), current)
