"""An in-memory backend: a reference implementation of the protocol's state rules.

It is not shipped. It lets the conformance suite check itself, and gives job-runner and
GUI tests a backend that can be told to fail, hang or be slow. Disks are real (empty)
files so delete-with/without-disks can be checked on the file system.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktopvm.model import (
    Capabilities,
    ControllerKind,
    DiskFormat,
    Firmware,
    MachineSpec,
    NetworkAttachment,
    NicModel,
    SerialMode,
    changed_groups,
    errors,
    validate,
)
from desktopvm.protocol import (
    CancelToken,
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    InvalidSpec,
    InvalidState,
    MachineInfo,
    MachineNotFound,
    MachineSummary,
    PowerState,
    ProbeResult,
    Progress,
    Snapshot,
    StartMode,
    UnsupportedOperation,
)

CAPABILITIES = Capabilities(
    backend="Memory",
    firmware=frozenset({Firmware.BIOS, Firmware.UEFI}),
    secure_boot=True,
    max_cpus=8,
    max_memory_mib=8192,
    disk_formats=frozenset({DiskFormat.QCOW2, DiskFormat.RAW}),
    controller_kinds=frozenset({ControllerKind.SATA, ControllerKind.VIRTIO, ControllerKind.IDE}),
    ports_per_controller={ControllerKind.SATA: 6, ControllerKind.IDE: 2},
    devices_per_port={ControllerKind.IDE: 2},
    network_attachments=frozenset({NetworkAttachment.NAT, NetworkAttachment.NONE}),
    nic_models=frozenset({NicModel.E1000, NicModel.VIRTIO}),
    serial_modes=frozenset({SerialMode.SOCKET}),
    max_serial_ports=1,
    live_snapshot_with_memory=True,
    linked_clone=True,
)


@dataclass
class _Machine:
    spec: MachineSpec
    state: PowerState = PowerState.OFF
    snapshots: list[tuple[Snapshot, str]] = field(default_factory=list)  # (snapshot, parent id)
    current: str = ""
    disk_files: list[Path] = field(default_factory=list)


class MemoryBackend:
    """Implements `desktopvm.protocol.Backend` in memory. Thread-safe."""

    name = "memory"
    display_name = "Memory"
    host = "localhost"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._machines: dict[str, _Machine] = {}
        self._lock = threading.RLock()
        self.fail_next: Exception | None = None  # raised by the next list_machines()
        self.gate: threading.Event | None = None  # when set, start() waits on it (a "hang")
        self.calls: list[str] = []
        self.closed_in: threading.Thread | None = None  # the thread close() ran on

    def close(self) -> None:
        """Like a backend holding a session (Hyper-V): remembers it was closed, and where."""
        self.closed_in = threading.current_thread()

    # -- discovery ----------------------------------------------------------------------
    def probe(self) -> ProbeResult:
        return ProbeResult(self.name, True, version="1.0")

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def host_info(self) -> HostInfo:
        return HostInfo(hostname="localhost", cpus=8, memory_mib=8192)

    # -- inventory ----------------------------------------------------------------------
    def _get(self, machine_id: str) -> _Machine:
        machine = self._machines.get(machine_id)
        if machine is None:
            raise MachineNotFound(f"No machine with id {machine_id}")
        return machine

    def _summary(self, machine_id: str, machine: _Machine) -> MachineSummary:
        spec = machine.spec
        return MachineSummary(self.name, machine_id, spec.name, machine.state, os=spec.os,
                              cpus=spec.cpu.count, memory_mib=spec.memory.size_mib)

    def list_machines(self) -> list[MachineSummary]:
        self.calls.append("list_machines")
        with self._lock:
            if self.fail_next is not None:
                error, self.fail_next = self.fail_next, None
                raise error
            return [self._summary(i, m) for i, m in self._machines.items()]

    def get_machine(self, machine_id: str) -> MachineInfo:
        with self._lock:
            machine = self._get(machine_id)
            roots, current = self.list_snapshots(machine_id)
            return MachineInfo(self._summary(machine_id, machine), machine.spec, roots, current,
                               files=tuple(str(p) for p in machine.disk_files))

    def adopt(self, spec: MachineSpec) -> str:
        """A machine made outside DesktopVM (in the hypervisor's own tools): not validated, so
        its name may break every rule (tests of how such names are shown)."""
        machine_id = str(uuid.uuid4())
        with self._lock:
            self._machines[machine_id] = _Machine(spec.model_copy(update={"id": machine_id}))
        return machine_id

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        problems = errors(validate(spec, CAPABILITIES))
        if problems:
            raise InvalidSpec(problems)
        machine_id = str(uuid.uuid4())
        created: list[Path] = []
        controllers = []
        try:
            for c_index, controller in enumerate(spec.storage):
                disks = []
                for d_index, disk in enumerate(controller.disks):
                    cancel.raise_if_cancelled()
                    path = (Path(disk.path) if disk.path
                            else self.folder / f"{machine_id}-{c_index}-{d_index}.img")
                    if not disk.existing:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(b"")
                        created.append(path)
                    disks.append(disk.model_copy(update={"path": str(path), "existing": True}))
                controllers.append(controller.model_copy(update={"disks": tuple(disks)}))
            cancel.raise_if_cancelled()
        except BaseException:
            for path in created:
                path.unlink(missing_ok=True)
            raise
        final = spec.model_copy(update={"id": machine_id, "storage": tuple(controllers)})
        with self._lock:
            self._machines[machine_id] = _Machine(final, disk_files=created)
        return machine_id

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        problems = errors(validate(new, CAPABILITIES))
        if problems:
            raise InvalidSpec(problems)
        with self._lock:
            machine = self._get(machine_id)
            groups = changed_groups(old, new)
            if machine.state is not PowerState.OFF and groups - {"name", "notes"}:
                raise InvalidState(f"{machine.spec.name} must be off to change "
                                   f"{', '.join(sorted(groups))}")
            update = {g: getattr(new, g) for g in groups}
            machine.spec = machine.spec.model_copy(update=update)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        with self._lock:
            machine = self._get(machine_id)
            if machine.state.is_active:
                raise InvalidState(f"{machine.spec.name} is {machine.state.value}; stop it first")
            del self._machines[machine_id]
        if delete_disks:
            for path in machine.disk_files:
                path.unlink(missing_ok=True)

    # -- lifecycle ----------------------------------------------------------------------
    def _transition(self, machine_id: str, allowed: set[PowerState], to: PowerState,
                    verb: str) -> None:
        with self._lock:
            machine = self._get(machine_id)
            if machine.state not in allowed:
                raise InvalidState(f"Cannot {verb} {machine.spec.name}: it is "
                                   f"{machine.state.value}")
            machine.state = to

    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        self.calls.append("start")
        if self.gate is not None:
            self.gate.wait()
        self._transition(machine_id, {PowerState.OFF, PowerState.SAVED, PowerState.ABORTED},
                         PowerState.RUNNING, "start")

    def shutdown(self, machine_id: str) -> None:
        self._transition(machine_id, {PowerState.RUNNING}, PowerState.OFF, "shut down")

    def power_off(self, machine_id: str) -> None:
        self._transition(machine_id, {PowerState.RUNNING, PowerState.PAUSED}, PowerState.OFF,
                         "power off")

    def reset(self, machine_id: str) -> None:
        self._transition(machine_id, {PowerState.RUNNING}, PowerState.RUNNING, "reset")

    def pause(self, machine_id: str) -> None:
        self._transition(machine_id, {PowerState.RUNNING}, PowerState.PAUSED, "pause")

    def resume(self, machine_id: str) -> None:
        self._transition(machine_id, {PowerState.PAUSED}, PowerState.RUNNING, "resume")

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        self._transition(machine_id, {PowerState.RUNNING, PowerState.PAUSED}, PowerState.SAVED,
                         "save")

    # -- snapshots ----------------------------------------------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        with self._lock:
            machine = self._get(machine_id)

            def build(parent: str) -> tuple[Snapshot, ...]:
                return tuple(
                    Snapshot(s.id, s.name, s.description, s.created, s.has_memory,
                             children=build(s.id))
                    for s, p in machine.snapshots if p == parent)

            return build(""), machine.current

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        with self._lock:
            machine = self._get(machine_id)
            snapshot = Snapshot(str(uuid.uuid4()), name, description, "2026-01-01T00:00:00Z",
                                include_memory and machine.state.is_active)
            machine.snapshots.append((snapshot, machine.current))
            machine.current = snapshot.id
            return snapshot

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        with self._lock:
            machine = self._get(machine_id)
            if snapshot_id not in {s.id for s, _ in machine.snapshots}:
                raise MachineNotFound(f"No snapshot {snapshot_id}")
            if machine.state.is_active:
                raise InvalidState("Stop the machine before restoring a snapshot")
            machine.current = snapshot_id

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        with self._lock:
            machine = self._get(machine_id)
            entries = {s.id: (s, p) for s, p in machine.snapshots}
            if snapshot_id not in entries:
                raise MachineNotFound(f"No snapshot {snapshot_id}")
            parent = entries[snapshot_id][1]
            machine.snapshots = [(s, parent if p == snapshot_id else p)
                                 for s, p in machine.snapshots if s.id != snapshot_id]
            if machine.current == snapshot_id:
                machine.current = parent

    # -- copies -------------------------------------------------------------------------
    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        with self._lock:
            source = self._get(machine_id)
            spec = source.spec.model_copy(update={"name": new_name, "id": ""})
            storage = tuple(c.model_copy(update={"disks": tuple(
                d.model_copy(update={"path": "", "existing": False, "size_bytes": 1})
                for d in c.disks)}) for c in spec.storage)
        return self.create(spec.model_copy(update={"storage": storage}), progress=progress,
                           cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        raise UnsupportedOperation("The memory backend cannot export")

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        raise UnsupportedOperation("The memory backend cannot import")

    # -- disks and consoles -------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo:
        raise UnsupportedOperation("The memory backend has no disk tools")

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        raise UnsupportedOperation("The memory backend has no disk tools")

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        raise UnsupportedOperation("The memory backend has no disk tools")

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        raise UnsupportedOperation("The memory backend has no disk tools")

    def console(self, machine_id: str) -> ConsoleEndpoints:
        self._get(machine_id)
        return ConsoleEndpoints()

    def screenshot(self, machine_id: str) -> bytes:
        raise UnsupportedOperation("The memory backend has no screen")

    def type_text(self, machine_id: str, text: str) -> None:
        raise UnsupportedOperation("The memory backend has no keyboard")

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        raise UnsupportedOperation("The memory backend has no keyboard")
