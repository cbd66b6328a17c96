"""Importing an OVA or OVF package onto any connection: by the target's own import where it
has one; Hyper-V reads no OVF, so there the package's disks are converted to VHDX and the
machine is created with them, as a restore does (desktopvm/backup/placing.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from desktopvm.backup.chain import scratch
from desktopvm.backup.fitting import fitted_for
from desktopvm.backup.placing import DiskMaker, create_with_disks, refusal
from desktopvm.backup.tools import qemu_img
from desktopvm.images import UnsafeImage, check_package_disk, disk_format
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, name_problems
from desktopvm.ovf import OvfError, check_href, extract_ova, fitted, read_ovf
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    InvalidSpec,
    Progress,
    UnsupportedOperation,
    scaled_progress,
)
from desktopvm.transfer.copying import scratch_root

PACKAGE_SUFFIXES = (".ova", ".ovf")
_TAG = "package-disk:"


def import_package(path: Path, target: Backend, *, name: str = "", progress: Progress,
                   cancel: CancelToken) -> str:
    """A new machine on `target` from the package (or the target's own export) at `path`."""
    caps = target.capabilities()
    if path.suffix.lower() not in PACKAGE_SUFFIXES or caps.export_formats & {"ova", "ovf"}:
        return target.import_machine(path, name=name, progress=progress, cancel=cancel)
    problems = name_problems(name, caps) if name else []
    if problems:
        raise InvalidSpec(problems)  # before anything is read: the one naming rule
    problem = refusal(target)
    if problem:
        raise UnsupportedOperation(f"Cannot import {path.name} into {target.display_name} "
                                   f"from here: {problem}")
    with scratch(scratch_root()) as work:  # a marked folder: swept if we are killed
        spec, sources = _read(path, work, caps, progress=scaled_progress(progress, 0, 0.2),
                              cancel=cancel)
        wanted = spec.model_copy(update={"name": name or spec.name, "id": ""})
        problems = name_problems(wanted.name, caps)
        if problems:
            raise InvalidSpec(problems)
        safe = fitted_for(wanted, caps, target.display_name, progress=progress)
        makers: list[DiskMaker | None] = []
        for _, disk in safe.all_disks():
            source = sources.get(disk.path) if disk.path.startswith(_TAG) else None
            makers.append(None if source is None else partial(_converted, *source, cancel))
        # Each tagged disk gets its placed file's path there. OVF carries no MAC addresses
        # (desktopvm.ovf): Hyper-V gives the adapters new ones.
        new_id = create_with_disks(safe, target, makers, near=work, what="imported",
                                   progress=scaled_progress(progress, 0.2, 0.8), cancel=cancel)
    progress(1.0, "Imported")
    return new_id


def _read(path: Path, work: Path, caps: Capabilities, *, progress: Progress,
          cancel: CancelToken) -> tuple[MachineSpec, dict[str, tuple[Path, DiskFormat]]]:
    """The package's machine (each disk with a file named by a tag) and, by tag, each disk's
    checked file and format. Every disk is checked before qemu-img opens any."""
    try:
        if path.suffix.lower() == ".ova":
            descriptor = extract_ova(path, work / "unpacked", progress=progress, cancel=cancel)
            where = descriptor.name  # the member, not our scratch folder
        else:
            descriptor, where = path, str(path)
        appliance = fitted(read_ovf(descriptor.read_bytes(), where), caps)
        checked = [check_package_disk(descriptor.parent, check_href(disk.file_href, where),
                                      disk.format) for disk in appliance.disks]
    except (OvfError, UnsafeImage) as error:
        raise BackendError(f"Cannot import {path.name}: {error}", str(error)) from error
    by_slot = {(disk.controller_index, disk.port, disk.device):
               (descriptor.parent / disk.file_href, disk_format(facts))
               for disk, facts in zip(appliance.disks, checked, strict=True)}
    sources: dict[str, tuple[Path, DiskFormat]] = {}
    storage = []
    for index, controller in enumerate(appliance.spec.storage):
        disks = []
        for disk in controller.disks:
            source = by_slot.get((index, disk.port, disk.device))
            if source is None:  # a blank disk the package describes: the target makes it
                disks.append(disk)
                continue
            tag = f"{_TAG}{len(sources)}"
            sources[tag] = source
            disks.append(disk.model_copy(update={"path": tag}))
        storage.append(controller.model_copy(update={"disks": tuple(disks)}))
    return appliance.spec.model_copy(update={"storage": tuple(storage)}), sources


def _converted(source: Path, source_format: DiskFormat, cancel: CancelToken, file: Path,
               progress: Progress) -> None:
    qemu_img().convert(source, file, DiskFormat.VHDX, source_format=source_format,
                       progress=progress, cancel=cancel)
