"""A CapturingBackend stand-in whose disks are real qcow2 files, written with real qemu-io.

It keeps what it wrote since the last capture point (as QEMU's dirty bitmaps would) and
captures with real qemu-img: a full capture converts each disk to a compressed qcow2, an
incremental one makes an empty qcow2 of the disk's size and writes only the changed ranges
into it — the same file blockdev-backup sync=incremental writes.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from desktopvm.model import Disk, DiskFormat, MachineSpec, StorageController
from desktopvm.model.capabilities import Capabilities, generic_capabilities
from desktopvm.model.devices import ControllerKind
from desktopvm.protocol import (
    CancelToken,
    Capture,
    CapturedDisk,
    FirmwareState,
    MachineInfo,
    MachineSummary,
    PowerState,
    Progress,
)

MIB = 1024 * 1024


def qemu_io(path: Path, command: str) -> None:
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, str(path)], check=True,
                   capture_output=True)


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def read_bytes(path: Path, offset: int, length: int) -> bytes:
    """The guest-visible bytes of a qcow2 (its own file only, no backing), via a raw copy."""
    out = path.with_name(path.name + ".read.raw")
    source = 'json:{"driver": "qcow2", "backing": null, "file": {"driver": "file", ' \
             f'"filename": "{path}"}}}}'
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", source, str(out)], check=True,
                   capture_output=True)
    with out.open("rb") as file:
        file.seek(offset)
        data = file.read(length)
    out.unlink()
    return data


class CaptureDouble:
    """One machine with qcow2 disks that captures itself (see the module docstring)."""

    display_name = "Capture double"
    host = "localhost"

    def __init__(self, folder: Path, sizes: tuple[int, ...] = (4 * MIB,), *,
                 name: str = "web", connection: str = "double") -> None:
        self.name = connection
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        disks = []
        for index, size in enumerate(sizes):
            path = folder / f"machine-disk{index}.qcow2"
            qemu_img("create", "-q", "-f", "qcow2", str(path), str(size))
            disks.append(Disk(path=str(path), format=DiskFormat.QCOW2, size_bytes=size,
                              port=index, existing=True))
        self.spec = MachineSpec(id="m1", name=name, notes="the notes",
                                storage=(StorageController(name="SATA", kind=ControllerKind.SATA,
                                                           disks=tuple(disks)),))
        self.state = PowerState.RUNNING
        self.dirty: list[tuple[int, int, int, int]] = []  # disk, offset, length, pattern
        self.point = ""
        self.counter = 0
        self.captures: list[str] = []  # the `since` of each capture asked for
        self.between_disks: Callable[[int], None] = lambda _index: None
        self.hand_over = DiskFormat.QCOW2  # what full captures hand over (Hyper-V: VHDX)
        self.hand_over_subformat = ""  # e.g. ESXi's VMDKs: "streamOptimized"
        self.elsewhere: Path | None = None  # a capture that names a file outside its folder
        # The firmware state each capture hands over: "nvram.fd" and "tpm/<name>" -> bytes.
        self.firmware: dict[str, bytes] = {}

    def disk(self, index: int) -> Path:
        return Path(self.spec.all_disks()[index][1].path)

    def write(self, index: int, offset: int, length: int, pattern: int) -> None:
        """The guest writes `length` bytes of `pattern` at `offset` of disk `index`."""
        qemu_io(self.disk(index), f"write -P {pattern} {offset} {length}")
        self.dirty.append((index, offset, length, pattern))

    # -- the parts of Backend that back_up uses -------------------------------------------
    def capabilities(self) -> Capabilities:
        return generic_capabilities().model_copy(update={"backend": self.name,
                                                         "backup_running": True,
                                                         "backup_incremental": True})

    def get_machine(self, machine_id: str) -> MachineInfo:
        summary = MachineSummary(backend=self.name, id=machine_id, name=self.spec.name,
                                 state=self.state)
        return MachineInfo(summary=summary, spec=self.spec)

    def capture(self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
                progress: Progress, cancel: CancelToken) -> Capture:
        self.captures.append(since)
        incremental = bool(since) and since == self.point
        captured = []
        try:
            for index, (controller, disk) in enumerate(self.spec.all_disks()):
                cancel.raise_if_cancelled()
                out = folder / f"disk{index + 1}.qcow2"
                if incremental:
                    qemu_img("create", "-q", "-f", "qcow2", str(out), str(disk.size_bytes))
                    for which, offset, length, pattern in self.dirty:
                        if which == index:
                            qemu_io(out, f"write -P {pattern} {offset} {length}")
                elif self.hand_over is not DiskFormat.QCOW2:
                    out = out.with_suffix(f".{self.hand_over.value}")
                    options = ["-o", f"subformat={self.hand_over_subformat}"] \
                        if self.hand_over_subformat else []
                    qemu_img("convert", "-f", "qcow2", "-O", self.hand_over.value, *options,
                             disk.path, str(out))
                else:
                    qemu_img("convert", *(["-c"] if compress else []), "-f", "qcow2", "-O",
                             "qcow2", disk.path, str(out))
                captured.append(CapturedDisk(controller=controller, port=disk.port,
                                             device=disk.device, path=self.elsewhere or out,
                                             format=DiskFormat.QCOW2 if incremental
                                             else self.hand_over,
                                             virtual_size=disk.size_bytes,
                                             incremental=incremental))
                progress((index + 1) / len(self.spec.all_disks()), "Capturing")
                self.between_disks(index)
            cancel.raise_if_cancelled()
        except BaseException:
            for path in folder.iterdir():  # a failed capture removes what it wrote
                path.unlink() if path.is_file() else shutil.rmtree(path)
            raise
        self.counter += 1
        self.point = f"point-{self.counter}"
        self.dirty = []
        return Capture(spec=self.spec, disks=tuple(captured), point=self.point,
                       was_running=self.state is PowerState.RUNNING,
                       firmware=self._firmware(folder))

    def _firmware(self, folder: Path) -> FirmwareState:
        """The firmware files written into the capture's folder, as QEMU's capture does."""
        for name, data in self.firmware.items():
            (folder / name).parent.mkdir(exist_ok=True)
            (folder / name).write_bytes(data)
        return FirmwareState(
            nvram=folder / "nvram.fd" if "nvram.fd" in self.firmware else None,
            tpm=tuple(folder / n for n in sorted(self.firmware) if n.startswith("tpm/")))

    def forget_capture_points(self, machine_id: str) -> None:
        self.point = ""
