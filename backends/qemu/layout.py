"""Where one QEMU machine keeps its files: the VM folder in the library, and its runtime folder."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


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
        return self.folder / "qemu.log"

    def disk_path(self, index: int, extension: str) -> Path:
        """A new disk's file in the folder."""
        return self.folder / f"disk{index}.{extension}"

    def run_dir(self) -> Path:
        """A short runtime folder for sockets (unix socket paths are limited to ~107 bytes)."""
        digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:12]
        user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        return Path(tempfile.gettempdir()) / f"desktopvm-{user}" / digest


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
