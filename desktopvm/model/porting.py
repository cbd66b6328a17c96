"""`fit(spec, target)`: a machine's hardware mapped onto another hypervisor, each change with why.

Moving a machine between hypervisors keeps its disks' contents and its guest OS; everything
around them is re-made from the target's capabilities. `fit` is that mapping, pure (no I/O):
the spec the target can take, a report of every change in the user's words (shown before
anything happens), and `blockers` for the few things no change can fix (a disk larger than
the target allows). Rules, in the order a person would check them:

- Firmware stays when the target has it; Secure Boot's template where the target offers it;
  a TPM only where the target has one (its keys never travel: see desktopvm/transfer).
- Disks stay on their bus where the target has it. Otherwise SATA, else SCSI, IDE, NVMe — only
  buses the OS catalog says the guest has drivers for, and never VirtIO: a guest boots from a
  VirtIO disk only with VirtIO drivers in its boot image, so fit never picks it by itself.
- Targets with BIOS-only controllers (Hyper-V) pick a generation by firmware: generation 1
  boots from IDE and holds DVD drives only there; generation 2 has SCSI only.
- Ports past the target's limits are renumbered; disks get the target's own format.
- Network attachments the target lacks are disconnected (never re-plugged somewhere with a
  different reach); NIC models the target lacks become one the guest has drivers for.
- Counts and sizes (CPUs, memory, adapters, monitors, video memory, serial ports) are clamped.

The storage rules live in porting_storage.py (with `Change`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from desktopvm.model.capabilities import Capabilities
from desktopvm.model.catalog import OsEntry, catalog
from desktopvm.model.devices import NetworkAdapter, NetworkAttachment, NicModel
from desktopvm.model.machine import (
    BootDevice,
    CpuSpec,
    DisplaySpec,
    DynamicMemory,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    SerialMode,
    SerialPort,
    UsbSpec,
    UsbVersion,
)
from desktopvm.model.names import MAX_NAME_LENGTH
from desktopvm.model.porting_storage import Change, Report, fit_storage, generation
from desktopvm.printable import is_unsafe_character

__all__ = ["Change", "Fitting", "fit"]

#: NIC models to fall back on after the OS catalog's choices: widely known drivers first.
NIC_MODELS = (NicModel.E1000E, NicModel.E1000, NicModel.VMXNET3, NicModel.SYNTHETIC,
              NicModel.VIRTIO, NicModel.RTL8139, NicModel.PCNET)
ATTACHMENT_NAMES = {NetworkAttachment.NAT: "NAT", NetworkAttachment.BRIDGED: "bridged",
                    NetworkAttachment.INTERNAL: "internal network",
                    NetworkAttachment.HOST_ONLY: "host-only", NetworkAttachment.SWITCH: "switch",
                    NetworkAttachment.NONE: "not connected"}
#: What a target lacks, in words: "QEMU has no internal networks".
ATTACHMENT_KINDS = {NetworkAttachment.NAT: "NAT", NetworkAttachment.BRIDGED: "bridged networking",
                    NetworkAttachment.INTERNAL: "internal networks",
                    NetworkAttachment.HOST_ONLY: "host-only networks",
                    NetworkAttachment.SWITCH: "virtual switches",
                    NetworkAttachment.NONE: "unconnected adapters"}
#: Attachments whose network name is something of the host's (an interface, a switch) and so
#: may be missing on another host; internal networks are made by name when first used.
HOST_NAMED = frozenset({NetworkAttachment.BRIDGED, NetworkAttachment.HOST_ONLY,
                        NetworkAttachment.SWITCH})
#: Where a serial port's host side goes when the target lacks its mode: the app's console is a
#: Unix socket on Linux/macOS and a named pipe on Windows, the same thing to the guest.
SERIAL_ALTERNATIVES = {
    SerialMode.SOCKET: (SerialMode.PIPE, SerialMode.DISCONNECTED),
    SerialMode.PIPE: (SerialMode.SOCKET, SerialMode.DISCONNECTED),
    SerialMode.TCP: (SerialMode.SOCKET, SerialMode.PIPE, SerialMode.DISCONNECTED),
    SerialMode.FILE: (SerialMode.DISCONNECTED,),
    SerialMode.DISCONNECTED: (),
}
USB_ORDER = (UsbVersion.USB1, UsbVersion.USB2, UsbVersion.USB3)
#: Memory a backend gives only in steps (Hyper-V: 2 MiB, backends/hyperv/placement.py), by the
#: backend's name in its capabilities, which have no field for it.
MEMORY_STEP_MIB = {"Hyper-V": 2}


@dataclass(frozen=True, slots=True)
class Fitting:
    """A machine fitted to a target: the spec it can take, what changed, what cannot move."""

    spec: MachineSpec
    changes: tuple[Change, ...]  # empty: nothing changes
    blockers: tuple[str, ...]  # empty: the target can take the machine


def fit(spec: MachineSpec, target: Capabilities, *, source: Capabilities | None = None,
        networks: Mapping[NetworkAttachment, Collection[str]] | None = None) -> Fitting:
    """`spec` as `target` can take it, the changes that took and what blocks the move.

    `source` (optional) is the capabilities of the backend the machine comes from: given, a
    disk whose bus is a VirtIO device on the target but was not on the source (SCSI from
    VirtualBox to QEMU, whose SCSI is virtio-scsi) goes to SATA instead. Without it, buses
    that stay are kept as they are (a spec fitted once comes through a second fit unchanged).
    `networks` (optional) names what the target host offers per attachment (its bridged
    interfaces, switches …); given, an adapter on a network the host lacks is disconnected.
    The result's id is empty: it describes a machine the target has yet to make.
    """
    report = Report()
    entry = catalog().get(spec.os) or catalog().get("other")
    firmware = _firmware(spec.firmware, target, report, entry)
    fitted = spec.model_copy(update={
        "id": "",
        "name": _name(spec.name, target, report),
        "firmware": firmware,
        "cpu": _cpu(spec.cpu, target, report),
        "memory": _memory(spec.memory, target, report),
        "storage": fit_storage(spec, target, source=source, firmware=firmware.kind, entry=entry,
                               report=report),
        "network": _network(spec.network, target, networks, entry, report),
        "display": _display(spec.display, target, report),
        "usb": _usb(spec.usb, target, report),
        "serial": _serial(spec.serial, target, report),
        "boot_order": _boot_order(spec, target, report),
    })
    return Fitting(fitted, tuple(report.changes), tuple(report.blockers))


def _name(name: str, caps: Capabilities, report: Report) -> str:
    limit = min(MAX_NAME_LENGTH, caps.max_name_length)
    cleaned = "".join("-" if is_unsafe_character(c) or c in caps.name_forbidden_characters
                      else c for c in name).strip()[:limit].strip() or "machine"
    if cleaned != name:
        reason = f"{caps.backend} takes names of at most {limit} characters"
        if caps.name_forbidden_characters:
            reason += f", without {' '.join(caps.name_forbidden_characters)}"
        report.change("name", name, cleaned, reason)
    return cleaned


def _firmware(fw: FirmwareSpec, caps: Capabilities, report: Report,
              entry: OsEntry | None) -> FirmwareSpec:
    kind = fw.kind
    if not caps.firmware:
        report.blockers.append(f"{caps.backend} offers no firmware to start a machine with.")
        return fw
    if kind not in caps.firmware:
        kind = Firmware.BIOS if kind is Firmware.UEFI else Firmware.UEFI
        was, now = fw.kind.value.upper(), kind.value.upper()
        loader = "a BIOS boot loader" if kind is Firmware.BIOS else \
            "an EFI system partition (Windows: convert the disk with MBR2GPT first)"
        report.change("firmware", was, now, f"{caps.backend} has no {was} firmware here; a "
                      f"guest installed for {was} starts with {now} only if its disk also has "
                      f"{loader}")
    uefi = kind is Firmware.UEFI
    secure, template = fw.secure_boot, fw.secure_boot_template
    if secure and not uefi:
        secure, template = False, None
        report.change("Secure Boot", "on", "off", "Secure Boot needs UEFI firmware")
    elif secure and not caps.secure_boot:
        secure, template = False, None
        report.change("Secure Boot", "on", "off",
                      f"{caps.backend} cannot do Secure Boot here; the guest starts without it")
    if secure and template is not None and template not in caps.secure_boot_templates:
        wanted = entry.secure_boot_template if entry else None
        new = wanted if wanted in caps.secure_boot_templates else None
        reason = (f"{caps.backend} uses its own Secure Boot keys; it has no templates to choose"
                  if not caps.secure_boot_templates else
                  f"{caps.backend} has no '{template.value}' Secure Boot template")
        report.change("Secure Boot template", template.value,
                      new.value if new else f"{caps.backend}'s default", reason)
        template = new
    tpm = fw.tpm
    if tpm and not caps.tpm:
        tpm = False
        why = caps.tpm_unavailable_reason or f"{caps.backend} has no TPM here"
        need = f"; {entry.name} asks for one at install and upgrade time" \
            if entry is not None and entry.requires.tpm else ""
        report.change("TPM", "TPM 2.0", "none", f"{why}{need}")
    elif tpm and not uefi and (kind is not fw.kind or caps.bios_only_controllers):
        tpm = False
        report.change("TPM", "TPM 2.0", "none",
                      f"{generation(caps, kind)} offers a TPM only with UEFI firmware")
    return FirmwareSpec(kind=kind, secure_boot=secure, secure_boot_template=template, tpm=tpm)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _cpu(cpu: CpuSpec, caps: Capabilities, report: Report) -> CpuSpec:
    count = _clamp(cpu.count, max(1, caps.min_cpus), max(1, caps.max_cpus, caps.min_cpus))
    if count != cpu.count:
        report.change("CPUs", cpu.count, count, f"{caps.backend} on this host gives a machine "
                      f"{max(1, caps.min_cpus)} to {caps.max_cpus} CPUs")
    nested = cpu.nested_virtualization
    if nested and not caps.nested_virtualization:
        nested = False
        report.change("nested virtualisation", "on", "off",
                      f"{caps.backend} cannot offer nested virtualisation on this host")
    return CpuSpec(count=count, nested_virtualization=nested)


def _memory(memory: MemorySpec, caps: Capabilities, report: Report) -> MemorySpec:
    low, high = caps.min_memory_mib, max(caps.min_memory_mib, caps.max_memory_mib)
    step = MEMORY_STEP_MIB.get(caps.backend, 1)
    steps = f", in steps of {step} MiB" if step > 1 else ""

    def fitted(value: int, lowest: int, highest: int) -> int:
        value = _clamp(value, lowest, highest)
        up = value + (-value) % step
        return up if up <= highest else value - value % step

    size = fitted(memory.size_mib, low, high)
    if size != memory.size_mib:
        report.change("memory", f"{memory.size_mib} MiB", f"{size} MiB", f"{caps.backend} on "
                      f"this host gives a machine {low} to {high} MiB{steps}")
    dynamic = memory.dynamic
    if dynamic is not None and not caps.dynamic_memory:
        report.change("dynamic memory", f"{dynamic.minimum_mib}-{dynamic.maximum_mib} MiB",
                      "off", f"{caps.backend} has no dynamic memory: the machine keeps its "
                      f"start-up memory ({size} MiB) all the time")
        dynamic = None
    elif dynamic is not None:
        ranged = DynamicMemory(minimum_mib=fitted(dynamic.minimum_mib, low, size),
                               maximum_mib=fitted(dynamic.maximum_mib, size, high))
        if ranged != dynamic:
            report.change("dynamic memory", f"{dynamic.minimum_mib}-{dynamic.maximum_mib} MiB",
                          f"{ranged.minimum_mib}-{ranged.maximum_mib} MiB", "the range must "
                          f"hold the start-up memory and stay within {low} to {high} "
                          f"MiB{steps}")
        dynamic = ranged
    return MemorySpec(size_mib=size, dynamic=dynamic)


def _network(adapters: tuple[NetworkAdapter, ...], caps: Capabilities,
             networks: Mapping[NetworkAttachment, Collection[str]] | None,
             entry: OsEntry | None, report: Report) -> tuple[NetworkAdapter, ...]:
    kept = adapters[:caps.max_network_adapters]
    for number in range(len(kept) + 1, len(adapters) + 1):
        report.change(f"network adapter {number}", ATTACHMENT_NAMES[adapters[number - 1]
                      .attachment], "removed", f"{caps.backend} machines have at most "
                      f"{caps.max_network_adapters} network adapters")
    return tuple(_adapter(n, a, caps, networks=networks, entry=entry, report=report)
                 for n, a in enumerate(kept, start=1))


def _adapter(number: int, nic: NetworkAdapter, caps: Capabilities, *,
             networks: Mapping[NetworkAttachment, Collection[str]] | None,
             entry: OsEntry | None, report: Report) -> NetworkAdapter:
    label = f"network adapter {number}"
    attachment, network = nic.attachment, nic.network
    offered = None if networks is None else networks.get(attachment, ())
    shown = ATTACHMENT_NAMES[attachment] + (f" '{network}'" if network else "")
    reason = ""
    if attachment not in caps.network_attachments:
        reason = f"{caps.backend} has no {ATTACHMENT_KINDS[attachment]}"
    elif offered is not None and network and network not in offered:
        if attachment is NetworkAttachment.NAT:  # a named NAT network: the plain NAT stays
            report.change(f"{label} network", shown, "NAT", f"this {caps.backend} host has no "
                          f"NAT network '{network}'")
            network = ""
        elif attachment in HOST_NAMED:
            reason = f"this {caps.backend} host has no {ATTACHMENT_NAMES[attachment]} " \
                f"network '{network}'"
    if reason and attachment is not NetworkAttachment.NONE:
        report.change(label, shown, "not connected", f"{reason}: the adapter is left "
                      "disconnected; connect it to a network of this host after the move")
        attachment, network = NetworkAttachment.NONE, ""
    forwards = nic.port_forwards
    if forwards and attachment is not NetworkAttachment.NAT:
        report.change(f"{label} port forwards", len(forwards), "none",
                      "port forwards work only with NAT")
        forwards = ()
    return nic.model_copy(update={"attachment": attachment, "network": network,
                                  "model": _nic_model(label, nic.model, caps, entry, report),
                                  "port_forwards": forwards})


def _nic_model(label: str, model: NicModel | None, caps: Capabilities, entry: OsEntry | None,
               report: Report) -> NicModel | None:
    if model is None or model in caps.nic_models:
        return model
    from_catalog = [m for m in (entry.nic_models if entry else ()) if m in caps.nic_models]
    choices = from_catalog + [m for m in NIC_MODELS if m in caps.nic_models]
    new = choices[0] if choices else None
    reason = f"{caps.backend} has no {model.value} adapter"
    if new is None:
        reason += f"; {caps.backend} chooses the adapter"
    elif from_catalog:
        reason += f"; {entry.name if entry else 'the guest'} has drivers for {new.value}"
    elif new is NicModel.SYNTHETIC:
        reason += "; Windows and Linux have the driver of Hyper-V's own adapter built in"
    else:
        reason += f"; the guest needs a driver for {new.value}"
    report.change(f"{label} model", model.value, new.value if new else "default", reason)
    return new


def _display(display: DisplaySpec, caps: Capabilities, report: Report) -> DisplaySpec:
    monitors = _clamp(display.monitors, 1, max(1, caps.max_monitors))
    vram = min(display.video_memory_mib, caps.max_video_memory_mib)
    if monitors != display.monitors:
        report.change("monitors", display.monitors, monitors,
                      f"{caps.backend} gives a machine at most {caps.max_monitors}")
    if vram != display.video_memory_mib:
        report.change("video memory", f"{display.video_memory_mib} MiB", f"{vram} MiB",
                      f"{caps.backend} gives a machine at most {caps.max_video_memory_mib} MiB")
    return DisplaySpec(video_memory_mib=vram, monitors=monitors)


def _usb(usb: UsbSpec, caps: Capabilities, report: Report) -> UsbSpec:
    version = usb.version
    if version is None:
        return usb
    if not caps.usb or not caps.usb_versions:
        report.change("USB", f"USB {version.value}", "none",
                      f"{caps.backend} offers no USB controller here")
        return UsbSpec(version=None, tablet=False)
    if version in caps.usb_versions:
        return usb
    lower = [v for v in USB_ORDER[:USB_ORDER.index(version)] if v in caps.usb_versions]
    new = lower[-1] if lower else min(caps.usb_versions, key=USB_ORDER.index)
    report.change("USB", f"USB {version.value}", f"USB {new.value}",
                  f"{caps.backend} offers no USB {version.value} controller here. "
                  f"{caps.usb_versions_reason}".strip())
    return usb.model_copy(update={"version": new})


def _serial(ports: tuple[SerialPort, ...], caps: Capabilities,
            report: Report) -> tuple[SerialPort, ...]:
    fitted = []
    for port in ports:
        label = f"serial port COM{port.number}"
        if port.number > caps.max_serial_ports:
            report.change(label, port.mode.value, "removed", f"{caps.backend} machines have "
                          + (f"COM1 to COM{caps.max_serial_ports} only"
                             if caps.max_serial_ports else "no serial ports DesktopVM connects"))
            continue
        if port.mode in caps.serial_modes:
            fitted.append(port)
            continue
        new = next((m for m in SERIAL_ALTERNATIVES[port.mode] if m in caps.serial_modes), None)
        reason = f"{caps.backend} cannot connect a serial port to a {port.mode.value}"
        if new is None:
            report.change(label, port.mode.value, "removed", reason)
            continue
        report.change(label, port.mode.value, new.value, reason)
        fitted.append(SerialPort(number=port.number, mode=new))
    return tuple(fitted)


def _boot_order(spec: MachineSpec, caps: Capabilities,
                report: Report) -> tuple[BootDevice, ...]:
    for device in spec.boot_order:
        if device not in caps.boot_devices:
            report.change("boot order", device.value, "removed", f"{caps.backend} cannot "
                          f"boot from {device.value}")
    return tuple(d for d in spec.boot_order if d in caps.boot_devices)
