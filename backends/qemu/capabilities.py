"""What QEMU can do on this host: capabilities and host facts (CPUs, memory)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from backends.qemu.firmware import Firmware as FirmwareBuild
from backends.qemu.keys import SENDABLE
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
)
from desktopvm.protocol import HostInfo, HostNetwork

QEMU_MAX_CPUS = 255  # q35's limit without an IOMMU
BRIDGE_CONF = Path("/etc/qemu/bridge.conf")


def host_memory_mib() -> int:
    """Physical memory of this host."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
        return int(pages * page_size // 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def allowed_bridges() -> list[str]:
    """Bridges qemu-bridge-helper may use (`allow NAME` lines in /etc/qemu/bridge.conf)."""
    try:
        lines = BRIDGE_CONF.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [parts[1] for parts in (line.split() for line in lines)
            if len(parts) == 2 and parts[0] == "allow" and parts[1] != "all"]


def capabilities(uefi: FirmwareBuild | None, secure: FirmwareBuild | None,
                 tpm_available: bool, *, storage_daemon: bool = False) -> Capabilities:
    """The QEMU backend's capabilities on this host.

    Running machines are backed up by their own QEMU (blockdev-backup); incremental backups
    of machines that are off need qemu-storage-daemon to keep the points (dirty bitmaps).
    """
    firmware = {Firmware.BIOS} | ({Firmware.UEFI} if uefi or secure else set())
    attachments = {NetworkAttachment.NAT, NetworkAttachment.NONE}
    if allowed_bridges():
        attachments.add(NetworkAttachment.BRIDGED)
    return Capabilities(
        backend="QEMU",
        firmware=frozenset(firmware),
        secure_boot=secure is not None,
        secure_boot_templates=frozenset({SecureBootTemplate.MICROSOFT_WINDOWS,
                                         SecureBootTemplate.MICROSOFT_UEFI_CA})
        if secure else frozenset(),
        tpm=tpm_available,
        tpm_unavailable_reason="" if tpm_available else
        "swtpm is not installed (sudo apt-get install swtpm)",
        nested_virtualization=False,
        max_cpus=min(QEMU_MAX_CPUS, os.cpu_count() or 1),
        min_memory_mib=16,
        max_memory_mib=host_memory_mib(),
        disk_formats=frozenset({DiskFormat.QCOW2, DiskFormat.RAW, DiskFormat.VDI,
                                DiskFormat.VMDK, DiskFormat.VHDX, DiskFormat.VHD}),
        controller_kinds=frozenset(ControllerKind),
        ports_per_controller={ControllerKind.IDE: 2, ControllerKind.SATA: 6,
                              ControllerKind.SCSI: 256, ControllerKind.NVME: 32,
                              ControllerKind.VIRTIO: 32},
        devices_per_port={ControllerKind.IDE: 2},
        network_attachments=frozenset(attachments),
        nic_models=frozenset({NicModel.VIRTIO, NicModel.E1000, NicModel.E1000E,
                              NicModel.RTL8139, NicModel.PCNET, NicModel.VMXNET3}),
        max_network_adapters=8,
        max_monitors=1,
        max_video_memory_mib=256,
        usb=True,
        serial_modes=frozenset({SerialMode.SOCKET, SerialMode.FILE, SerialMode.DISCONNECTED}),
        max_serial_ports=4,
        live_snapshot_with_memory=True,
        linked_clone=True,
        backup_running=True,
        backup_incremental=storage_daemon,
        screenshot=True,
        type_text=True,
        keys=SENDABLE,
        vnc_console=True,
        serial_console=True,
        export_formats=frozenset({"ova"}),
        live_changes=frozenset({LiveChange.NAME, LiveChange.NOTES, LiveChange.OPTICAL_MEDIA}),
        name_forbidden_characters="",
        max_name_length=200,
    )


def host_info() -> HostInfo:
    """This host's CPUs, memory, and the networks adapters can use."""
    networks = [HostNetwork("nat", "User-mode NAT", "QEMU's built-in NAT (no setup needed)")]
    networks += [HostNetwork("bridged", name, "bridge allowed in /etc/qemu/bridge.conf")
                 for name in allowed_bridges()]
    return HostInfo(hostname=socket.gethostname(), cpus=os.cpu_count() or 1,
                    memory_mib=host_memory_mib(), os=os.uname().sysname if hasattr(os, "uname")
                    else "Windows", networks=tuple(networks))
