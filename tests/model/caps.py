"""Capabilities used by model tests: a plausible type-2 hypervisor on a 8-CPU, 16 GiB host."""

from desktopvm.model import (
    Capabilities,
    ControllerKind,
    DiskFormat,
    Firmware,
    NetworkAttachment,
    NicModel,
    SecureBootTemplate,
    SerialMode,
)

TEST_CAPS = Capabilities(
    backend="TestVisor",
    firmware=frozenset({Firmware.BIOS, Firmware.UEFI}),
    secure_boot=True,
    secure_boot_templates=frozenset({SecureBootTemplate.MICROSOFT_WINDOWS,
                                     SecureBootTemplate.MICROSOFT_UEFI_CA}),
    tpm=True,
    max_cpus=8,
    max_memory_mib=16384,
    disk_formats=frozenset({DiskFormat.QCOW2, DiskFormat.RAW, DiskFormat.VMDK}),
    controller_kinds=frozenset({ControllerKind.IDE, ControllerKind.SATA, ControllerKind.NVME,
                                ControllerKind.VIRTIO}),
    ports_per_controller={ControllerKind.IDE: 2, ControllerKind.SATA: 6, ControllerKind.NVME: 4,
                          ControllerKind.VIRTIO: 16},
    devices_per_port={ControllerKind.IDE: 2},
    network_attachments=frozenset({NetworkAttachment.NAT, NetworkAttachment.BRIDGED,
                                   NetworkAttachment.NONE}),
    nic_models=frozenset({NicModel.E1000, NicModel.VIRTIO}),
    max_monitors=1,
    max_video_memory_mib=256,
    usb=True,
    serial_modes=frozenset({SerialMode.SOCKET, SerialMode.DISCONNECTED}),
    max_serial_ports=2,
    name_forbidden_characters="/\\",
)

BIOS_ONLY = TEST_CAPS.model_copy(update={
    "firmware": frozenset({Firmware.BIOS}), "secure_boot": False, "tpm": False,
    "tpm_unavailable_reason": "swtpm is not installed",
})
