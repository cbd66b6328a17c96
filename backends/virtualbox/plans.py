"""MachineSpec -> VBoxManage argv plans: createvm, modifyvm, storagectl, createmedium, ...

A plan is a list of `Step`s (an argv without the VBoxManage executable, plus a stage text for
progress). Plans are pure: they take the dialect of the installed version, the machine's UUID
and folder, and return argument lists, so tests compare them with golden data per version.
Options are passed as `--option=value`, which RTGetOpt accepts on every supported version and
which keeps values beginning with `-` from being read as options; except storagectl's `--name`,
which real VBoxManage needs as two arguments (see `name_option`).
"""

from __future__ import annotations

import ntpath
import posixpath
from dataclasses import dataclass

from backends.virtualbox.settingsfile import OS_KEY, SECURE_BOOT_KEY
from backends.virtualbox.translate import (
    BOOT_NAMES,
    COM_PORTS,
    CONTROLLER_ADD,
    MAX_ADAPTERS,
    NIC_TYPES,
)
from backends.virtualbox.versions import Dialect
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
)
from desktopvm.protocol import UnsupportedOperation

FORMAT_NAMES = {DiskFormat.VDI: "VDI", DiskFormat.VMDK: "VMDK", DiskFormat.VHD: "VHD"}
SOCKET_PATH_LIMIT = 100
MIB = 1024 * 1024


@dataclass(frozen=True)
class Step:
    """One VBoxManage call of a plan."""

    argv: tuple[str, ...]
    stage: str
    long: bool = False  # may take minutes: long timeout, progress reported
    creates: str = ""  # a file this step creates (removed again if the operation fails)


@dataclass(frozen=True)
class Host:
    """What plans need to know about the host (not the VirtualBox version)."""

    windows: bool = False
    macos: bool = False
    arm: bool = False
    runtime_dir: str = ""  # private per-user folder for sockets ($XDG_RUNTIME_DIR), if any

    def join(self, folder: str, name: str) -> str:
        """A path in a folder, in the host's own syntax."""
        return ntpath.join(folder, name) if self.windows else posixpath.join(folder, name)


@dataclass(frozen=True)
class Target:
    """The machine a plan is for: its UUID and folder, the VirtualBox dialect, the host."""

    uuid: str
    folder: str
    dialect: Dialect
    host: Host = Host()

    def file(self, name: str) -> str:
        """A file in the machine's folder."""
        return self.host.join(self.folder, name)


def on_off(value: bool) -> str:
    """VBoxManage's booleans."""
    return "on" if value else "off"


def create_vm(spec: MachineSpec, uuid: str, os_type: str, dialect: Dialect, host: Host) -> Step:
    """`createvm --register` with our own UUID (so cleanup knows what to remove)."""
    argv = ["createvm", f"--name={spec.name}", f"--ostype={os_type}", f"--uuid={uuid}",
            "--register"]
    if dialect.platform_architecture:
        argv.append(f"--platform-architecture={'arm' if host.arm else 'x86'}")
    return Step(tuple(argv), "Registering the machine")


def nested_options(nested: bool, target: Target) -> list[str]:
    """The nested-virtualization option, which exists for x86 machines only (review V4).

    On an ARM host (7.1+ makes ARM machines there) VBoxManage applies `--x86-*` options to
    the machine's x86 platform object, which an ARM machine lacks.
    """
    if target.host.arm and target.dialect.platform_architecture:
        return []
    return [f"{target.dialect.nested_virtualization_option()}={on_off(nested)}"]


def graphics_controller(os_family: str) -> str:
    """VirtualBox's recommendation: VBoxSVGA for Windows guests, VMSVGA for the others."""
    return "vboxsvga" if os_family == "windows" else "vmsvga"


def firmware_options(firmware: FirmwareSpec, dialect: Dialect) -> list[str]:
    """--firmware and, on 7.0+, --tpm-type."""
    options = [f"--firmware={'efi' if firmware.kind is Firmware.UEFI else 'bios'}"]
    if dialect.tpm:
        options.append(f"--tpm-type={'2.0' if firmware.tpm else 'none'}")
    elif firmware.tpm:
        raise UnsupportedOperation(f"VirtualBox {dialect.name} has no TPM; TPM 2.0 needs "
                                   "VirtualBox 7.0 or later")
    return options


def boot_options(spec: MachineSpec) -> list[str]:
    """--boot1..4 (unused positions set to none)."""
    names = [BOOT_NAMES[d] for d in spec.boot_order][:4]
    names += ["none"] * (4 - len(names))
    return [f"--boot{i}={name}" for i, name in enumerate(names, start=1)]


def usb_options(usb: UsbSpec, dialect: Dialect) -> list[str]:
    """The USB controllers and the pointing device."""
    version = usb.version
    return [
        f"{dialect.option('usb_ohci')}={on_off(version in (UsbVersion.USB1, UsbVersion.USB2))}",
        f"{dialect.option('usb_ehci')}={on_off(version is UsbVersion.USB2)}",
        f"{dialect.option('usb_xhci')}={on_off(version is UsbVersion.USB3)}",
        f"--mouse={'usbtablet' if usb.tablet and version is not None else 'ps2'}",
    ]


def adapter_options(number: int, adapter: NetworkAdapter | None, target: Target) -> list[str]:
    """modifyvm options for NIC `number` (None switches the slot off)."""
    if adapter is None:
        return [f"--nic{number}=none"]
    dialect, host = target.dialect, target.host
    attachment, network = adapter.attachment, adapter.network
    if attachment is NetworkAttachment.NAT and network:
        options = [f"--nic{number}=natnetwork",
                   f"{dialect.option('nat_network', number)}={network}"]
    elif attachment is NetworkAttachment.NAT:
        options = [f"--nic{number}=nat"]
    elif attachment is NetworkAttachment.BRIDGED:
        options = [f"--nic{number}=bridged", f"{dialect.option('bridge', number)}={network}"]
    elif attachment is NetworkAttachment.INTERNAL:
        options = [f"--nic{number}=intnet", f"--intnet{number}={network}"]
    elif attachment is NetworkAttachment.HOST_ONLY and host.macos and dialect.host_only_networks:
        options = [f"--nic{number}=hostonlynet", f"--host-only-net{number}={network}"]
    elif attachment is NetworkAttachment.HOST_ONLY:
        options = [f"--nic{number}=hostonly",
                   f"{dialect.option('host_only_adapter', number)}={network}"]
    elif attachment is NetworkAttachment.NONE:
        options = [f"--nic{number}=null"]
    else:
        raise UnsupportedOperation(f"VirtualBox cannot attach an adapter to "
                                   f"'{attachment.value}'")
    if adapter.model is not None:
        if adapter.model not in NIC_TYPES:
            raise UnsupportedOperation(f"VirtualBox has no {adapter.model.value} adapter")
        options.append(f"{dialect.option('nic_type', number)}={NIC_TYPES[adapter.model]}")
    mac = adapter.mac.replace(":", "") if adapter.mac else "auto"
    options.append(f"{dialect.option('mac', number)}={mac}")
    options.append(f"{dialect.option('cable', number)}=on")
    return options


def port_forward_options(number: int, old: NetworkAdapter | None, new: NetworkAdapter | None,
                         dialect: Dialect) -> list[str]:
    """Remove the old rules of NAT adapter `number` and add the new ones."""
    option = dialect.option("nat_pf", number)
    options: list[str] = []
    for rule in old.port_forwards if old else ():
        options += [option, "delete", rule.name]
    for index, rule in enumerate(new.port_forwards if new else (), start=1):
        name = rule.name or f"rule{index}"
        options.append(f"{option}={name},{rule.protocol.value},{rule.host_ip},"
                       f"{rule.host_port},{rule.guest_ip},{rule.guest_port}")
    return options


def serial_options(number: int, port: SerialPort | None, target: Target) -> list[str]:
    """--uartN and --uart-modeN for COM`number` (None switches it off)."""
    if port is None:
        return [f"--uart{number}", "off"]
    address, irq = COM_PORTS[number]
    options = [f"--uart{number}", address, irq, target.dialect.option("uart_mode", number)]
    path = port.path
    if port.mode in (SerialMode.SOCKET, SerialMode.PIPE):
        return [*options, "server", path or default_serial_path(number, target)]
    if port.mode is SerialMode.FILE:
        return [*options, "file", path or target.file(f"com{number}.log")]
    if port.mode is SerialMode.TCP:
        if not path.isdigit():
            raise UnsupportedOperation("A TCP serial port needs the port number as its path")
        return [*options, "tcpserver", path]
    return [*options, "disconnected"]


def default_serial_path(number: int, target: Target) -> str:
    """Where COM`number`'s socket (POSIX) or named pipe (Windows) goes when none is given.

    A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS); a machine
    folder deep in a home directory may not, so the runtime folder takes over then.
    """
    if target.host.windows:
        return f"\\\\.\\pipe\\desktopvm-{target.uuid}-com{number}"
    path = target.file(f"com{number}.sock")
    if len(path.encode()) > SOCKET_PATH_LIMIT and target.host.runtime_dir:
        name = f"desktopvm-{target.uuid}-com{number}.sock"
        path = target.host.join(target.host.runtime_dir, name)
    return path


def modify_all(spec: MachineSpec, os_family: str, target: Target) -> Step:
    """One modifyvm with every setting of a new machine (one process instead of many)."""
    dialect = target.dialect
    argv = ["modifyvm", target.uuid, f"--memory={spec.memory.size_mib}", f"--cpus={spec.cpu.count}",
            f"--vram={spec.display.video_memory_mib}",
            f"{dialect.option('monitor_count')}={spec.display.monitors}",
            f"--graphicscontroller={graphics_controller(os_family)}",
            *firmware_options(spec.firmware, dialect),
            *nested_options(spec.cpu.nested_virtualization, target),
            *boot_options(spec), *usb_options(spec.usb, dialect)]
    if spec.notes:
        argv.append(f"--description={spec.notes}")
    for number in range(1, MAX_ADAPTERS + 1):
        adapter = spec.network[number - 1] if number <= len(spec.network) else None
        # None switches the slot off: createvm enables adapter 1 (NAT) on its own (real 7.2).
        argv += adapter_options(number, adapter, target)
        if adapter is not None:
            argv += port_forward_options(number, None, adapter, dialect)
    ports = {p.number: p for p in spec.serial}
    for number in sorted(ports):
        argv += serial_options(number, ports[number], target)
    return Step(tuple(argv), "Configuring the hardware")


def secure_boot_steps(uuid: str, enable: bool, dialect: Dialect) -> list[Step]:
    """Enrol Microsoft's KEK/db (Windows and the UEFI CA for Linux shims) and Oracle's PK.

    7.0 has no `secureboot --enable/--disable`: Secure Boot is on once a PK is enrolled, and
    re-initialising the variable store drops the keys (so it is off).
    """
    if not dialect.secure_boot:
        if enable:
            raise UnsupportedOperation(f"VirtualBox {dialect.name} has no Secure Boot; it needs "
                                       "VirtualBox 7.0 or later")
        return []
    stage = "Setting up Secure Boot"
    if not enable:
        if dialect.secure_boot_switch:
            steps = [Step(("modifynvram", uuid, "secureboot", "--disable"), stage)]
        else:
            steps = [Step(("modifynvram", uuid, "inituefivarstore"), stage)]
        return [*steps, Step(("setextradata", uuid, SECURE_BOOT_KEY, "off"), stage)]
    steps = [Step(("modifynvram", uuid, "inituefivarstore"), stage),
             Step(("modifynvram", uuid, "enrollmssignatures"), stage),
             Step(("modifynvram", uuid, "enrollorclpk"), stage)]
    if dialect.secure_boot_switch:
        steps.append(Step(("modifynvram", uuid, "secureboot", "--enable"), stage))
    return [*steps, Step(("setextradata", uuid, SECURE_BOOT_KEY, "on"), stage)]


def os_marker_step(uuid: str, os_id: str) -> Step:
    """Remember the catalog OS (several catalog entries share one VirtualBox type)."""
    return Step(("setextradata", uuid, OS_KEY, os_id), "Configuring the hardware")


def controller_step(uuid: str, controller: StorageController) -> Step:
    """storagectl --add for one controller (enough ports for what it carries)."""
    bus, chip = CONTROLLER_ADD[controller.kind]
    argv = ["storagectl", uuid, *name_option(controller_name(controller)), f"--add={bus}",
            f"--controller={chip}"]
    # Port counts start at SATA 30, NVMe 1, virtio-scsi 1 and are fixed for IDE (2) and SCSI
    # (16) (StorageController.cpp), so the buses that can grow get what they carry.
    if controller.kind in (ControllerKind.SATA, ControllerKind.NVME, ControllerKind.VIRTIO):
        used = [d.port for d in controller.disks] + [o.port for o in controller.optical]
        argv.append(f"--portcount={max(used, default=0) + 1}")
    argv.append("--bootable=on")
    return Step(tuple(argv), "Adding storage controllers")


def name_option(name: str) -> tuple[str, str]:
    """storagectl's `--name X` as two arguments: real 7.2 counts arguments before parsing and
    refuses `storagectl <vm> --name=X --remove` ("Too few parameters"); the value after
    `--name` is taken as the name even when it starts with `-`."""
    return ("--name", name)


def controller_name(controller: StorageController) -> str:
    """The controller's name, or a default from its bus ('SATA')."""
    return controller.name or controller.kind.value.upper()


def disk_file(index: int, disk: Disk, target: Target) -> str:
    """Where a new disk without a path goes: `<machine folder>/disk<N>.<ext>`."""
    return target.file(f"disk{index}.{disk.format.extension}")


def create_disk_step(path: str, disk_format: DiskFormat, size_bytes: int) -> Step:
    """createmedium (dynamically allocated), size in bytes rounded up to whole MiB."""
    if disk_format not in FORMAT_NAMES:
        raise UnsupportedOperation(f"VirtualBox cannot create {disk_format.value.upper()} disks")
    size_mib = max(1, -(-size_bytes // MIB))
    return Step(("createmedium", "disk", f"--filename={path}", f"--size={size_mib}",
                 f"--format={FORMAT_NAMES[disk_format]}"), "Creating disks", long=True,
                creates=path)


def attach_disk_step(uuid: str, controller: str, disk: Disk, path: str) -> Step:
    """storageattach a hard disk."""
    return Step(("storageattach", uuid, f"--storagectl={controller}", f"--port={disk.port}",
                 f"--device={disk.device}", "--type=hdd", f"--medium={path}"), "Attaching disks")


def attach_optical_step(uuid: str, controller: str, port: int, device: int, iso: str) -> Step:
    """storageattach a DVD drive with an ISO, or empty."""
    return Step(("storageattach", uuid, f"--storagectl={controller}", f"--port={port}",
                 f"--device={device}", "--type=dvddrive", f"--medium={iso or 'emptydrive'}"),
                "Attaching disks")


def detach_step(uuid: str, controller: str, port: int, device: int) -> Step:
    """Remove whatever is attached at a slot."""
    return Step(("storageattach", uuid, f"--storagectl={controller}", f"--port={port}",
                 f"--device={device}", "--medium=none"), "Detaching disks")


def _slots(controller: StorageController | None) -> dict[tuple[int, int], tuple[str, str]]:
    """What sits where: (port, device) -> ('hdd'|'dvd', path or ISO)."""
    if controller is None:
        return {}
    slots = {(d.port, d.device): ("hdd", d.path if d.existing else "") for d in controller.disks}
    return slots | {(o.port, o.device): ("dvd", o.iso) for o in controller.optical}


def storage_diff(old: tuple[StorageController, ...], new: tuple[StorageController, ...],
                 target: Target, *,
                 first_disk_index: int = 0) -> tuple[list[Step], tuple[StorageController, ...]]:
    """Steps turning storage `old` into `new` (`old` empty for a new machine), and `new` as
    the machine will report it: new disks get their paths and `existing` true.

    Controllers that went or changed bus are removed (VirtualBox detaches their media); slots
    whose content changed are detached and attached again; new disks are created first.
    """
    uuid = target.uuid
    before = {controller_name(c): c for c in old}
    steps: list[Step] = []
    for name, controller in before.items():
        if all(controller_name(c) != name or c.kind is not controller.kind for c in new):
            steps.append(Step(("storagectl", uuid, *name_option(name), "--remove"),
                              "Removing storage controllers"))
    made = []
    index = first_disk_index
    for controller in new:
        name = controller_name(controller)
        previous = before.get(name)
        if previous is not None and previous.kind is not controller.kind:
            previous = None
        old_slots, new_slots = _slots(previous), _slots(controller)
        add = controller_step(uuid, controller)
        if previous is None:
            steps.append(add)
        else:
            steps += [detach_step(uuid, name, *slot) for slot, content in old_slots.items()
                      if new_slots.get(slot) != content]
            ports = [a for a in add.argv if a.startswith("--portcount=")]
            if ports and old_slots != new_slots:
                steps.append(Step(("storagectl", uuid, *name_option(name), *ports),
                                  "Adding storage controllers"))
        disks = []
        for disk in controller.disks:
            path = disk.path
            if not disk.existing:
                path = path or disk_file(index, disk, target)
                index += 1
                steps.append(create_disk_step(path, disk.format, disk.size_bytes))
            if old_slots.get((disk.port, disk.device)) != ("hdd", path) or not disk.existing:
                steps.append(attach_disk_step(uuid, name, disk, path))
            disks.append(disk.model_copy(update={"path": path, "existing": True}))
        for drive in controller.optical:
            if old_slots.get((drive.port, drive.device)) != ("dvd", drive.iso):
                steps.append(attach_optical_step(uuid, name, drive.port, drive.device, drive.iso))
        made.append(controller.model_copy(update={"name": name, "disks": tuple(disks)}))
    return steps, tuple(made)


def create_plan(spec: MachineSpec, os_family: str, target: Target, *,
                first_disk_index: int = 0) -> tuple[list[Step], MachineSpec]:
    """Everything after createvm for a new machine; returns the plan and the final spec.

    `first_disk_index` skips disk file names already taken in the folder (a machine of the
    same name deleted earlier may have left its disks there).
    """
    steps = [modify_all(spec, os_family, target)]
    storage, controllers = storage_diff((), spec.storage, target,
                                        first_disk_index=first_disk_index)
    steps += storage
    final = spec.model_copy(update={"storage": controllers})
    if spec.firmware.secure_boot and spec.firmware.kind is Firmware.UEFI:
        steps += secure_boot_steps(target.uuid, True, target.dialect)
    steps.append(os_marker_step(target.uuid, spec.os))
    return steps, final
