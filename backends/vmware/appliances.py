"""OVF/OVA export and import through DesktopVM's own OVF mapping and vmware-vdiskmanager.

Export: each disk becomes a streamOptimized VMDK (`vmware-vdiskmanager -r <disk> -t 5`, type 5
"compressed disk optimized for streaming", the OVF disk format), the descriptor is written
from the machine's MachineSpec (desktopvm.ovf.write_ovf), and an .ova is packed by
desktopvm.ovf.write_ova. Import: the package's disks are checked by the image rules
(desktopvm.ovf.check_appliance), an .ova is extracted into a folder of the new machine, each
disk is converted to one growable file (`-r … -t 0`), and a .vmx is written from the
appliance's MachineSpec. VMware's own `ovftool` is not needed (and not used) for either.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backends.vmware import disks, plans, vmx
from backends.vmware.inventory import Inventory
from backends.vmware.machines import new_folder
from backends.vmware.plans import safe_stem
from desktopvm.model import Capabilities, DiskFormat, name_problems
from desktopvm.ovf import (
    ExportDisk,
    OvfError,
    check_appliance,
    extract_ova,
    read_ovf,
    write_ova,
    write_ovf,
)
from desktopvm.paths import atomic_write_bytes
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    InvalidSpec,
    Progress,
    UnsupportedOperation,
    scaled_progress,
)
from desktopvm.protocol.states import Operation, require
from desktopvm.protocol.undo import Undo

FORMATS = (".ova", ".ovf")


def export(inventory: Inventory, machine_id: str, path: Path, *, progress: Progress,
           cancel: CancelToken) -> None:
    """Write `path` (.ova or .ovf with its disks beside it); nothing is left on failure."""
    if path.suffix.lower() not in FORMATS:
        raise UnsupportedOperation(f"VMware machines export as .ova or .ovf, not {path.name}")
    target = path.expanduser().resolve()
    record = inventory.record(machine_id)
    require(Operation.EXPORT, record.state, record.name)
    if target.exists():
        raise CommandFailed(f"{target} already exists; choose another file name")
    spec = record.spec(inventory.library.installation.windows)
    sources = [Path(d.path) for _, d in spec.all_disks()]
    ova = target.suffix.lower() == ".ova"
    with Undo() as undo:
        work = target.parent / f".{target.stem}.export" if ova else target.parent
        if ova:
            work.mkdir(parents=True)
            undo.remove_tree(work)
        exported, files = [], []
        share = 0.8 / max(1, len(sources))
        for index, source in enumerate(sources):
            cancel.raise_if_cancelled()
            made = work / f"{safe_stem(target.stem)}-disk{index + 1}.vmdk"
            undo.remove_file(made)
            info = disks.convert(inventory.vmrun, source, made, DiskFormat.VMDK, disk_type=5,
                                 progress=scaled_progress(progress, index * share, share),
                                 cancel=cancel)
            exported.append(ExportDisk(href=made.name, capacity_bytes=info.virtual_size,
                                       file_size=made.stat().st_size))
            files.append(made)
        descriptor = write_ovf(spec, exported, product="DesktopVM (VMware)")
        cancel.raise_if_cancelled()
        if ova:
            write_ova(target, target.stem + ".ovf", descriptor, files,
                      progress=scaled_progress(progress, 0.8, 0.2), cancel=cancel)
        else:
            undo.remove_file(target)
            atomic_write_bytes(target, descriptor)
    if ova:
        shutil.rmtree(work, ignore_errors=True)
    progress(1.0, "Exported")


def import_appliance(inventory: Inventory, caps: Capabilities, path: Path, name: str,
                     hardware_version: int, *, progress: Progress, cancel: CancelToken) -> str:
    """A new machine from an .ova/.ovf; its id."""
    problems = name_problems(name, caps) if name else []
    if problems:
        raise InvalidSpec(problems)  # before the package is read: the one naming rule
    source = path.expanduser().resolve()
    if source.suffix.lower() not in FORMATS or not source.is_file():
        raise UnsupportedOperation(f"Not an .ova or .ovf file: {path}")
    try:
        appliance = check_appliance(source)
    except OvfError as error:
        raise CommandFailed(f"Cannot import {path.name}: {error}") from error
    spec = appliance.spec.model_copy(update={"name": name or appliance.spec.name})
    problems = name_problems(spec.name, caps)
    if problems:
        raise InvalidSpec(problems)
    installation = inventory.library.installation
    with Undo() as undo:
        progress(0.0, "Reading the appliance")
        cancel.raise_if_cancelled()
        folder = new_folder(installation.default_folder, spec.name)
        folder.mkdir(parents=True)
        undo.remove_tree(folder)
        package = source.parent
        if source.suffix.lower() == ".ova":
            scratch = folder / ".appliance"
            descriptor = extract_ova(source, scratch, progress=scaled_progress(
                progress, 0.0, 0.3), cancel=cancel)
            appliance = read_ovf(descriptor.read_bytes(), descriptor.name)
            package = descriptor.parent
        storage = list(spec.storage)
        share = 0.6 / max(1, len(appliance.disks))
        for index, disk in enumerate(appliance.disks):
            cancel.raise_if_cancelled()
            made = folder / f"{safe_stem(spec.name)}-disk{index}.vmdk"
            disks.convert(inventory.vmrun, package / disk.file_href, made, DiskFormat.VMDK,
                          progress=scaled_progress(progress, 0.3 + index * share, share),
                          cancel=cancel)
            controller = storage[disk.controller_index]
            replaced = tuple(d.model_copy(update={"path": str(made), "format": DiskFormat.VMDK,
                                                  "existing": True})
                             if (d.port, d.device) == (disk.port, disk.device) else d
                             for d in controller.disks)
            storage[disk.controller_index] = controller.model_copy(update={"disks": replaced})
        shutil.rmtree(folder / ".appliance", ignore_errors=True)
        spec = spec.model_copy(update={"storage": tuple(storage)})
        target = folder / f"{safe_stem(spec.name)}.vmx"
        vmx.save(target, plans.document_for(spec, folder, hardware_version,
                                            windows=installation.windows), name=spec.name)
        cancel.raise_if_cancelled()
        inventory.library.add(target, spec.name)
        undo.add("forget the machine", lambda: inventory.library.remove(target))
    progress(1.0, "Imported")
    return str(target)
