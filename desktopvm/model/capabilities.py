"""`Capabilities`: what one backend on one host can do; the UI offers choices from it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from desktopvm.model.base import Value
from desktopvm.model.devices import ControllerKind, DiskFormat, NetworkAttachment, NicModel
from desktopvm.model.machine import BootDevice, Firmware, SecureBootTemplate, SerialMode, UsbVersion


class LiveChange(StrEnum):
    """Fields of a spec that a backend can change while the VM runs."""

    NAME = "name"
    NOTES = "notes"
    OPTICAL_MEDIA = "optical"  # insert/eject an ISO
    NETWORK_ATTACHMENT = "network"  # re-plug an adapter to another network
    MEMORY_DYNAMIC = "memory.dynamic"
    MEMORY_SIZE = "memory.size_mib"
    CPU_COUNT = "cpu.count"


class Capabilities(Value):
    """What a backend (on its host) supports. Bounds already include the host's limits."""

    backend: str
    firmware: frozenset[Firmware] = frozenset({Firmware.BIOS})
    secure_boot: bool = False
    secure_boot_templates: frozenset[SecureBootTemplate] = frozenset()
    tpm: bool = False
    tpm_unavailable_reason: str = ""
    nested_virtualization: bool = False
    min_cpus: int = 1
    max_cpus: int = 1
    min_memory_mib: int = 4
    max_memory_mib: int = 1024
    dynamic_memory: bool = False
    disk_formats: frozenset[DiskFormat] = frozenset()
    controller_kinds: frozenset[ControllerKind] = frozenset()
    bios_only_controllers: frozenset[ControllerKind] = frozenset()  # e.g. IDE on Hyper-V Gen 2
    ports_per_controller: dict[ControllerKind, int] = Field(default_factory=dict)
    devices_per_port: dict[ControllerKind, int] = Field(default_factory=dict)
    max_disk_bytes: int = 2**44  # 16 TiB
    network_attachments: frozenset[NetworkAttachment] = frozenset()
    nic_models: frozenset[NicModel] = frozenset()
    max_network_adapters: int = 8
    max_monitors: int = 1
    max_video_memory_mib: int = 256
    usb: bool = False
    # Which USB controllers (VirtualBox 6.1 has 2.0/3.0 only with its Extension Pack).
    usb_versions: frozenset[UsbVersion] = frozenset(UsbVersion)
    usb_versions_reason: str = ""  # why a version is missing, in the user's words
    serial_modes: frozenset[SerialMode] = frozenset()
    max_serial_ports: int = 0
    boot_devices: frozenset[BootDevice] = frozenset(BootDevice)
    live_snapshot_with_memory: bool = False
    linked_clone: bool = False
    pause: bool = True
    save_state: bool = True
    screenshot: bool = False
    type_text: bool = False
    # The keys send_keys can send, by their names in desktopvm.protocol.keys (empty: none).
    keys: frozenset[str] = frozenset()
    vnc_console: bool = False
    serial_console: bool = False
    export_formats: frozenset[str] = frozenset()
    # Backups (desktopvm/backup): of a running machine without stopping it, and of only the
    # blocks changed since the previous backup. Off machines can always be backed up.
    backup_running: bool = False
    backup_incremental: bool = False
    live_changes: frozenset[LiveChange] = frozenset({LiveChange.NOTES})
    name_forbidden_characters: str = ""
    max_name_length: int = 255


def generic_capabilities() -> Capabilities:
    """Capabilities that allow everything the model can say: for checks that need no backend."""
    return Capabilities(
        backend="any backend",
        firmware=frozenset(Firmware),
        secure_boot=True,
        secure_boot_templates=frozenset(SecureBootTemplate),
        tpm=True,
        nested_virtualization=True,
        max_cpus=1024,
        max_memory_mib=64 * 1024 * 1024,
        dynamic_memory=True,
        disk_formats=frozenset(DiskFormat),
        controller_kinds=frozenset(ControllerKind),
        devices_per_port={ControllerKind.IDE: 2},
        max_disk_bytes=2**50,
        network_attachments=frozenset(NetworkAttachment),
        nic_models=frozenset(NicModel),
        max_network_adapters=64,
        max_monitors=64,
        max_video_memory_mib=1 << 20,
        usb=True,
        serial_modes=frozenset(SerialMode),
        max_serial_ports=4,
        live_snapshot_with_memory=True,
        linked_clone=True,
    )
