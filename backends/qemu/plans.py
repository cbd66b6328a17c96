"""Builds the `qemu-system-x86_64` argument list for a spec: pure, no files, no processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backends.qemu.firmware import Firmware as FirmwareBuild
from backends.qemu.layout import RunFiles
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    MachineSpec,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    SerialMode,
    UsbVersion,
)

NIC_DEVICES = {
    NicModel.VIRTIO: "virtio-net-pci",
    NicModel.E1000: "e1000",
    NicModel.E1000E: "e1000e",
    NicModel.RTL8139: "rtl8139",
    NicModel.PCNET: "pcnet",
    NicModel.VMXNET3: "vmxnet3",
}
QEMU_FORMATS = {DiskFormat.VHD: "vpc"}
BRIDGE_HELPER = "/usr/lib/qemu/qemu-bridge-helper"


def opt(value: str) -> str:
    """Escape a value inside a QEMU option list (a comma is written as two)."""
    return value.replace(",", ",,")


@dataclass(frozen=True)
class LaunchPlan:
    """Everything besides the spec that decides the command line."""

    binary: str
    accel: str
    machine_type: str  # "q35" or "pc"
    run: RunFiles
    nvram: Path | None = None
    uefi: FirmwareBuild | None = None
    tpm: bool = False
    incoming: str = ""  # "defer" to restore a saved state
    loadvm: str = ""  # internal snapshot tag to start from
    vnc_password: bool = False
    log: Path | None = None  # where QEMU writes its messages (-D), also once daemonized
    extra: tuple[str, ...] = field(default=())


class _Boot:
    """Hands out bootindex values in the spec's boot order."""

    def __init__(self, order: tuple[BootDevice, ...]) -> None:
        self._base = {device: 100 * (rank + 1) for rank, device in enumerate(order)}
        self._used: dict[BootDevice, int] = {}

    def index(self, device: BootDevice) -> str:
        if device not in self._base:
            return ""
        self._used[device] = self._used.get(device, 0) + 1
        return f",bootindex={self._base[device] + self._used[device]}"


def build_argv(spec: MachineSpec, plan: LaunchPlan) -> list[str]:
    """The whole command line, starting with the binary."""
    machine = plan.machine_type
    secure = spec.firmware.kind is Firmware.UEFI and spec.firmware.secure_boot
    if secure:
        machine = "q35"  # Secure Boot needs SMM, which QEMU offers on q35 only
    machine_options = f"{machine},accel={plan.accel}" + (",smm=on" if secure else "")
    argv = [
        plan.binary,
        "-name", f"guest={opt(spec.name)},debug-threads=on",
        "-uuid", spec.id,
        "-machine", machine_options,
        "-cpu", "max" if plan.accel == "tcg" else "host",
        "-smp", str(spec.cpu.count),
        "-m", f"{spec.memory.size_mib}M",
        "-nodefaults",
        "-no-user-config",
        "-display", "none",
        "-qmp", f"unix:{opt(str(plan.run.qmp))},server=on,wait=off",
        "-vnc", f"unix:{opt(str(plan.run.vnc))}" + (",password=on" if plan.vnc_password else ""),
        "-pidfile", str(plan.run.pid),
        "-daemonize",
        *_log(plan.log),
        "-device", "VGA,id=video0,vgamem_mb=" + str(_vga_memory(spec.display.video_memory_mib)),
    ]
    if spec.firmware.kind is Firmware.UEFI and plan.uefi is not None and plan.nvram is not None:
        if secure:
            argv += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
        argv += [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={opt(str(plan.uefi.code))}",
            # The variable store is qcow2 so that savevm can snapshot it with the disks.
            "-drive", f"if=pflash,format=qcow2,unit=1,file={opt(str(plan.nvram))}",
        ]
    if plan.tpm:
        argv += [
            "-chardev", f"socket,id=chrtpm,path={opt(str(plan.run.swtpm_socket))}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", ("tpm-crb" if spec.firmware.kind is Firmware.UEFI else "tpm-tis")
            + ",tpmdev=tpm0",
        ]
    boot = _Boot(spec.boot_order)
    argv += _storage(spec, machine, boot)
    argv += _network(spec, boot)
    argv += _usb(spec)
    argv += _serial(spec, plan.run)
    if plan.incoming:
        argv += ["-incoming", plan.incoming]
    if plan.loadvm:
        argv += ["-loadvm", plan.loadvm]
    argv += list(plan.extra)
    return argv


def _log(log: Path | None) -> list[str]:
    """`-D`: a daemonized QEMU sends stderr there instead of to /dev/null (timestamped).

    QEMU reads a `%` in that path as a template and refuses to start, so such a path (a
    library folder with a `%` in its name) gets no log rather than no machine.
    """
    if log is None or "%" in str(log):
        return []
    return ["-D", str(log), "-msg", "timestamp=on"]


def _vga_memory(mib: int) -> int:
    """std VGA takes a power of two between 1 and 256 MiB."""
    size = 1
    while size < min(max(mib, 1), 256):
        size *= 2
    return size


def _drive(drive_id: str, disk: Disk) -> list[str]:
    fmt = QEMU_FORMATS.get(disk.format, disk.format.value)
    return ["-drive", f"if=none,id={drive_id},file={opt(disk.path)},format={fmt},"
            "cache=writeback,discard=unmap"]


def cdrom_id(controller: int, drive: int) -> str:
    """The block backend name of an optical drive (QMP names it to change the disc)."""
    return f"cd{controller}-{drive}"


def _cdrom(drive_id: str, optical: OpticalDrive) -> list[str]:
    # format=raw: never probed, so an "ISO" that is really a qcow2 with a backing file
    # cannot hand the guest another file of this computer.
    media = f",file={opt(optical.iso)},format=raw" if optical.iso else ""
    return ["-drive", f"if=none,id={drive_id},media=cdrom,readonly=on{media}"]


def _storage(spec: MachineSpec, machine: str, boot: _Boot) -> list[str]:
    argv: list[str] = []
    for ci, controller in enumerate(spec.storage):
        kind = controller.kind
        bus = f"ctl{ci}"
        if kind is ControllerKind.SATA:
            argv += ["-device", f"ahci,id={bus}"]
        elif kind is ControllerKind.SCSI:
            argv += ["-device", f"virtio-scsi-pci,id={bus}"]
        elif kind is ControllerKind.NVME:
            argv += ["-device", f"nvme,id={bus},serial=dvm{spec.id[:8]}{ci}"]
        for di, disk in enumerate(controller.disks):
            drive = f"disk{ci}-{di}"
            argv += _drive(drive, disk)
            argv += ["-device", _attach(kind, bus, drive, disk.port, disk.device, media="hd",
                                        machine=machine) + boot.index(BootDevice.DISK)]
        for oi, optical in enumerate(controller.optical):
            drive = cdrom_id(ci, oi)
            argv += _cdrom(drive, optical)
            argv += ["-device", _attach(kind, bus, drive, optical.port, optical.device,
                                        media="cd", machine=machine)
                     + boot.index(BootDevice.OPTICAL)]
    return argv


def _attach(kind: ControllerKind, bus: str, drive: str, port: int, device: int, *, media: str,
            machine: str) -> str:
    """The -device value that puts `drive` on a controller's port."""
    if kind is ControllerKind.IDE:
        # pc has PIIX IDE (2 buses x 2 units); q35's built-in AHCI exposes ide.0..ide.5.
        if machine == "pc":
            return f"ide-{media},drive={drive},bus=ide.{port},unit={device}"
        return f"ide-{media},drive={drive},bus=ide.{port * 2 + device}"
    if kind is ControllerKind.SATA:
        return f"ide-{media},drive={drive},bus={bus}.{port}"
    if kind is ControllerKind.SCSI:
        return f"scsi-{media},drive={drive},bus={bus}.0,scsi-id={port}"
    if kind is ControllerKind.NVME:
        return f"nvme-ns,drive={drive},bus={bus},nsid={port + 1}"
    return f"virtio-blk-pci,drive={drive}"


def _network(spec: MachineSpec, boot: _Boot) -> list[str]:
    argv: list[str] = []
    for index, nic in enumerate(spec.network):
        netdev = f"net{index}"
        if nic.attachment is NetworkAttachment.NAT:
            forwards = "".join(
                f",hostfwd={f.protocol.value}:{opt(f.host_ip)}:{f.host_port}-{opt(f.guest_ip)}:"
                f"{f.guest_port}"
                for f in nic.port_forwards)
            argv += ["-netdev", f"user,id={netdev}{forwards}"]
        elif nic.attachment is NetworkAttachment.BRIDGED:
            argv += ["-netdev", f"bridge,id={netdev},br={opt(nic.network)},"
                     f"helper={BRIDGE_HELPER}"]
        else:
            continue  # an adapter attached to nothing is not given to the guest
        device = NIC_DEVICES.get(nic.model or NicModel.E1000, "e1000")
        mac = f",mac={nic.mac}" if nic.mac else ""
        argv += ["-device", f"{device},netdev={netdev}{mac}" + boot.index(BootDevice.NETWORK)]
    return argv


def _usb(spec: MachineSpec) -> list[str]:
    version = spec.usb.version
    if version is None:
        return []
    # xHCI serves every device speed, so USB 2.0 and 3.0 both use it (EHCI would need
    # companion controllers for the 1.1 tablet).
    controller = "piix3-usb-uhci" if version is UsbVersion.USB1 else "qemu-xhci"
    argv = ["-device", f"{controller},id=usb"]
    if spec.usb.tablet:
        argv += ["-device", "usb-tablet,bus=usb.0"]
    return argv


def _serial(spec: MachineSpec, run: RunFiles) -> list[str]:
    argv: list[str] = []
    for port in sorted(spec.serial, key=lambda p: p.number):
        chardev = f"serial{port.number}"
        if port.mode is SerialMode.SOCKET:
            argv += ["-chardev", f"socket,id={chardev},path={opt(str(run.serial(port.number)))},"
                     "server=on,wait=off"]
        elif port.mode is SerialMode.FILE and port.path:
            argv += ["-chardev", f"file,id={chardev},path={opt(port.path)}"]
        else:
            argv += ["-chardev", f"null,id={chardev}"]
        argv += ["-device", f"isa-serial,chardev={chardev},index={port.number - 1}"]
    return argv
