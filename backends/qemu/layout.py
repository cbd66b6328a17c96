"""Where one QEMU machine keeps its files: the VM folder in the library, and its runtime folder."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from desktopvm.protocol import BackendError


@dataclass(frozen=True)
class MachineFiles:
    """The files of one machine. The folder is named by the machine's id, never its name."""

    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def spec(self) -> Path:
        return self.folder / "machine.json"

    @property
    def snapshots(self) -> Path:
        return self.folder / "snapshots.json"

    @property
    def runtime(self) -> Path:
        """Present while QEMU runs: pid and socket paths, so any process can reconnect."""
        return self.folder / "runtime.json"

    @property
    def nvram(self) -> Path:
        return self.folder / "nvram.qcow2"

    @property
    def tpm_state(self) -> Path:
        return self.folder / "tpm"

    @property
    def saved_state(self) -> Path:
        return self.folder / "saved-state.bin"

    @property
    def aborted_marker(self) -> Path:
        return self.folder / "aborted"

    @property
    def log(self) -> Path:
        """What QEMU said while this machine last ran (warnings, why it stopped)."""
        return self.folder / "qemu.log"

    @property
    def previous_log(self) -> Path:
        """The run before's log (process.rotate_log)."""
        return self.folder / "qemu.log.1"

    @property
    def lock(self) -> Path:
        return self.folder / ".lock"

    @property
    def first_boot(self) -> Path:
        """An installer's one boot straight into its kernel (first_boot.py), with its files."""
        return self.folder / "first-boot.json"

    @property
    def first_boot_kernel(self) -> Path:
        return self.folder / "first-boot-kernel"

    @property
    def first_boot_initrd(self) -> Path:
        return self.folder / "first-boot-initrd"

    def metadata(self) -> list[Path]:
        """Everything the backend itself keeps in the folder (never a disk)."""
        return [self.spec, self.snapshots, self.runtime, self.nvram, self.tpm_state,
                self.saved_state, self.saved_state.with_name(self.saved_state.name + ".partial"),
                self.aborted_marker, self.log, self.previous_log, self.folder / "swtpm.log",
                self.first_boot, self.first_boot_kernel, self.first_boot_initrd, self.lock,
                # What a killed restore of the firmware state left (it holds TPM secrets).
                *sorted(self.folder.glob(f".{self.nvram.name}.*")),
                *sorted(self.folder.glob(f".{self.tpm_state.name}.*")),
                *sorted(self.folder.glob(".firmware-restore-*"))]

    def disk_path(self, index: int, extension: str) -> Path:
        """A new disk's file in the folder."""
        return self.folder / f"disk{index}.{extension}"

    def free_disk_path(self, extension: str, taken: Collection[Path] = ()) -> Path:
        """The first diskN.ext that neither exists nor is about to be made."""
        index = 0
        while (path := self.disk_path(index, extension)).exists() or path in taken or any(
                self.folder.glob(f"disk{index}.*")):
            index += 1
        return path

    def run_dir(self) -> Path:
        """A short runtime folder for sockets (unix socket paths are limited to ~107 bytes)."""
        digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:12]
        return runtime_root() / digest


def runtime_root() -> Path:
    """This user's private folder for machine sockets: $XDG_RUNTIME_DIR, else one in /tmp.

    A folder in a shared /tmp is created 0700 and refused when someone else owns it, so no
    other user can put fake QMP or VNC sockets in our way.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and Path(runtime).is_dir():
        root = Path(runtime) / "desktopvm"
    else:
        user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        root = Path(tempfile.gettempdir()) / f"desktopvm-{user}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid"):
        info = root.lstat()
        if not stat.S_ISLNK(info.st_mode) and info.st_uid == os.getuid() and \
                info.st_mode & 0o077:
            root.chmod(0o700)  # ours, made by an older version: make it private
        elif stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            raise BackendError(f"{root} is not a private folder of this user; refusing to "
                               "put machine sockets there")
    return root


@dataclass(frozen=True)
class RunFiles:
    """Sockets and pid files of a running machine."""

    folder: Path

    @property
    def qmp(self) -> Path:
        return self.folder / "qmp.sock"

    @property
    def vnc(self) -> Path:
        return self.folder / "vnc.sock"

    @property
    def pid(self) -> Path:
        return self.folder / "qemu.pid"

    @property
    def swtpm_socket(self) -> Path:
        return self.folder / "swtpm.sock"

    @property
    def swtpm_pid(self) -> Path:
        return self.folder / "swtpm.pid"

    @property
    def migration(self) -> Path:
        return self.folder / "migrate.sock"

    def serial(self, number: int) -> Path:
        return self.folder / f"serial{number}.sock"
