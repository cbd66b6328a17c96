"""OVA export and OVF/OVA import for QEMU machines (the format mapping is `desktopvm.ovf`)."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from backends.qemu import img_partial
from backends.qemu.disks import Disks
from backends.qemu.identity import with_macs
from backends.qemu.inventory import MachineStore, claim, finished
from backends.qemu.layout import MachineFiles
from backends.qemu.qemu_img import QemuImg
from desktopvm.images import UnsafeImage, check_package_disk, disk_format
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, name_problems
from desktopvm.ovf import (
    ExportDisk,
    OvfError,
    check_href,
    extract_ova,
    fitted,
    read_ovf,
    write_ova,
    write_ovf,
)
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidSpec,
    InvalidState,
    Progress,
    UnsupportedOperation,
    scaled_progress,
    states,
)
from desktopvm.protocol.states import Operation
from desktopvm.protocol.validity import require_valid


def _file_stem(name: str) -> str:
    """A machine name as a portable file name stem."""
    # OVA members are USTAR names of at most 99 bytes: keep room for "-diskNN.vmdk".
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "machine")[:60]


def export_ova(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, path: Path, *,
               progress: Progress, cancel: CancelToken) -> None:
    """Write the machine as an OVA: OVF 1.0, stream-optimized VMDKs, SHA256 manifest."""
    spec = store.spec(files)
    state = store.state(files)
    states.require(Operation.EXPORT, state, spec.name)
    if path.suffix.lower() != ".ova":
        raise UnsupportedOperation("The QEMU backend exports OVA files; name the file *.ova")
    if path.exists():
        raise InvalidState(f"{path} already exists; export will not overwrite it")
    # The disks and the package are written in a folder marked with our pid: a kill -9
    # leaves only that folder, which the next export (or conversion) here removes.
    with img_partial.scratch_folder(path.parent) as parts:
        _write_package(spec, qemu_img, path, parts, progress=progress, cancel=cancel)
    progress(1.0, "Exported")


def _write_package(spec: MachineSpec, qemu_img: QemuImg, path: Path, parts: Path, *,
                   progress: Progress, cancel: CancelToken) -> None:
    """Stream-optimized VMDKs of every disk into `parts`, then the OVA at `path`."""
    disks = [d for _, d in spec.all_disks()]
    vmdks: list[Path] = []
    exported: list[ExportDisk] = []
    for index, disk in enumerate(disks):
        vmdk = parts / f"{_file_stem(spec.name)}-disk{index + 1}.vmdk"
        share = 0.8 / max(1, len(disks))
        qemu_img.convert(Path(disk.path), vmdk, DiskFormat.VMDK, subformat="streamOptimized",
                         progress=scaled_progress(progress, index * share, share),
                         cancel=cancel)
        capacity = qemu_img.info(Path(disk.path)).virtual_size
        exported.append(ExportDisk(href=vmdk.name, capacity_bytes=capacity,
                                   file_size=vmdk.stat().st_size))
        vmdks.append(vmdk)
    try:
        descriptor = write_ovf(spec, exported)
        write_ova(path, f"{_file_stem(spec.name)}.ovf", descriptor, vmdks,
                  progress=scaled_progress(progress, 0.8, 0.2), cancel=cancel, scratch=parts)
    except OvfError as error:
        raise BackendError(f"Cannot export {spec.name}: {error}", str(error)) from error


def import_appliance(store: MachineStore, disks: Disks, capabilities: Capabilities, path: Path,
                     *, name: str, progress: Progress, cancel: CancelToken) -> str:
    """A new machine from an OVA or OVF: disks converted to qcow2 in the machine's folder."""
    qemu_img = disks.qemu_img
    problems = name_problems(name, capabilities) if name else []
    if problems:
        raise InvalidSpec(problems)  # before anything is made: the one naming rule
    library = store.library
    library.mkdir(parents=True, exist_ok=True)
    unpacked = claim(library / f".import-{uuid.uuid4().hex[:12]}")  # swept if we are killed
    machine_id = str(uuid.uuid4())
    target = MachineFiles(library / machine_id)
    try:
        if path.suffix.lower() == ".ova":
            descriptor = extract_ova(path, unpacked, progress=scaled_progress(progress, 0, 0.3),
                                     cancel=cancel)
        else:
            descriptor = path
        # Name the package and the member in messages, not our scratch folder.
        where = descriptor.name if descriptor.parent == unpacked else str(descriptor)
        # Disks go back on the bus they were exported from (NVMe, VirtIO: OVF says SATA).
        appliance = fitted(read_ovf(descriptor.read_bytes(), where), capabilities)
        # Every disk is checked before qemu-img opens any: a package's disk must be its own
        # self-contained file of the declared format (see desktopvm.images).
        checked = [check_package_disk(descriptor.parent, check_href(disk.file_href, where),
                                      disk.format)
                   for disk in appliance.disks]
        claim(target.folder)
        converted: dict[tuple[int, int, int], Path] = {}
        for index, (disk, facts) in enumerate(zip(appliance.disks, checked, strict=True)):
            source = descriptor.parent / disk.file_href
            destination = target.disk_path(index, "qcow2")
            share = 0.6 / max(1, len(appliance.disks))
            qemu_img.convert(source, destination, DiskFormat.QCOW2,
                             source_format=disk_format(facts),
                             progress=scaled_progress(progress, 0.3 + index * share, share),
                             cancel=cancel)
            converted[(disk.controller_index, disk.port, disk.device)] = destination
        spec = _place_disks(appliance.spec, converted)
        made: list[Path] = []
        spec = spec.model_copy(update={"storage": disks.make(target, spec.storage, made, cancel)})
        spec = with_macs(spec, fresh=True).model_copy(update={"id": machine_id,
                                                              "name": name or spec.name})
        require_valid(spec, capabilities)
        disks.ensure_nvram(target, spec)
        cancel.raise_if_cancelled()
        store.save_spec(target, spec)
        finished(target.folder)
    except (OvfError, UnsafeImage) as error:
        shutil.rmtree(target.folder, ignore_errors=True)
        raise BackendError(f"Cannot import {path.name}: {error}", str(error)) from error
    except BaseException:
        shutil.rmtree(target.folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    progress(1.0, "Imported")
    return machine_id


def _place_disks(spec: MachineSpec, converted: dict[tuple[int, int, int], Path]) -> MachineSpec:
    """Point the spec's disks at the converted files (by controller, port and device)."""
    controllers = []
    for ci, controller in enumerate(spec.storage):
        disks = []
        for disk in controller.disks:
            path = converted.get((ci, disk.port, disk.device))
            if path is None:
                if not disk.existing:  # a blank disk the package describes: created below
                    disks.append(disk)
                    continue
                raise OvfError(f"no disk file for {controller.kind.value} port {disk.port}")
            disks.append(disk.model_copy(update={"path": str(path), "format": DiskFormat.QCOW2,
                                                 "existing": True, "size_bytes": 0}))
        controllers.append(controller.model_copy(update={"disks": tuple(disks)}))
    return spec.model_copy(update={"storage": tuple(controllers)})
