"""A machine spec in words: the rows of the wizard's summary ('Memory' → '4 GiB')."""

from __future__ import annotations

from pathlib import PurePath

from PySide6.QtCore import QCoreApplication

from desktopvm.model import Firmware, MachineSpec, catalog
from desktopvm.ui.editors.labels import (
    attachment_short_name,
    controller_name,
    nic_model_name,
    template_name,
)
from desktopvm.ui.editors.storage_layout import first_optical
from desktopvm.ui.editors.widgets import format_bytes, format_mib
from desktopvm.ui.facts import BackendFacts


def _tr(text: str) -> str:
    return QCoreApplication.translate("summary", text)


def _cpus(count: int) -> str:
    return _tr("1 CPU") if count == 1 else _tr("%d CPUs") % count


def describe_firmware(spec: MachineSpec) -> str:
    """'UEFI with Secure Boot (Microsoft Windows keys) and a TPM 2.0'."""
    firmware = spec.firmware
    text = _tr("BIOS") if firmware.kind is Firmware.BIOS else _tr("UEFI")
    extras = []
    if firmware.secure_boot:
        template = firmware.secure_boot_template
        extras.append(_tr("Secure Boot (%s keys)") % template_name(template) if template
                      else _tr("Secure Boot"))
    if firmware.tpm:
        extras.append(_tr("a TPM 2.0"))
    if extras:
        text += " " + _tr("with") + " " + _tr(" and ").join(extras)
    return text


def describe_storage(spec: MachineSpec) -> str:
    """One line per disk: 'New 64 GiB disk (QCOW2) on VirtIO'."""
    lines = []
    for ci, disk in spec.all_disks():
        bus = controller_name(spec.storage[ci].kind)
        if disk.existing:
            lines.append(_tr("Existing disk %s on %s") % (PurePath(disk.path).name, bus))
        else:
            lines.append(_tr("New %s disk (%s) on %s") % (format_bytes(disk.size_bytes),
                                                          disk.format.value.upper(), bus))
    return "\n".join(lines) or _tr("No disk")


def describe_network(spec: MachineSpec) -> str:
    """One line per adapter: 'NAT, VirtIO (paravirtual, fastest)'."""
    lines = []
    for adapter in spec.network:
        what = attachment_short_name(adapter.attachment)
        if adapter.network:
            what += f" ({adapter.network})"
        card = nic_model_name(adapter.model) if adapter.model else _tr("automatic adapter type")
        mac = f", {adapter.mac}" if adapter.mac else ""
        lines.append(f"{what}, {card}{mac}")
    return "\n".join(lines) or _tr("Not connected")


def summary_rows(spec: MachineSpec, facts: BackendFacts | None) -> list[tuple[str, str]]:
    """(label, value) rows describing `spec` on the backend of `facts`."""
    entry = catalog().get(spec.os)
    optical = first_optical(spec)
    iso = optical[2].iso if optical else ""
    memory = format_mib(spec.memory.size_mib)
    if spec.memory.dynamic is not None:
        memory += _tr(" (dynamic, %s to %s)") % (format_mib(spec.memory.dynamic.minimum_mib),
                                                  format_mib(spec.memory.dynamic.maximum_mib))
    cpus = _cpus(spec.cpu.count)
    if spec.cpu.nested_virtualization:
        cpus += _tr(", nested virtualisation")
    rows = []
    if facts is not None:
        version = f" {facts.probe.version}" if facts.probe.version else ""
        rows.append((_tr("Hypervisor"), _tr("%s on %s") % (facts.display_name + version,
                                                          facts.host)))
    rows += [
        (_tr("Name"), spec.name),
        (_tr("Guest OS"), entry.name if entry else spec.os),
        (_tr("Installation disc"), PurePath(iso).name if iso else _tr("None (empty drive)")),
        (_tr("Firmware"), describe_firmware(spec)),
        (_tr("Processors"), cpus),
        (_tr("Memory"), memory),
        (_tr("Storage"), describe_storage(spec)),
        (_tr("Network"), describe_network(spec)),
    ]
    return rows
