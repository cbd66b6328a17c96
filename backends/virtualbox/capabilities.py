"""What VirtualBox can do on this host: capabilities per version, host facts and networks."""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from backends.virtualbox.keys import SENDABLE
from backends.virtualbox.parse import first_number, parse_blocks, parse_pairs
from backends.virtualbox.plans import Host
from backends.virtualbox.versions import Dialect
from desktopvm.model import (
    Capabilities,
    ControllerKind,
    DiskFormat,
    Firmware,
    LiveChange,
    NetworkAttachment,
    NicModel,
    SecureBootTemplate,
    SerialMode,
    UsbVersion,
)
from desktopvm.protocol import HostInfo, HostNetwork


@dataclass(frozen=True)
class HostFacts:
    """`list hostinfo` and `list systemproperties`, the parts capabilities need."""

    cpus: int = 1
    memory_mib: int = 1024
    os: str = ""
    nested_virtualization: bool = False
    max_guest_cpus: int = 64
    min_guest_memory_mib: int = 4
    max_guest_memory_mib: int = 2097152
    max_video_memory_mib: int = 256
    max_monitors: int = 64
    default_machine_folder: str = ""
    extension_pack: bool = True  # the Oracle Extension Pack is installed and usable

    @classmethod
    def from_outputs(cls, hostinfo: str, systemproperties: str,
                     extpacks: str | None = None) -> HostFacts:
        """Parse both outputs (missing lines keep the defaults above)."""
        host = parse_pairs(hostinfo)
        system = parse_pairs(systemproperties)

        def number(pairs: dict[str, str], key: str, default: int) -> int:
            return first_number(pairs.get(key, ""), default)

        # Without its kernel driver VirtualBox counts 0 processors (real 7.2 on Linux);
        # VBoxManage runs on this computer, so its own count stands in.
        cpus = number(host, "Processor online count", number(host, "Processor count", 1))
        return cls(
            cpus=cpus if cpus > 0 else max(1, os.cpu_count() or 1),
            memory_mib=max(4, number(host, "Memory size", 1024)),
            os=host.get("Operating system", ""),
            nested_virtualization=host.get("Processor supports nested HW virtualization",
                                           "").lower() == "yes",
            max_guest_cpus=number(system, "Maximum guest CPU count", 64),
            min_guest_memory_mib=number(system, "Minimum guest RAM size", 4),
            max_guest_memory_mib=number(system, "Maximum guest RAM size", 2097152),
            max_video_memory_mib=number(system, "Maximum video RAM size", 256),
            max_monitors=number(system, "Maximum guest monitor count", 64),
            default_machine_folder=system.get("Default machine folder", ""),
            extension_pack=True if extpacks is None else oracle_pack_usable(extpacks),
        )


#: The Oracle pack's name: "Oracle VM VirtualBox Extension Pack" up to 7.0, "Oracle VirtualBox
#: Extension Pack" from 7.1 (the product was renamed).
ORACLE_PACK = ("Oracle VM VirtualBox Extension Pack", "Oracle VirtualBox Extension Pack")
EXTPACK_MISSING = ("VirtualBox 6.1 has USB 2.0/3.0 and NVMe only with the Oracle VM VirtualBox "
                   "Extension Pack, which is not installed (or not usable) here: install the "
                   "pack of the same version from virtualbox.org, or use USB 1.1 and SATA.")


def extension_packs(output: str) -> list[dict[str, str]]:
    """`list extpacks`: one dict per pack (VBoxManageList.cpp listExtensionPacks).

    The format: "Extension Packs: N", then per pack "Pack no. 0:   NAME" followed by
    "Version:", "Revision:", "Edition:", "Description:", "VRDE Module:", "Usable:" and
    "Why unusable:" lines (7.x adds "Crypto Module:"), packs separated by an empty line.
    """
    packs: list[dict[str, str]] = []
    for line in output.replace("\r\n", "\n").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if key.startswith("Pack no."):
            packs.append({"Name": value.strip()})
        elif packs:
            packs[-1][key.strip()] = value.strip()
    return packs


def oracle_pack_usable(output: str) -> bool:
    """Whether Oracle's pack is installed and VirtualBox says it is usable."""
    return any(pack.get("Name") in ORACLE_PACK and pack.get("Usable", "").lower() == "true"
               for pack in extension_packs(output))


def this_host() -> Host:
    """The host the backend runs on, as plans need it."""
    machine = platform.machine().lower()
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return Host(windows=sys.platform == "win32", macos=sys.platform == "darwin",
                arm=machine in ("arm64", "aarch64"),
                runtime_dir=runtime if runtime and Path(runtime).is_dir() else "")


def serial_modes(host: Host) -> frozenset[SerialMode]:
    """A server pipe is a Unix socket on Linux/macOS and a named pipe on Windows."""
    local = SerialMode.PIPE if host.windows else SerialMode.SOCKET
    return frozenset({local, SerialMode.FILE, SerialMode.DISCONNECTED})


def capabilities(dialect: Dialect, facts: HostFacts, host: Host) -> Capabilities:
    """VirtualBox `dialect`'s capabilities on this host."""
    # 6.1 without the pack: OHCI only, no NVMe controller (7.0+ have both built in).
    limited = not dialect.usb2_nvme_builtin and not facts.extension_pack
    no_tpm = "" if dialect.tpm else (f"VirtualBox {dialect.name} has no virtual TPM; TPM 2.0 "
                                     "needs VirtualBox 7.0 or later")
    return Capabilities(
        backend=f"VirtualBox {dialect.name}",
        firmware=frozenset({Firmware.BIOS, Firmware.UEFI}),
        secure_boot=dialect.secure_boot,
        # enrollmssignatures enrols Microsoft's KEK and db: the Windows PCA and the UEFI CA.
        secure_boot_templates=frozenset({SecureBootTemplate.MICROSOFT_WINDOWS,
                                         SecureBootTemplate.MICROSOFT_UEFI_CA})
        if dialect.secure_boot else frozenset(),
        tpm=dialect.tpm,
        tpm_unavailable_reason=no_tpm,
        nested_virtualization=facts.nested_virtualization,
        min_cpus=1,
        max_cpus=max(1, min(facts.max_guest_cpus, facts.cpus)),
        min_memory_mib=max(4, facts.min_guest_memory_mib),
        max_memory_mib=min(facts.max_guest_memory_mib, facts.memory_mib),
        dynamic_memory=False,
        disk_formats=frozenset({DiskFormat.VDI, DiskFormat.VMDK, DiskFormat.VHD}),
        controller_kinds=frozenset(ControllerKind) - ({ControllerKind.NVME} if limited
                                                      else set()),
        ports_per_controller={ControllerKind.IDE: 2, ControllerKind.SATA: 30,
                              ControllerKind.SCSI: 16, ControllerKind.NVME: 255,
                              ControllerKind.VIRTIO: 256},
        devices_per_port={ControllerKind.IDE: 2},
        max_disk_bytes=2 * 1024**4,  # VDI's limit as list systemproperties reports it (2 TiB)
        network_attachments=frozenset({NetworkAttachment.NAT, NetworkAttachment.BRIDGED,
                                       NetworkAttachment.INTERNAL, NetworkAttachment.HOST_ONLY,
                                       NetworkAttachment.NONE}),
        nic_models=frozenset({NicModel.E1000, NicModel.PCNET, NicModel.VIRTIO}),
        max_network_adapters=8,
        max_monitors=max(1, facts.max_monitors),
        max_video_memory_mib=facts.max_video_memory_mib,
        usb=True,
        usb_versions=frozenset({UsbVersion.USB1}) if limited else frozenset(UsbVersion),
        usb_versions_reason=EXTPACK_MISSING if limited else "",
        serial_modes=serial_modes(host),
        max_serial_ports=4,
        live_snapshot_with_memory=True,
        linked_clone=True,
        screenshot=True,
        type_text=True,
        keys=SENDABLE,
        vnc_console=False,
        serial_console=True,
        export_formats=frozenset({"ova", "ovf"}),
        # A running machine: temporary snapshot, copy, delete it (backup.py). No changed-block
        # tracking in VirtualBox, so no incremental backups.
        backup_running=True,
        backup_incremental=False,
        live_changes=frozenset({LiveChange.OPTICAL_MEDIA, LiveChange.NETWORK_ATTACHMENT}),
        name_forbidden_characters="",
        max_name_length=255,
    )


def networks_from(bridged: str, host_only: str, host_only_networks: str, nat_networks: str,
                  internal: str) -> tuple[HostNetwork, ...]:
    """What adapters can attach to, from the `list` outputs (any of them may be empty)."""
    networks = [HostNetwork(NetworkAttachment.NAT.value, "", "VirtualBox's built-in NAT")]
    networks += [HostNetwork(NetworkAttachment.NAT.value, b.get("NetworkName", ""),
                             f"NAT network {b.get('Network', b.get('IP', ''))}".strip())
                 for b in parse_blocks(nat_networks) if b.get("NetworkName")]
    networks += [HostNetwork(NetworkAttachment.BRIDGED.value, b["Name"],
                             f"{b.get('MediumType', '')} {b.get('IPAddress', '')} "
                             f"{b.get('Status', '')}".strip())
                 for b in parse_blocks(bridged) if b.get("Name")]
    networks += [HostNetwork(NetworkAttachment.HOST_ONLY.value, b["Name"],
                             f"host-only interface {b.get('IPAddress', '')}".strip())
                 for b in parse_blocks(host_only) if b.get("Name")]
    networks += [HostNetwork(NetworkAttachment.HOST_ONLY.value, b["Name"],
                             f"host-only network {b.get('LowerIP', '')}-{b.get('UpperIP', '')}")
                 for b in parse_blocks(host_only_networks) if b.get("Name")]
    networks += [HostNetwork(NetworkAttachment.INTERNAL.value, b["Name"], "internal network")
                 for b in parse_blocks(internal) if b.get("Name")]
    return tuple(networks)


def host_info(facts: HostFacts, networks: tuple[HostNetwork, ...]) -> HostInfo:
    """This host as the protocol describes it."""
    return HostInfo(hostname=socket.gethostname(), cpus=facts.cpus, memory_mib=facts.memory_mib,
                    os=facts.os or platform.system(), networks=networks)
