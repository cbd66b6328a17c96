"""Reads what the scripts return, tolerating Windows PowerShell 5.1's JSON habits.

Our scripts project explicit fields with enums as strings, ISO dates and arrays, but replies
from older scripts, hand-run commands or PowerShell 5.1 quirks are accepted too: enums as
numbers, `/Date(ms)/` dates, a lone object instead of a one-item array, null for none.
"""

from __future__ import annotations

import ntpath
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from desktopvm.model import (
    BootDevice,
    DiskFormat,
    NetworkAttachment,
    SecureBootTemplate,
)
from desktopvm.protocol import DiskInfo, HostNetwork, MachineSummary, PowerState, Snapshot

MIB = 1024 * 1024
DEFAULT_SWITCH_ID = "c08cb7b8-9b3c-408e-8e30-5e16a3aeb444"  # the same on every Windows host

# Microsoft.HyperV.PowerShell.VMState numbers (5.1 writes enums as numbers); the *Critical
# states (32781-32792) mean the same state with its storage unreachable.
VM_STATE_NUMBERS = {1: "Other", 2: "Running", 3: "Off", 4: "Stopping", 6: "Saved", 9: "Paused",
                    10: "Starting", 11: "Reset", 32773: "Saving", 32776: "Pausing",
                    32777: "Resuming", 32779: "FastSaved", 32780: "FastSaving"}
CRITICAL_BASE = ["Running", "Off", "Stopping", "Saved", "Paused", "Starting", "Reset", "Saving",
                 "Pausing", "Resuming", "FastSaved", "FastSaving"]
VM_STATE_NUMBERS.update({32781 + i: f"{name}Critical" for i, name in enumerate(CRITICAL_BASE)})
POWER_STATES = {
    "Running": PowerState.RUNNING, "Off": PowerState.OFF, "Saved": PowerState.SAVED,
    "FastSaved": PowerState.SAVED, "Paused": PowerState.PAUSED, "Starting": PowerState.STARTING,
    "Resuming": PowerState.STARTING, "Reset": PowerState.STARTING,
    "Stopping": PowerState.STOPPING, "Saving": PowerState.STOPPING,
    "Pausing": PowerState.STOPPING, "FastSaving": PowerState.STOPPING,
}
CONTROLLER_TYPES = {0: "IDE", 1: "SCSI"}
SWITCH_TYPES = {0: "Private", 1: "Internal", 2: "External"}
TEMPLATES = {
    "MicrosoftWindows": SecureBootTemplate.MICROSOFT_WINDOWS,
    "MicrosoftUEFICertificateAuthority": SecureBootTemplate.MICROSOFT_UEFI_CA,
    "OpenSourceShieldedVM": SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM,
}
BOOT_DEVICES = {"disk": BootDevice.DISK, "optical": BootDevice.OPTICAL,
                "network": BootDevice.NETWORK}
MS_DATE = re.compile(r"^/?\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/?$")


def as_list(value: Any) -> list[Any]:
    """None -> [], a lone object -> [it], a list -> itself."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def enum_name(value: Any, numbers: dict[int, str]) -> str:
    """An enum as its name, whether it came as the name or as its number."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return numbers.get(value, str(value))
    return "" if value is None else str(value)


def power_state(value: Any) -> PowerState:
    """One PowerState for Hyper-V's VMState (name or number; *Critical as its base state)."""
    name = enum_name(value, VM_STATE_NUMBERS).removesuffix("Critical")
    return POWER_STATES.get(name, PowerState.UNKNOWN)


def iso_date(value: Any) -> str:
    """ISO 8601 (UTC) from an ISO string or PowerShell 5.1's `/Date(ms)/`; '' when unknown."""
    if not value:
        return ""
    text = str(value)
    match = MS_DATE.match(text)
    if match:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
        return moment.isoformat(timespec="seconds")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def as_int(value: Any) -> int:
    """An integer from a number or numeric text; 0 for anything else."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def summary(row: dict[str, Any], host: str, os_id: str = "", *,
            backend: str = "hyperv") -> MachineSummary:
    """One inventory row (`backend`: the connection id, 'hyperv@HOST' for a remote host)."""
    return MachineSummary(backend, str(row.get("Id", "")).lower(), str(row.get("Name", "")),
                          power_state(row.get("State")), host=host, os=os_id,
                          cpus=as_int(row.get("ProcessorCount")),
                          memory_mib=as_int(row.get("MemoryStartup")) // MIB)


def inventory(result: Any, host: str, os_ids: dict[str, str], *,
              backend: str = "hyperv") -> list[MachineSummary]:
    """All rows of a list_vms reply (or of a bare array of VMs)."""
    wrapped = isinstance(result, dict) and "VMs" in result
    rows = as_list(result["VMs"] if wrapped else result)
    machines = [summary(row, host, backend=backend) for row in rows if isinstance(row, dict)]
    return [MachineSummary(m.backend, m.id, m.name, m.state, m.host, os_ids.get(m.id, ""),
                           m.cpus, m.memory_mib) for m in machines]


def snapshot_tree(rows: Any) -> tuple[Snapshot, ...]:
    """Checkpoints as a tree by ParentCheckpointId (orphans become roots), oldest first."""
    items = [r for r in as_list(rows) if isinstance(r, dict)]
    ids = {str(r.get("Id", "")).lower() for r in items}
    children: dict[str, list[dict[str, Any]]] = {}
    for row in items:
        parent = str(row.get("ParentCheckpointId") or row.get("ParentSnapshotId") or "").lower()
        children.setdefault(parent if parent in ids else "", []).append(row)

    def build(parent: str) -> tuple[Snapshot, ...]:
        rows_here = sorted(children.get(parent, []), key=lambda r: iso_date(r.get("CreationTime")))
        return tuple(
            Snapshot(id=str(r.get("Id", "")).lower(), name=str(r.get("Name", "")),
                     description=str(r.get("Notes") or ""),
                     created=iso_date(r.get("CreationTime")),
                     has_memory=enum_name(r.get("State"), VM_STATE_NUMBERS) in
                     ("Running", "Paused", "Saved"),
                     children=build(str(r.get("Id", "")).lower()))
            for r in rows_here)

    return build("")


def disk_format(path: str, reported: Any = "") -> DiskFormat:
    """VHDX or VHD, from what Get-VHD said or else the file's extension (.avhdx is VHDX)."""
    name = str(reported).upper()
    if name in ("VHD", "VHDX"):
        return DiskFormat(name.lower())
    return DiskFormat.VHD if path.lower().endswith((".vhd", ".avhd")) else DiskFormat.VHDX


def disk_info(row: dict[str, Any]) -> DiskInfo:
    """A Get-VHD projection as DiskInfo."""
    path = str(row.get("Path", ""))
    keys = ("VhdType", "BlockSize", "LogicalSectorSize", "PhysicalSectorSize")
    details: dict[str, object] = {key: row.get(key) for key in keys if key in row}
    return DiskInfo(path=path, format=disk_format(path, row.get("VhdFormat")).value,
                    virtual_size=as_int(row.get("Size")), actual_size=as_int(row.get("FileSize")),
                    backing_file=str(row.get("ParentPath") or ""), details=details)


@dataclass(frozen=True)
class HostFacts:
    """What host_info said about the Hyper-V host."""

    computer: str = ""
    cpus: int = 1
    memory_mib: int = 1024
    vm_path: str = ""
    disk_path: str = ""
    os_version: str = ""
    switches: tuple[dict[str, str], ...] = ()
    tpm: bool = False
    nested: bool = False
    templates: frozenset[SecureBootTemplate] = field(default_factory=frozenset)

    @property
    def default_switch(self) -> str:
        """The (possibly localised) name of the Default Switch, '' when the host has none."""
        return next((s["Name"] for s in self.switches if s["Id"].lower() == DEFAULT_SWITCH_ID),
                    "")

    def networks(self) -> tuple[HostNetwork, ...]:
        """The switches as attachable networks (the Default Switch doubles as NAT)."""
        result = []
        for switch in self.switches:
            kind = switch["SwitchType"]
            description = f"{kind} switch"
            if switch.get("NetAdapterInterfaceDescription"):
                description += f" on {switch['NetAdapterInterfaceDescription']}"
            attachment = (NetworkAttachment.NAT if switch["Id"].lower() == DEFAULT_SWITCH_ID
                          else NetworkAttachment.SWITCH)
            result.append(HostNetwork(attachment.value, switch["Name"], description))
        return tuple(result)


#: Windows 10 1607 / Server 2016: the scripts use Set-VMFirmware -SecureBootTemplate, checkpoint
#: types and Remove-VMSavedState, none of which 2012 R2 / 8.1 have (review H5).
MIN_BUILD = 14393
#: Nested virtualization: Intel VT-x from Windows 10 / Server 2016, AMD from Windows 11 /
#: Server 2022 (build 20348) -- Microsoft's nested virtualization guide (review H6).
NESTED_INTEL_BUILD = 14393
NESTED_AMD_BUILD = 20348


def os_build(version: str) -> int:
    """'10.0.22631.0' -> 22631; 0 when unknown."""
    parts = version.split(".")
    return as_int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0


def nested_supported(row: dict[str, Any]) -> bool:
    """The parameter exists and this CPU vendor can nest on this Windows build."""
    if not row.get("NestedSupported"):
        return False
    build = os_build(str(row.get("OsVersion", "")))
    vendor = str(row.get("ProcessorManufacturer") or "")
    if vendor == "GenuineIntel":
        return build >= NESTED_INTEL_BUILD
    if vendor == "AuthenticAMD":
        return build >= NESTED_AMD_BUILD
    return False  # unknown vendor (or an older script that did not say): not offered


def host_facts(row: dict[str, Any]) -> HostFacts:
    """A host_info reply."""
    switches = tuple(
        {"Name": str(s.get("Name", "")), "Id": str(s.get("Id", "")),
         "SwitchType": enum_name(s.get("SwitchType"), SWITCH_TYPES),
         "NetAdapterInterfaceDescription": str(s.get("NetAdapterInterfaceDescription") or "")}
        for s in as_list(row.get("Switches")) if isinstance(s, dict))
    templates = frozenset(TEMPLATES[t] for t in as_list(row.get("SecureBootTemplates"))
                          if t in TEMPLATES)
    return HostFacts(computer=str(row.get("ComputerName", "")),
                     cpus=max(1, as_int(row.get("LogicalProcessorCount"))),
                     memory_mib=max(1, as_int(row.get("MemoryCapacity")) // MIB),
                     vm_path=str(row.get("VirtualMachinePath", "")),
                     disk_path=str(row.get("VirtualHardDiskPath", "")),
                     os_version=str(row.get("OsVersion", "")), switches=switches,
                     tpm=bool(row.get("TpmSupported")), nested=nested_supported(row),
                     templates=templates)


def base_name(path: str) -> str:
    """The file name of a host path, Windows or POSIX."""
    return ntpath.basename(path) or path
