"""`restore`: a set as a new machine on any backend (OVF import, or create with disks: Hyper-V)."""

from __future__ import annotations

import hashlib
import tempfile
from functools import partial
from pathlib import Path, PurePosixPath

from desktopvm.backup.chain import reassemble, scratch
from desktopvm.backup.checking import chain_of, verify
from desktopvm.backup.fitting import fitted_for
from desktopvm.backup.placing import create_with_disks
from desktopvm.backup.setfile import BackupSet, damaged
from desktopvm.backup.writing import QCOW2_FORMAT_URL
from desktopvm.connections import kind_of
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, name_problems
from desktopvm.model.problems import error
from desktopvm.ovf import STREAM_OPTIMIZED_VMDK, ExportDisk, write_ovf
from desktopvm.paths import read_regular
from desktopvm.protocol import (
    Backend,
    CancelToken,
    InvalidSpec,
    Progress,
    scaled_progress,
)
from desktopvm.protocol.backup import FirmwareState, FirmwareStateBackend, firmware_left_behind
from desktopvm.protocol.undo import Undo

_TAG = "backup-set-disk:"


def restore(set_path: Path, target: Backend, *, name: str, spec: MachineSpec | None = None,
            progress: Progress, cancel: CancelToken) -> str:
    """The set at `set_path` as a new machine `name` on `target`; its id.

    The set and its chain are verified first (nothing is made from a damaged set). `spec`
    (default: the set's) is fitted to the target; its disks, in order, get the set's disks.
    Whatever the restore made is removed again if it fails or is cancelled.
    """
    verify(set_path, progress=scaled_progress(progress, 0, 0.15), cancel=cancel)
    chain = chain_of(set_path)
    caps = target.capabilities()
    problems = name_problems(name, caps)
    if problems:
        raise InvalidSpec(problems)
    wanted = (spec or chain[0].spec).model_copy(update={"name": name, "id": ""})
    if len(wanted.all_disks()) != len(chain[0].disks):
        raise InvalidSpec([error("storage", f"the backup holds {len(chain[0].disks)} disk(s), "
                                 f"the settings given {len(wanted.all_disks())}")])
    fitted = fitted_for(_tagged(wanted, chain[0]), caps, target.display_name,
                        source_kind=kind_of(chain[0].source), progress=progress)
    slots = [_untag(disk.path) for _, disk in fitted.all_disks()]
    storage = tuple(c.model_copy(update={"disks": tuple(d.model_copy(update={"path": ""})
                                                        for d in c.disks)})
                    for c in fitted.storage)
    spec_out = fitted.model_copy(update={"storage": storage})
    work = scaled_progress(progress, 0.15, 0.85)
    if caps.export_formats & {"ova", "ovf"}:
        return _through_ovf(chain, slots, spec_out, target, caps, progress=work,
                            cancel=cancel)
    say_firmware_stays(chain[0], target, progress)
    return _with_disks(chain, slots, spec_out, target, progress=work, cancel=cancel)


def firmware_state(backup: BackupSet) -> FirmwareState:
    """The set's UEFI variable store and TPM state files (each set holds its own, whole)."""
    nvram = next((backup.path / f.file for f in backup.firmware if f.kind == "nvram"), None)
    return FirmwareState(nvram=nvram, tpm=tuple(backup.path / f.file for f in backup.firmware
                                                if f.kind == "tpm"))


def say_firmware_stays(backup: BackupSet, target: Backend, progress: Progress) -> None:
    """One line when the set holds firmware state the target cannot take."""
    state = firmware_state(backup)
    if not state.empty:
        progress(None, firmware_left_behind(state.nvram is not None, bool(state.tpm),
                                            f"{target.display_name} cannot take them from a "
                                            "backup"))


def put_firmware(backup: BackupSet, target: Backend, machine_id: str, *, progress: Progress,
                 cancel: CancelToken) -> None:
    """The set's firmware state onto the (off) machine, or one line saying it stays behind.

    Each file is read once, now, checked against its digest in backup.json and handed on as
    a private copy: verify ran long before (over the original: before every disk was
    reassembled), and a variable store swapped since could enroll someone's Secure Boot keys.
    """
    state = firmware_state(backup)
    if state.empty:
        return
    if not isinstance(target, FirmwareStateBackend):
        say_firmware_stays(backup, target, progress)
        return
    with tempfile.TemporaryDirectory(prefix="desktopvm-firmware-") as folder:  # 0700
        checked = _checked_copies(backup, Path(folder))
        for line in target.put_firmware_state(machine_id, checked, cancel=cancel):
            progress(None, line)
    if state.tpm and backup.was_running:
        progress(None, "The TPM state is as the running machine's TPM last saved it when "
                 "the backup was made")


def _checked_copies(backup: BackupSet, folder: Path) -> FirmwareState:
    """The set's firmware files copied into `folder` (this user's only), each read once and
    as large and with the digest backup.json gives it, else BackupDamaged."""
    nvram: Path | None = None
    tpm: list[Path] = []
    for entry in backup.firmware:
        try:
            data = read_regular(backup.path / entry.file, entry.limit)
        except OSError as problem:
            raise damaged(backup.path, entry.file, f"cannot be read ({problem.strerror})") \
                from None
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise damaged(backup.path, entry.file, "changed since the backup was verified")
        # The record's check made each name unique: nvram.fd, or tpm/<swtpm's own name>.
        copy = folder / PurePosixPath(entry.file).relative_to("firmware")
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(data)
        if entry.kind == "nvram":
            nvram = copy
        else:
            tpm.append(copy)
    return FirmwareState(nvram=nvram, tpm=tuple(tpm))


def _tagged(spec: MachineSpec, backup: BackupSet) -> MachineSpec:
    """`spec` with each disk naming the set's disk it gets (its path is a tag through `fit`,
    which may move and reorder disks) and that disk's size."""
    slots = iter(_slots(backup, spec))
    sizes = {d.slot: d.virtual_size for d in backup.disks}
    storage = []
    for controller in spec.storage:
        disks = []
        for disk in controller.disks:
            slot = next(slots)
            disks.append(disk.model_copy(update={
                "path": _TAG + ":".join(map(str, slot)), "size_bytes": sizes[slot],
                "existing": True}))
        storage.append(controller.model_copy(update={"disks": tuple(disks)}))
    return spec.model_copy(update={"storage": tuple(storage)})


def _untag(path: str) -> tuple[int, int, int]:
    controller, port, device = (int(n) for n in path.removeprefix(_TAG).split(":"))
    return controller, port, device


def _slots(backup: BackupSet, spec: MachineSpec) -> list[tuple[int, int, int]]:
    """The set's disk for each disk of `spec` (in order): by file, by place, else by order."""
    own = {d.slot for d in backup.disks}
    # A spec fitted elsewhere (copy_to's plan) still names the machine's own disk files.
    by_path = {disk.path: (index, disk.port, disk.device)
               for index, disk in backup.spec.all_disks() if disk.path}
    named = [by_path.get(disk.path) for _, disk in spec.all_disks()]
    if len(by_path) == len(own) and set(named) == own and len(named) == len(own):
        return [slot for slot in named if slot is not None]
    for described in (spec, backup.spec):
        slots = [(index, disk.port, disk.device) for index, disk in described.all_disks()]
        if set(slots) == own and len(slots) == len(own):
            return slots
    return [d.slot for d in backup.disks]


def _through_ovf(chain: list[BackupSet], slots: list[tuple[int, int, int]], spec: MachineSpec,
                 target: Backend, caps: Capabilities, *, progress: Progress,
                 cancel: CancelToken) -> str:
    """Disks and an OVF descriptor in a scratch folder, then the target's own import."""
    # QEMU imports qcow2 as it is; other importers (VBoxManage, VMware, ESXi) read VMDK.
    kind = kind_of(target.name)
    qcow2 = DiskFormat.QCOW2 in caps.disk_formats and kind == "qemu"
    fmt, url = (DiskFormat.QCOW2, QCOW2_FORMAT_URL) if qcow2 else (DiskFormat.VMDK,
                                                           STREAM_OPTIMIZED_VMDK)
    # VirtualBox 7.2 fails to import a stream-optimized VMDK whose grains did not compress
    # (VERR_EOF: real data, encrypted or compressed files); a sparse VMDK it imports.
    subformat = "" if qcow2 else "monolithicSparse" if kind == "virtualbox" \
        else "streamOptimized"
    with scratch(chain[0].path.parent) as folder, Undo() as undo:
        exported = []
        for number, slot in enumerate(slots, start=1):
            file = folder / f"disk{number}.{fmt.value}"
            share = 0.6 / max(1, len(slots))
            reassemble(chain, slot, file, fmt, subformat=subformat,
                       progress=scaled_progress(progress, (number - 1) * share, share),
                       cancel=cancel)
            size = next(d.virtual_size for d in chain[0].disks if d.slot == slot)
            exported.append(ExportDisk(href=file.name, capacity_bytes=size,
                                       file_size=file.stat().st_size, format_url=url))
        descriptor = folder / "machine.ovf"
        descriptor.write_bytes(write_ovf(spec, exported))
        new_id = target.import_machine(descriptor, name=spec.name,
                                       progress=scaled_progress(progress, 0.6, 0.3),
                                       cancel=cancel)
        undo.add(f"delete the new machine {spec.name}",
                 lambda: target.delete(new_id, delete_disks=True, progress=lambda *_: None,
                                       cancel=CancelToken()))
        cancel.raise_if_cancelled()
        imported = target.get_machine(new_id).spec
        final = _beyond_ovf(spec, imported)
        if final != imported:  # what OVF cannot carry: firmware, TPM, NIC models, notes …
            target.update(new_id, imported, final, progress=scaled_progress(progress, 0.9, 0.1),
                          cancel=cancel)
        # After the update, which gives the machine its UEFI firmware and TPM.
        put_firmware(chain[0], target, new_id, progress=progress, cancel=cancel)
        cancel.raise_if_cancelled()
    progress(1.0, "Restored")
    return new_id


def _beyond_ovf(wanted: MachineSpec, imported: MachineSpec) -> MachineSpec:
    """The wanted spec on the imported machine: its id, name, storage and fresh MACs kept."""
    network = tuple(
        nic.model_copy(update={"mac": imported.network[n].mac if n < len(imported.network)
                               else ""})
        for n, nic in enumerate(wanted.network))
    return wanted.model_copy(update={"id": imported.id, "name": imported.name,
                                     "storage": imported.storage, "network": network})


def _with_disks(chain: list[BackupSet], slots: list[tuple[int, int, int]], spec: MachineSpec,
                target: Backend, *, progress: Progress, cancel: CancelToken) -> str:
    """A target without OVF import (Hyper-V): the set's disks as VHDX, placed on its host."""
    makers = [partial(_reassembled, chain, slot, cancel) for slot in slots]
    new_id = create_with_disks(spec, target, makers, near=chain[0].path.parent,
                               what="restored", progress=progress, cancel=cancel)
    progress(1.0, "Restored")
    return new_id


def _reassembled(chain: list[BackupSet], slot: tuple[int, int, int], cancel: CancelToken,
                 file: Path, progress: Progress) -> None:
    reassemble(chain, slot, file, DiskFormat.VHDX, progress=progress, cancel=cancel)
