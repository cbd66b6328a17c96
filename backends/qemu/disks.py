"""The QEMU backend's disks: made for new machines, checked when they come from outside, tools.

A disk the user brings (an existing file) is read by its headers before qemu-img or QEMU opens
it (`desktopvm.images`): no backing file, data file or far extent, and its format is what its
contents say, whatever the file is called.
"""

from __future__ import annotations

from pathlib import Path

from backends.qemu import firmware_state
from backends.qemu.firmware import Firmware as FirmwareBuild
from backends.qemu.layout import MachineFiles
from backends.qemu.qemu_img import QemuImg
from desktopvm.images import ImageFacts, UnsafeImage, check_untrusted, disk_format, inspect_image
from desktopvm.model import (
    DiskFormat,
    Firmware,
    MachineSpec,
    Problem,
    Severity,
    StorageController,
)
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    DiskInfo,
    InvalidSpec,
    Progress,
    UnsupportedOperation,
)


class Disks:
    """Disk files of machines (through the qemu-img door) and the UEFI variable stores."""

    def __init__(self, qemu_img: QemuImg, uefi: FirmwareBuild | None,
                 secure_uefi: FirmwareBuild | None) -> None:
        self.qemu_img = qemu_img
        self.uefi = uefi
        self.secure_uefi = secure_uefi

    def make(self, files: MachineFiles, controllers: tuple[StorageController, ...],
             made: list[Path], cancel: CancelToken,
             own: frozenset[Path] = frozenset()) -> tuple[StorageController, ...]:
        """Create the disks a spec asks for; returns controllers with real, absolute paths.

        Every disk created is appended to `made` at once (for the caller's undo). An existing
        disk that is not one of the machine's `own` comes from outside and is checked.
        """
        result = []
        for controller in controllers:
            disks = []
            for disk in controller.disks:
                cancel.raise_if_cancelled()
                fmt = disk.format
                if disk.existing:
                    path = Path(disk.path).expanduser().resolve()
                    if path not in own:
                        fmt = outside_format(path)
                else:
                    path = (Path(disk.path).expanduser().resolve() if disk.path
                            else files.free_disk_path(disk.format.extension, made))
                    self.qemu_img.create(path, disk.format, disk.size_bytes, cancel=cancel)
                    made.append(path)
                disks.append(disk.model_copy(update={"path": str(path), "existing": True,
                                                     "format": fmt}))
            optical = tuple(o.model_copy(update={"iso": str(Path(o.iso).expanduser().resolve())})
                            if o.iso else o for o in controller.optical)
            result.append(controller.model_copy(update={"disks": tuple(disks),
                                                        "optical": optical}))
        return tuple(result)

    def firmware(self, spec: MachineSpec) -> FirmwareBuild | None:
        """The OVMF build a UEFI machine boots (None for BIOS)."""
        if spec.firmware.kind is not Firmware.UEFI:
            return None
        return self.secure_uefi if spec.firmware.secure_boot else self.uefi

    def ensure_nvram(self, files: MachineFiles, spec: MachineSpec) -> None:
        """UEFI machines get their own copy of the firmware's variable store (as qcow2)."""
        if spec.firmware.kind is not Firmware.UEFI:
            return
        # A store a killed restore put aside goes back first: never a fresh one over it.
        firmware_state.recover(files)
        if files.nvram.exists():
            return
        build = self.firmware(spec)
        if build is None:
            raise UnsupportedOperation("No UEFI firmware is installed (sudo apt-get install ovmf)")
        self.qemu_img.convert(build.vars_template, files.nvram, DiskFormat.QCOW2)

    # -- the disk tools ---------------------------------------------------------------------
    def info(self, path: Path) -> DiskInfo:
        """What the image is, from its headers first: files it names are never opened."""
        facts = _inspected(path)
        backing_only = facts.format == "qcow2" and facts.references == (
            f"backing file {facts.backing_file!r}",)
        if facts.self_contained or backing_only:
            # The format is given, never probed, and a backing file is named, not opened.
            return self.qemu_img.info(path, source_format=disk_format(facts))
        try:  # VMware's split disks: extents beside the descriptor are fine
            checked = check_untrusted(path, local_extents=True, label=path.name)
        except UnsafeImage as refused:
            # qemu-img would open the files it names; say what the headers say instead.
            return DiskInfo(path=str(path), format=facts.format, virtual_size=facts.virtual_size,
                            actual_size=_allocated(path), backing_file=facts.backing_file,
                            details={"refers to": list(facts.references),
                                     "refused": str(refused)})
        return self.qemu_img.info(path, source_format=disk_format(checked))

    def create(self, path: Path, fmt: DiskFormat, size_bytes: int,
               cancel: CancelToken) -> DiskInfo:
        """A new empty disk image."""
        return self.qemu_img.create(path, fmt, size_bytes, cancel=cancel)

    def resize(self, path: Path, size_bytes: int, cancel: CancelToken) -> DiskInfo:
        """Grow a disk image (never shrinks)."""
        return self.qemu_img.resize(path, size_bytes, cancel=cancel)

    def convert(self, source: Path, target: Path, fmt: DiskFormat, progress: Progress,
                cancel: CancelToken) -> DiskInfo:
        """A copy of `source` (checked: it may come from anywhere) in another format."""
        subformat = "streamOptimized" if fmt is DiskFormat.VMDK else ""
        try:
            source_format = checked_format(source)
        except UnsafeImage as error:
            raise CommandFailed(f"Cannot convert {source.name}: {error}") from error
        return self.qemu_img.convert(source, target, fmt, subformat=subformat,
                                     source_format=source_format, progress=progress,
                                     cancel=cancel)


def remove_files(paths: list[Path]) -> None:
    """Delete each of `paths` (an undo step: the list may still grow until it runs)."""
    for path in paths:
        path.unlink(missing_ok=True)


def checked_format(path: Path) -> DiskFormat:
    """The format of a disk the user brings, from its headers; UnsafeImage if it reaches out."""
    return disk_format(check_untrusted(path, local_extents=True, label=path.name))


def outside_format(path: Path) -> DiskFormat:
    """checked_format, refusals as invalid machine settings."""
    try:
        return checked_format(path)
    except UnsafeImage as error:
        raise InvalidSpec([Problem(field="storage", severity=Severity.ERROR,
                                   message=str(error))]) from error


def _inspected(path: Path) -> ImageFacts:
    """The headers' facts of an image, or the reason it cannot be read, as a backend error."""
    try:
        return inspect_image(path.expanduser().resolve(), name=path.name)
    except OSError as error:
        raise CommandFailed(f"Cannot read the disk image {path}: {error.strerror}") from error
    except UnsafeImage as error:
        raise CommandFailed(str(error)) from error


def _allocated(path: Path) -> int:
    """The bytes a file really takes on disk (sparse files take less than their size)."""
    try:
        info = path.stat()
    except OSError:
        return 0
    return getattr(info, "st_blocks", 0) * 512 or info.st_size
