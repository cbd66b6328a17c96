"""Clones of QEMU machines: full copies, and linked clones over shared read-only bases."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from backends.qemu import firmware_state, snapshots
from backends.qemu.identity import with_macs
from backends.qemu.inventory import MachineStore, claim, finished
from backends.qemu.layout import MachineFiles
from backends.qemu.qemu_img import QemuImg
from desktopvm.model import (
    Capabilities,
    DiskFormat,
    MachineSpec,
    StorageController,
    name_problems,
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

log = logging.getLogger(__name__)


def bases_dir(store: MachineStore) -> Path:
    """Shared read-only images that linked clones are built on."""
    return store.library / ".bases"


def _stopped(store: MachineStore, files: MachineFiles) -> MachineSpec:
    spec = store.spec(files)
    states.require(Operation.CLONE, store.state(files), spec.name)
    return spec


def _with_disks(spec: MachineSpec, paths: list[tuple[Path, DiskFormat]]) -> MachineSpec:
    """The spec with its disks, in order, replaced by `paths`."""
    remaining = iter(paths)
    controllers: list[StorageController] = []
    for controller in spec.storage:
        disks = []
        for disk in controller.disks:
            path, fmt = next(remaining)
            disks.append(disk.model_copy(update={"path": str(path), "format": fmt,
                                                 "existing": True}))
        controllers.append(controller.model_copy(update={"disks": tuple(disks)}))
    return spec.model_copy(update={"storage": tuple(controllers)})


def clone(store: MachineStore, qemu_img: QemuImg, capabilities: Capabilities,
          files: MachineFiles, new_name: str, *, linked: bool, snapshot_id: str,
          progress: Progress, cancel: CancelToken) -> str:
    """A new machine with copies of (or, linked, copy-on-write overlays over) the disks."""
    problems = name_problems(new_name, capabilities)
    if problems:
        raise InvalidSpec(problems)  # before anything is made: the one naming rule
    spec = _stopped(store, files)
    if snapshot_id:
        raise UnsupportedOperation("The QEMU backend clones the current state only; restore "
                                   "the snapshot first, then clone")
    machine_id = str(uuid.uuid4())
    target = MachineFiles(store.library / machine_id)
    claim(target.folder)
    try:
        if linked:
            paths = _link_disks(store, qemu_img, files, spec, target)
        else:
            paths = _copy_disks(qemu_img, spec, target, progress, cancel)
        firmware_state.recover(files)  # the source's own state, not half of a restore
        if files.nvram.exists():
            qemu_img.convert(files.nvram, target.nvram, DiskFormat.QCOW2)
        if files.tpm_state.is_dir():
            shutil.copytree(files.tpm_state, target.tpm_state)
        cancel.raise_if_cancelled()
        copy = with_macs(_with_disks(spec, paths), fresh=True)
        store.save_spec(target, copy.model_copy(update={"id": machine_id, "name": new_name}))
        finished(target.folder)
    except BaseException:
        shutil.rmtree(target.folder, ignore_errors=True)
        raise
    progress(1.0, "Cloned")
    return machine_id


def _copy_disks(qemu_img: QemuImg, spec: MachineSpec, target: MachineFiles,
                progress: Progress, cancel: CancelToken) -> list[tuple[Path, DiskFormat]]:
    disks = [d for _, d in spec.all_disks()]
    paths = []
    for index, disk in enumerate(disks):
        path = target.disk_path(index, disk.format.extension)
        share = 0.9 / max(1, len(disks))
        qemu_img.convert(Path(disk.path), path, disk.format,
                         progress=scaled_progress(progress, index * share, share), cancel=cancel)
        paths.append((path, disk.format))
    return paths


def _link_disks(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, spec: MachineSpec,
                target: MachineFiles) -> list[tuple[Path, DiskFormat]]:
    """Freeze each source disk as a shared base; source and clone each get an overlay.

    A base inside the machine's folder goes to the library's .bases folder so that deleting
    the source later cannot take the clone's data with it. It gets there as a second name
    (a hard link, or a copy where the file system has none), and the old name goes only
    after the source's record names its overlay: a crash at any point leaves the source's
    record naming a file that holds its data.
    """
    if snapshots.load(files, qemu_img).snapshots:
        raise InvalidState(f"{spec.name} has snapshots; a linked clone needs a machine "
                           "without them (delete them, or make a full clone)")
    source_paths: list[tuple[Path, DiskFormat]] = []
    clone_paths: list[tuple[Path, DiskFormat]] = []
    linked: list[tuple[Path, Path]] = []  # (original, base): the data twice until done
    made: list[Path] = []
    folder = files.folder.resolve()
    try:
        for index, (_, disk) in enumerate(spec.all_disks()):
            original = Path(disk.path)
            base = original
            if folder in original.resolve().parents:
                bases_dir(store).mkdir(exist_ok=True)
                base = bases_dir(store) / f"{uuid.uuid4()}.{disk.format.extension}"
                try:
                    os.link(original, base)
                except OSError:  # no hard links on this file system (FAT): slower, as safe
                    shutil.copyfile(original, base)
                linked.append((original, base))
            source_overlay = files.folder / f"disk{index}-{uuid.uuid4().hex[:8]}.qcow2"
            clone_overlay = target.disk_path(index, "qcow2")
            for overlay in (source_overlay, clone_overlay):
                qemu_img.create(overlay, DiskFormat.QCOW2, 0, backing_file=base,
                                backing_format=disk.format)
                made.append(overlay)
            source_paths.append((source_overlay, DiskFormat.QCOW2))
            clone_paths.append((clone_overlay, DiskFormat.QCOW2))
        store.save_spec(files, _with_disks(spec, source_paths))
    except BaseException:
        for overlay in made:
            overlay.unlink(missing_ok=True)
        for _, base in linked:  # the original name still holds the data
            base.unlink(missing_ok=True)
        raise
    for original, _ in linked:
        original.unlink(missing_ok=True)  # the base and the overlays hold it now
    return clone_paths


def collect_unused_bases(store: MachineStore, qemu_img: QemuImg) -> None:
    """Delete shared bases that no image in the library leans on any more.

    Every qcow2 in every machine folder counts (also disks kept from a deleted machine), and
    nothing is deleted when a folder's spec cannot be read: its disks might need a base.
    """
    folder = bases_dir(store)
    if not folder.is_dir():
        return
    machine_folders = [p for p in store.library.iterdir() if p.is_dir() and p != folder]
    if len(store.readable()) != len(store.all_files()):
        log.warning("a machine's spec cannot be read; keeping every base image")
        return
    images = [i for f in machine_folders for i in f.glob("*.qcow2")]
    images += [Path(d.path) for _, spec in store.readable() for _, d in spec.all_disks()]
    used: set[Path] = set()
    for image in images:
        path: Path | None = image
        while path is not None and path.resolve() not in used and path.exists():
            used.add(path.resolve())
            try:
                backing = qemu_img.info(path).backing_file
            except BackendError as error:
                log.warning("cannot read %s, keeping every base: %s", path, error.summary)
                return
            path = Path(backing) if backing else None
    for base in folder.iterdir():
        # A base with a second name is a linked clone caught half-way (see _link_disks):
        # its other name may be the only one a machine's record knows.
        if base.resolve() not in used and base.stat().st_nlink == 1:
            log.info("removing unused base image %s", base)
            base.unlink(missing_ok=True)
