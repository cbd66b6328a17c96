"""The `Backend` protocol every hypervisor implements: synchronous, Qt-free, cancellable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from desktopvm.protocol.progress import CancelToken, Progress
from desktopvm.protocol.types import (
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    MachineInfo,
    MachineSummary,
    ProbeResult,
    Snapshot,
    StartMode,
)

if TYPE_CHECKING:
    from desktopvm.model.capabilities import Capabilities
    from desktopvm.model.devices import DiskFormat
    from desktopvm.model.machine import MachineSpec


@runtime_checkable
class Backend(Protocol):
    """One hypervisor on one host.

    Every call may block (a process, a socket, a remote shell) and must therefore run off the
    GUI thread. Long operations take `progress` and `cancel`; a cancelled operation removes
    what it created and raises OperationCancelled. Failures raise BackendError subclasses.
    Operations a backend cannot do raise UnsupportedOperation (and its capabilities say so).
    """

    name: str  # stable id: "qemu", "virtualbox", "hyperv"
    display_name: str  # "QEMU", "VirtualBox", "Hyper-V"
    host: str  # "localhost" or the remote host's name

    # -- discovery -------------------------------------------------------------------------
    def probe(self) -> ProbeResult: ...
    def capabilities(self) -> Capabilities: ...
    def host_info(self) -> HostInfo: ...

    # -- inventory and configuration -------------------------------------------------------
    def list_machines(self) -> list[MachineSummary]: ...
    def get_machine(self, machine_id: str) -> MachineInfo: ...
    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str: ...
    def update(
        self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
        cancel: CancelToken,
    ) -> None: ...
    def delete(
        self, machine_id: str, *, delete_disks: bool, progress: Progress, cancel: CancelToken
    ) -> None: ...

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None: ...
    def shutdown(self, machine_id: str) -> None: ...
    def power_off(self, machine_id: str) -> None: ...
    def reset(self, machine_id: str) -> None: ...
    def pause(self, machine_id: str) -> None: ...
    def resume(self, machine_id: str) -> None: ...
    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None: ...

    # -- snapshots -------------------------------------------------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]: ...
    def take_snapshot(
        self, machine_id: str, name: str, *, description: str = "", include_memory: bool = True,
        progress: Progress, cancel: CancelToken,
    ) -> Snapshot: ...
    def restore_snapshot(
        self, machine_id: str, snapshot_id: str, *, progress: Progress, cancel: CancelToken
    ) -> None: ...
    def delete_snapshot(
        self, machine_id: str, snapshot_id: str, *, progress: Progress, cancel: CancelToken
    ) -> None: ...

    # -- copies ----------------------------------------------------------------------------
    def clone(
        self, machine_id: str, new_name: str, *, linked: bool = False, snapshot_id: str = "",
        progress: Progress, cancel: CancelToken,
    ) -> str: ...
    def export(
        self, machine_id: str, path: Path, *, progress: Progress, cancel: CancelToken
    ) -> None: ...
    def import_machine(
        self, path: Path, *, name: str = "", progress: Progress, cancel: CancelToken
    ) -> str: ...

    # -- disks -----------------------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo: ...
    def create_disk(
        self, path: Path, disk_format: DiskFormat, size_bytes: int, *, progress: Progress,
        cancel: CancelToken,
    ) -> DiskInfo: ...
    def resize_disk(
        self, path: Path, size_bytes: int, *, progress: Progress, cancel: CancelToken
    ) -> DiskInfo: ...
    def convert_disk(
        self, source: Path, target: Path, disk_format: DiskFormat, *, progress: Progress,
        cancel: CancelToken,
    ) -> DiskInfo: ...

    # -- consoles --------------------------------------------------------------------------
    def console(self, machine_id: str) -> ConsoleEndpoints: ...
    def screenshot(self, machine_id: str) -> bytes: ...
    def type_text(self, machine_id: str, text: str) -> None: ...
    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None: ...
