"""`plan_copy`: what a machine becomes on another backend, and the check of the copy made."""

from __future__ import annotations

from dataclasses import replace

from desktopvm.backup.fitting import fit_for_restore
from desktopvm.model import Firmware, MachineSpec, NetworkAttachment
from desktopvm.model.porting import Change, Fitting
from desktopvm.protocol import Backend, BackendError
from desktopvm.protocol.backup import (
    FirmwareStateBackend,
    carries_firmware_state,
    firmware_consequences,
    firmware_words,
)


class CopyMismatch(BackendError):
    """The machine the target made differs from the one planned (the copy is removed)."""


def plan_copy(source: Backend, machine_id: str, target: Backend) -> Fitting:
    """What the machine becomes on `target`, every change with its reason; nothing is done.

    Blockers say why the target cannot take it at all.
    """
    info = source.get_machine(machine_id)
    fitting = plan_for(info.spec, source, target)
    if info.snapshots:
        fitting = _with(fitting, Change(
            "snapshots", str(len(info.snapshots)), "none", "only the machine's current state "
            "is copied; its snapshots stay with the original (a move deletes them with it)"))
    return fitting


def plan_for(spec: MachineSpec, source: Backend, target: Backend) -> Fitting:
    """`spec` (a machine of `source`) fitted to `target` and its host's networks."""
    # What the restore can place there (VirtualBox's import puts a VirtIO disk on SATA).
    fitting = fit_for_restore(spec, target.capabilities(), source=source.capabilities(),
                              networks=_networks(target))
    return _firmware_state(spec, fitting, source, target)


def _firmware_state(spec: MachineSpec, fitting: Fitting, source: Backend,
                    target: Backend) -> Fitting:
    """The line for the UEFI variables and the TPM's state: they travel in the backup only
    between backends that capture them and put them back (QEMU to QEMU)."""
    uefi = spec.firmware.kind is Firmware.UEFI
    if not (uefi or spec.firmware.tpm):
        return fitting
    if carries_firmware_state(source, target):
        lost_uefi = uefi and fitting.spec.firmware.kind is not Firmware.UEFI
        lost_tpm = spec.firmware.tpm and not fitting.spec.firmware.tpm
        if not (lost_uefi or lost_tpm):
            return fitting  # both go along; a firmware or TPM change is its own line
        why = "the copy has no UEFI firmware" if lost_uefi else "the copy has no TPM"
        nvram, tpm = lost_uefi, lost_tpm
    else:
        why = f"{source.display_name} does not back them up" \
            if not isinstance(source, FirmwareStateBackend) else \
            f"{target.display_name} cannot take them"
        nvram, tpm = uefi, spec.firmware.tpm
    what = firmware_words(nvram, tpm)
    # The consequence first: the report's column shows the start of it.
    return _with(fitting, Change(what, "kept in the original", "stay behind",
                                 f"{firmware_consequences(nvram, tpm)} ({why})"))


def _with(fitting: Fitting, change: Change) -> Fitting:
    return replace(fitting, changes=(*fitting.changes, change))


def _networks(target: Backend) -> dict[NetworkAttachment, set[str]] | None:
    """The names the target host offers per attachment; None when it cannot say."""
    try:
        offered = target.host_info().networks
    except BackendError:
        return None
    known = {a.value: a for a in NetworkAttachment}
    networks: dict[NetworkAttachment, set[str]] = {}
    for network in offered:
        if network.attachment in known:
            networks.setdefault(known[network.attachment], set()).add(network.name)
    return networks


def differences(wanted: MachineSpec, made: MachineSpec) -> list[str]:
    """How the machine the target reports (`made`) differs from the plan, in words.

    Only what the copy must keep is compared: firmware, CPUs, memory, each disk's bus and
    size and the adapters' attachments. Names, paths, ids and MAC addresses are the target's
    to choose; DVD drives are `minor_differences` (no data is lost without one).
    """
    found = []

    def compare(what: str, planned: object, reported: object) -> None:
        if planned != reported:
            found.append(f"{what}: {planned} planned, {reported} on the target")

    compare("firmware", wanted.firmware.kind.value, made.firmware.kind.value)
    compare("CPUs", wanted.cpu.count, made.cpu.count)
    compare("memory (MiB)", wanted.memory.size_mib, made.memory.size_mib)
    planned_disks, made_disks = wanted.all_disks(), made.all_disks()
    compare("disks", len(planned_disks), len(made_disks))
    for number, ((pi, planned), (mi, disk)) in enumerate(zip(planned_disks, made_disks,
                                                             strict=False), start=1):
        compare(f"disk {number} bus", wanted.storage[pi].kind.value, made.storage[mi].kind.value)
        if planned.size_bytes and disk.size_bytes:
            compare(f"disk {number} size (bytes)", planned.size_bytes, disk.size_bytes)
    compare("network adapters", [n.attachment.value for n in wanted.network],
            [n.attachment.value for n in made.network])
    return found


def minor_differences(wanted: MachineSpec, made: MachineSpec) -> list[str]:
    """What differs without touching the data (DVD drives, a disk's file format), in words for
    the progress log."""
    found = []
    planned, got = len(wanted.all_optical()), len(made.all_optical())
    if planned != got:
        found.append(f"the copy has {got} DVD drive(s), {planned} planned: add them in its "
                     "settings")
    for number, ((_, disk), (_, there)) in enumerate(zip(wanted.all_disks(), made.all_disks(),
                                                         strict=False), start=1):
        if disk.format is not there.format:
            found.append(f"disk {number} is a {there.format.value.upper()} file, "
                         f"{disk.format.value.upper()} planned")
    return found
