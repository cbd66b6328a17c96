"""What the VMware backend can do on this host, per product (Workstation, Fusion, Player)."""

from __future__ import annotations

import ctypes
import os
import platform
import re
import socket
import sys
from pathlib import Path

from backends.vmware.keys import KEYS
from backends.vmware.locate import Installation
from desktopvm.model import (
    Capabilities,
    ControllerKind,
    DiskFormat,
    Firmware,
    LiveChange,
    NetworkAttachment,
    NicModel,
    SerialMode,
)
from desktopvm.protocol import HostInfo, HostNetwork

MAX_VCPUS = 32  # Workstation 17's limit per machine [unverified: product documentation]
TPM_REASON = ("VMware needs a machine encrypted with Workstation's own key store before it "
              "adds a virtual TPM (vtpm.present with vmx.encryptionType = \"partial\" since "
              "17.5): add the TPM in VMware's VM Settings")
#: Hardware versions by product version (hw 22 for 25H2: research §A.1; the older pairs are
#: VMware's published compatibility table [unverified here]).
HARDWARE_VERSIONS = ((25, 22), (17, 21), (16, 19), (15, 16), (14, 14), (12, 12))
DEFAULT_HARDWARE = 19


def hardware_version(product_version: str) -> int:
    """The virtualHW.version a new machine gets for a product version ("17.6.2" -> 21)."""
    try:
        major = int(product_version.split(".", maxsplit=1)[0])
    except ValueError:
        return DEFAULT_HARDWARE
    if major >= 100:  # a Fusion/Workstation build shown as a year-based version ("25H2")
        major = 25
    for at_least, hw in HARDWARE_VERSIONS:
        if major >= at_least:
            return hw
    return 9


def host_memory_mib() -> int:
    """Physical memory of this host."""
    if sys.platform == "win32":
        class Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong),
                        ("total", ctypes.c_ulonglong), ("avail", ctypes.c_ulonglong),
                        ("page_total", ctypes.c_ulonglong), ("page_avail", ctypes.c_ulonglong),
                        ("virtual_total", ctypes.c_ulonglong),
                        ("virtual_avail", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]
        status = Status()
        status.length = ctypes.sizeof(Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.total // 2**20)
        return 4096
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def capabilities(installation: Installation) -> Capabilities:
    """The choices the UI offers for VMware machines here."""
    cpus = os.cpu_count() or 1
    player = installation.product == "player"
    socket_mode = SerialMode.PIPE if installation.windows else SerialMode.SOCKET
    return Capabilities(
        backend="vmware",
        firmware=frozenset({Firmware.BIOS, Firmware.UEFI}),
        secure_boot=True, tpm=False, tpm_unavailable_reason=TPM_REASON,
        nested_virtualization=True,
        max_cpus=min(cpus, MAX_VCPUS), min_memory_mib=4,
        max_memory_mib=host_memory_mib(),
        disk_formats=frozenset({DiskFormat.VMDK}),
        controller_kinds=frozenset({ControllerKind.SCSI, ControllerKind.SATA,
                                    ControllerKind.NVME, ControllerKind.IDE}),
        # libvirt's mapping comment: scsi 0-15 (7 reserved), sata 0-29, nvme 0-14, ide 0-1:0-1
        ports_per_controller={ControllerKind.SCSI: 16, ControllerKind.SATA: 30,
                              ControllerKind.NVME: 15, ControllerKind.IDE: 2},
        devices_per_port={ControllerKind.IDE: 2},
        max_disk_bytes=8192 * 2**30,  # vdiskmanager: ide/scsi [1MB, 8192.0GB]
        network_attachments=frozenset({NetworkAttachment.NAT, NetworkAttachment.BRIDGED,
                                       NetworkAttachment.HOST_ONLY, NetworkAttachment.SWITCH,
                                       NetworkAttachment.NONE}),
        nic_models=frozenset({NicModel.E1000, NicModel.E1000E, NicModel.VMXNET3,
                              NicModel.PCNET}),
        max_network_adapters=10,  # ethernet0-9
        usb=True,
        serial_modes=frozenset({socket_mode, SerialMode.FILE, SerialMode.TCP,
                                SerialMode.DISCONNECTED}),
        max_serial_ports=4,
        # Player: vmrun's snapshot and clone commands are Workstation/Fusion only (VIX:
        # "not supported when using the VIX_SERVICEPROVIDER_VMWARE_PLAYER host type").
        live_snapshot_with_memory=not player,
        linked_clone=not player,
        # A running machine: temporary snapshot, copy its frozen disks, delete it (backup.py);
        # Player has no snapshots. vmrun offers no changed-block tracking: full copies only.
        backup_running=not player,
        backup_incremental=False,
        pause=True, save_state=True,
        # Over Workstation's VNC server (console.py): vmrun's captureScreen and
        # typeKeystrokesInGuest need a guest login and VMware Tools (research §A.4).
        screenshot=True, type_text=True, keys=frozenset(KEYS),
        # Workstation's VNC server: turned on at each start for DesktopVM's own machines,
        # offered for others when their .vmx turns it on (console.py)
        vnc_console=True,
        serial_console=True,
        export_formats=frozenset({"ova", "ovf"}),
        # Nothing is written to a .vmx VMware has open (vmx.require_unlocked).
        live_changes=frozenset[LiveChange](),
        max_name_length=255,
    )


DEFAULT_NETWORKS = (HostNetwork("nat", "vmnet8", "VMware's NAT network"),
                    HostNetwork("host-only", "vmnet1", "VMware's host-only network"))
BRIDGED = HostNetwork("bridged", "vmnet0", "bridged to the host's network")
_ANSWER = re.compile(r"^answer\s+VNET_(\d+)_(\w+)\s+(.*?)\s*$")


def networks_from(text: str) -> tuple[HostNetwork, ...]:
    """The vmnets of Linux's /etc/vmware/networking (`answer VNET_<n>_NAT yes`,
    `…_HOSTONLY_SUBNET`; research §A.9, fixture from Packer's testdata)."""
    nets: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        match = _ANSWER.match(line.strip())
        if match:
            nets.setdefault(int(match.group(1)), {})[match.group(2)] = match.group(3)
    found = []
    for number, answers in sorted(nets.items()):
        subnet = answers.get("HOSTONLY_SUBNET", "")
        nat = answers.get("NAT", "").lower() == "yes"
        found.append(HostNetwork("nat" if nat else "host-only", f"vmnet{number}",
                                 f"{'NAT' if nat else 'host-only'} network {subnet}".strip()))
    return tuple(found)


def host_info(networking: Path = Path("/etc/vmware/networking")) -> HostInfo:
    """This host and its vmnets: from /etc/vmware/networking on Linux, else netmap.conf's
    defaults (Bridged -> vmnet0, HostOnly -> vmnet1, NAT -> vmnet8; research §A.9)."""
    try:
        networks = networks_from(networking.read_text("utf-8", "replace")) or DEFAULT_NETWORKS
    except OSError:
        networks = DEFAULT_NETWORKS
    return HostInfo(hostname=socket.gethostname(), cpus=os.cpu_count() or 1,
                    memory_mib=host_memory_mib(), os=platform.system(),
                    networks=(*networks, BRIDGED))
