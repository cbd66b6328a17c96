"""What an ESXi host or vCenter can do, from the facts read at connection (its
EnvironmentBrowser's limits and hardware version among them), and its licence."""

from __future__ import annotations

from backends.esxi.keys import SENDABLE
from backends.esxi.placement import Facts
from backends.esxi.session import Session
from desktopvm.model import Capabilities
from desktopvm.model.capabilities import LiveChange
from desktopvm.model.devices import ControllerKind, DiskFormat, NetworkAttachment, NicModel
from desktopvm.model.machine import BootDevice, Firmware

#: Editions of the free vSphere Hypervisor licence: every write call is refused with
#: RestrictedVersion [unverified on a real free host: the key is from public reports].
FREE_EDITIONS = ("esxBasic",)


def read_only(session: Session) -> bool:
    """Whether the host's licence allows reading only (LicenseManager.licenses editions)."""

    manager = session.run(lambda si: session.content(si).licenseManager, "Reading the licence")
    if manager is None:
        return False
    found = session.properties(manager, ["licenses"]).get("licenses") or ()
    return any(str(info.editionKey or "").startswith(FREE_EDITIONS) for info in found)


#: The most virtual CPUs a machine of each hardware version may have, and the version the
#: SATA and NVMe controllers came with ("Hardware Features Available with Virtual Machine
#: Compatibility Settings", vSphere Virtual Machine Administration 6.5/6.7/7.0): used when the
#: host's ConfigOption gives no hardwareOptions.numCPU.
CPUS_BY_HARDWARE = ((18, 768), (15, 256), (11, 128), (10, 64), (8, 32), (7, 8), (0, 4))
SATA_SINCE, NVME_SINCE = 10, 13


def limits(facts: Facts) -> tuple[int, int]:
    """(CPUs, memory MiB) a machine may have here: what the host has, within what its
    EnvironmentBrowser says a new machine may have (hardwareOptions; else the table above by
    its hardware version; else 768 CPUs, the most any version allows)."""
    environment = facts.environment
    if environment.max_cpus:
        cpus = environment.max_cpus
    elif environment.hardware:
        cpus = next(n for since, n in CPUS_BY_HARDWARE if environment.hardware >= since)
    else:
        cpus = 768
    memory = facts.memory_mib
    if environment.max_memory_mib:
        memory = min(memory, environment.max_memory_mib) if memory else environment.max_memory_mib
    return max(1, min(facts.cpus, cpus)), max(4, memory)


def controller_kinds(facts: Facts) -> frozenset[ControllerKind]:
    """IDE and SCSI always; SATA and NVMe when the host's hardware version has them (all of
    them when the version is unknown)."""
    hardware = facts.environment.hardware
    kinds = {ControllerKind.IDE, ControllerKind.SCSI}
    if not hardware or hardware >= SATA_SINCE:
        kinds.add(ControllerKind.SATA)
    if not hardware or hardware >= NVME_SINCE:
        kinds.add(ControllerKind.NVME)
    return frozenset(kinds)


def capabilities(facts: Facts, backend: str) -> Capabilities:
    """Capabilities of this host (vCenter: of its first compute resource)."""
    max_cpus, max_memory_mib = limits(facts)
    return Capabilities(
        backend=backend,
        firmware=frozenset({Firmware.BIOS, Firmware.UEFI}),
        secure_boot=True,
        tpm=False,
        tpm_unavailable_reason="A virtual TPM needs vCenter with a key provider; DesktopVM "
                               "does not add one yet",
        nested_virtualization=True,
        max_cpus=max_cpus,
        max_memory_mib=max_memory_mib,
        disk_formats=frozenset({DiskFormat.VMDK}),
        controller_kinds=controller_kinds(facts),
        ports_per_controller={ControllerKind.IDE: 2, ControllerKind.SATA: 30,
                              ControllerKind.SCSI: 15, ControllerKind.NVME: 15},
        devices_per_port={ControllerKind.IDE: 1},
        max_disk_bytes=62 * 2**40,
        network_attachments=frozenset({NetworkAttachment.SWITCH, NetworkAttachment.NONE}),
        nic_models=frozenset({NicModel.VMXNET3, NicModel.E1000E, NicModel.E1000}),
        max_network_adapters=10,
        max_monitors=10,
        max_video_memory_mib=256,
        usb=True,
        boot_devices=frozenset(BootDevice),
        live_snapshot_with_memory=True,
        linked_clone=facts.vcenter,
        pause=False,
        save_state=True,
        screenshot=True,
        type_text=True,
        keys=SENDABLE,
        vnc_console=True,  # WebMKS: RFB over a ticket's WebSocket (console.endpoints' opener)
        export_formats=frozenset({"ova", "ovf"}),
        # Running machines through a temporary snapshot; no changed-block tracking yet
        # (backends/esxi/backup.py).
        backup_running=True,
        backup_incremental=False,
        live_changes=frozenset({LiveChange.NAME, LiveChange.NOTES, LiveChange.OPTICAL_MEDIA,
                                LiveChange.NETWORK_ATTACHMENT}),
        name_forbidden_characters="%/\\",
        max_name_length=80,
    )
