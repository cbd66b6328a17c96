"""Hyper-V's capabilities on one host, from what host_info reported."""

from __future__ import annotations

from backends.hyperv.keys import SENDABLE
from backends.hyperv.parsers import HostFacts
from desktopvm.model import (
    BootDevice,
    Capabilities,
    ControllerKind,
    DiskFormat,
    Firmware,
    LiveChange,
    NetworkAttachment,
    NicModel,
    SerialMode,
)

MAX_PROCESSORS = 240  # Generation 2 on current hosts (Generation 1 stops at 64)
MAX_MEMORY_MIB = 12 * 1024 * 1024  # 12 TiB per VM (Generation 2)


def capabilities(facts: HostFacts, *, local: bool) -> Capabilities:
    """What this host's Hyper-V can do; bounds are cut to the host's own size."""
    attachments = {NetworkAttachment.SWITCH, NetworkAttachment.NONE}
    if facts.default_switch:
        attachments.add(NetworkAttachment.NAT)  # the Default Switch: NAT + DHCP from Windows
    return Capabilities(
        backend="Hyper-V",
        firmware=frozenset({Firmware.BIOS, Firmware.UEFI}),
        secure_boot=True,
        secure_boot_templates=facts.templates,
        tpm=facts.tpm,
        tpm_unavailable_reason="" if facts.tpm else "this Windows has no virtual TPM for "
        "Hyper-V (it needs Windows 10 1607 / Server 2016 or later)",
        nested_virtualization=facts.nested,
        min_cpus=1,
        max_cpus=max(1, min(facts.cpus, MAX_PROCESSORS)),
        min_memory_mib=32,
        max_memory_mib=max(32, min(facts.memory_mib, MAX_MEMORY_MIB)),
        dynamic_memory=True,
        disk_formats=frozenset({DiskFormat.VHDX, DiskFormat.VHD}),
        controller_kinds=frozenset({ControllerKind.IDE, ControllerKind.SCSI}),
        bios_only_controllers=frozenset({ControllerKind.IDE}),  # Generation 2 has SCSI only
        ports_per_controller={ControllerKind.IDE: 2, ControllerKind.SCSI: 64},
        devices_per_port={ControllerKind.IDE: 2, ControllerKind.SCSI: 1},
        max_disk_bytes=64 * 1024**4,  # VHDX; VHD stops at 2040 GiB
        network_attachments=frozenset(attachments),
        nic_models=frozenset({NicModel.SYNTHETIC}),
        max_network_adapters=8,
        max_monitors=1,
        max_video_memory_mib=1024,  # Hyper-V has no video memory setting; the value is ignored
        usb=False,
        serial_modes=frozenset({SerialMode.PIPE, SerialMode.DISCONNECTED}),
        max_serial_ports=2,
        boot_devices=frozenset(BootDevice),
        live_snapshot_with_memory=True,
        linked_clone=False,
        pause=True,
        save_state=True,
        screenshot=True,
        type_text=True,
        keys=SENDABLE,
        vnc_console=False,
        serial_console=local,
        export_formats=frozenset({"hyperv"}),
        # Export-VM copies a running VM (a production checkpoint); a remote host's export is
        # copied here through host_files.py. Changed-block tracking (RCT) is WMI-only: not
        # used yet.
        backup_running=True,
        backup_incremental=False,
        live_changes=frozenset({LiveChange.NAME, LiveChange.NOTES, LiveChange.OPTICAL_MEDIA,
                                LiveChange.NETWORK_ATTACHMENT}),
        name_forbidden_characters="",
        max_name_length=100,
    )
