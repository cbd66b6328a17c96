"""An in-memory backend: a reference implementation of the protocol's state rules.

It is not shipped. It lets the conformance suite check itself, and gives job-runner and
GUI tests a backend that can be told to fail, hang or be slow. Disks are real (empty)
files so delete-with/without-disks can be checked on the file system.
"""

from __future__ import annotations

import json
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
    name_problems,
    validate,
)
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
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
    states,
)
from desktopvm.protocol.keys import KEYS, UnknownKey, check_typeable, require_keys
from desktopvm.protocol.states import Operation

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
    screenshot=False,  # no console at all (the GUI tests patch one in where they need it)
    type_text=True,
    # Every key but SysRq: the reference has a key it cannot send, as Hyper-V has.
    keys=frozenset(KEYS) - {"sysrq"},
    export_formats=frozenset({"ova"}),
)

@dataclass
class _Machine:
    spec: MachineSpec
    state: PowerState = PowerState.OFF
    snapshots: list[tuple[Snapshot, str]] = field(default_factory=list)  # (snapshot, parent id)
    current: str = ""
    disk_files: list[Path] = field(default_factory=list)
    # The hardware each snapshot was taken with (snapshot id -> spec): a restore brings it back.
    snapshot_specs: dict[str, MachineSpec] = field(default_factory=dict)


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
        self.typed: list[tuple[str, str]] = []  # (machine id, text or key combination) sent

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
        cancel.raise_if_cancelled()
        machine_id = str(uuid.uuid4())
        created: list[Path] = []
        controllers = []
        count = max(1, len(spec.all_disks()))
        try:
            for c_index, controller in enumerate(spec.storage):
                disks = []
                for d_index, disk in enumerate(controller.disks):
                    progress(len(created) / count, "Creating disks")
                    cancel.raise_if_cancelled()
                    path = (Path(disk.path) if disk.path
                            else self.folder / f"{machine_id}-{c_index}-{d_index}.img")
                    if not disk.existing:
                        self._write_disk(path, disk.format, disk.size_bytes)
                        created.append(path)
                    disks.append(disk.model_copy(update={"path": str(path), "existing": True}))
                controllers.append(controller.model_copy(update={"disks": tuple(disks)}))
            progress(0.9, "Registering the machine")
            cancel.raise_if_cancelled()
        except BaseException:
            for path in created:
                path.unlink(missing_ok=True)
            raise
        final = spec.model_copy(update={"id": machine_id, "storage": tuple(controllers)})
        with self._lock:
            self._machines[machine_id] = _Machine(final, disk_files=created)
        progress(1.0, "Created")
        return machine_id

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        with self._lock:
            machine = self._get(machine_id)
            groups = changed_groups(old, new)
            if not groups:
                return
            problems = errors(validate(new, CAPABILITIES))
            if problems:
                raise InvalidSpec(problems)
            hardware = groups - {"name", "notes"}
            states.require(Operation.CHANGE_HARDWARE if hardware else Operation.CHANGE_NAME_NOTES,
                           machine.state, machine.spec.name)
            # Only what the user changed: a change made elsewhere meanwhile stays.
            update = {g: getattr(new, g) for g in groups}
            machine.spec = machine.spec.model_copy(update=update)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        with self._lock:
            machine = self._get(machine_id)
            if not states.allowed(Operation.DELETE, machine.state):
                raise InvalidState(f"{machine.spec.name} is {machine.state.value}; stop it first")
            del self._machines[machine_id]
        if delete_disks:
            for path in machine.disk_files:
                path.unlink(missing_ok=True)

    # -- lifecycle ----------------------------------------------------------------------
    def _transition(self, machine_id: str, operation: Operation, to: PowerState) -> None:
        """`to`, if the state table allows `operation` now (the CLI tests know the wording)."""
        with self._lock:
            machine = self._get(machine_id)
            if not states.allowed(operation, machine.state):
                raise InvalidState(f"Cannot {operation.value} {machine.spec.name}: it is "
                                   f"{machine.state.value}")
            machine.state = to

    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        self.calls.append("start")
        if self.gate is not None:
            self.gate.wait()
        self._transition(machine_id, Operation.START, PowerState.RUNNING)

    def shutdown(self, machine_id: str) -> None:
        self._transition(machine_id, Operation.SHUTDOWN, PowerState.OFF)

    def power_off(self, machine_id: str) -> None:
        with self._lock:
            if self._get(machine_id).state is PowerState.SAVED:
                self._transition(machine_id, Operation.DISCARD_SAVED_STATE, PowerState.OFF)
                return
        self._transition(machine_id, Operation.POWER_OFF, PowerState.OFF)

    def reset(self, machine_id: str) -> None:
        self._transition(machine_id, Operation.RESET, PowerState.RUNNING)

    def pause(self, machine_id: str) -> None:
        self._transition(machine_id, Operation.PAUSE, PowerState.PAUSED)

    def resume(self, machine_id: str) -> None:
        self._transition(machine_id, Operation.RESUME, PowerState.RUNNING)

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        self._transition(machine_id, Operation.SAVE_STATE, PowerState.SAVED)

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
            states.require(Operation.TAKE_SNAPSHOT, machine.state, machine.spec.name)
            snapshot = Snapshot(str(uuid.uuid4()), name, description, "2026-01-01T00:00:00Z",
                                include_memory and machine.state.is_active)
            machine.snapshots.append((snapshot, machine.current))
            machine.snapshot_specs[snapshot.id] = machine.spec
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
            # The hardware as it was; the name and notes as they are (as QEMU's backend does).
            then = machine.snapshot_specs.get(snapshot_id, machine.spec)
            machine.spec = then.model_copy(update={"name": machine.spec.name,
                                                   "notes": machine.spec.notes})
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
    def _fresh_disks(self, spec: MachineSpec, name: str, sizes: list[int]) -> MachineSpec:
        """`spec` named `name`, with new disks of the given sizes in place of its own."""
        remaining = iter(sizes)
        storage = tuple(c.model_copy(update={"disks": tuple(
            d.model_copy(update={"path": "", "existing": False, "size_bytes": next(remaining)})
            for d in c.disks)}) for c in spec.storage)
        return spec.model_copy(update={"name": name, "id": "", "storage": storage})

    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        problems = name_problems(new_name, CAPABILITIES)
        if problems:
            raise InvalidSpec(problems)
        with self._lock:
            source = self._get(machine_id)
            states.require(Operation.CLONE, source.state, source.spec.name)
            sizes = [self._disk_size(Path(d.path)) for _, d in source.spec.all_disks()]
            spec = self._fresh_disks(source.spec, new_name, sizes)
        return self.create(spec, progress=progress, cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        """An "appliance" of the double's own: the spec and disk sizes as JSON in an .ova."""
        if path.suffix.lower() != ".ova":
            raise UnsupportedOperation("The memory backend exports .ova files only")
        with self._lock:
            machine = self._get(machine_id)
            states.require(Operation.EXPORT, machine.state, machine.spec.name)
            sizes = [self._disk_size(Path(d.path)) for _, d in machine.spec.all_disks()]
            spec = machine.spec
        if path.exists():
            raise CommandFailed(f"{path} already exists; export will not overwrite it")
        progress(0.1, "Exporting")
        cancel.raise_if_cancelled()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "sizes": sizes}),
                        encoding="utf-8")
        progress(1.0, "Exported")

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        if name:
            problems = name_problems(name, CAPABILITIES)
            if problems:
                raise InvalidSpec(problems)  # before the appliance is read
        if path.suffix.lower() != ".ova":
            raise UnsupportedOperation("The memory backend imports .ova files only")
        cancel.raise_if_cancelled()
        progress(0.1, "Reading the appliance")
        try:
            package = json.loads(path.read_text(encoding="utf-8"))
            spec = MachineSpec.model_validate(package["spec"])
            sizes = [int(size) for size in package["sizes"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CommandFailed(f"Cannot import {path.name}: not an appliance") from error
        fresh = self._fresh_disks(spec, name or spec.name, sizes)
        return self.create(fresh, progress=lambda f, s: progress(
            None if f is None else 0.2 + 0.8 * f, s), cancel=cancel)

    # -- disks --------------------------------------------------------------------------
    # A disk of the double is a small JSON file: its format and its virtual size.
    @staticmethod
    def _write_disk(path: Path, disk_format: DiskFormat, size_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": disk_format.value, "size": size_bytes}),
                        encoding="utf-8")

    @staticmethod
    def _read_disk(path: Path) -> tuple[str, int]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return str(data["format"]), int(data["size"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CommandFailed(f"Cannot read the disk image {path}") from error

    def _disk_size(self, path: Path) -> int:
        return self._read_disk(path)[1]

    def _disk_info(self, path: Path) -> DiskInfo:
        fmt, size = self._read_disk(path)
        return DiskInfo(path=str(path), format=fmt, virtual_size=size,
                        actual_size=path.stat().st_size)

    def disk_info(self, path: Path) -> DiskInfo:
        return self._disk_info(path)

    @staticmethod
    def _require_format(disk_format: DiskFormat) -> None:
        if disk_format not in CAPABILITIES.disk_formats:
            raise UnsupportedOperation(f"The memory backend cannot make "
                                       f"{disk_format.value.upper()} disks")

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        self._require_format(disk_format)
        if path.exists():
            raise CommandFailed(f"{path} already exists; a new disk will not overwrite it")
        cancel.raise_if_cancelled()
        self._write_disk(path, disk_format, size_bytes)
        return self._disk_info(path)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        fmt, size = self._read_disk(path)
        if size_bytes < size:
            raise UnsupportedOperation("The memory backend does not shrink disks")
        cancel.raise_if_cancelled()
        path.unlink()
        self._write_disk(path, DiskFormat(fmt), size_bytes)
        return self._disk_info(path)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        self._require_format(disk_format)
        _, size = self._read_disk(source)
        if target.exists():
            raise CommandFailed(f"{target} already exists; a conversion will not overwrite it")
        cancel.raise_if_cancelled()
        self._write_disk(target, disk_format, size)
        return self._disk_info(target)

    # -- consoles -----------------------------------------------------------------------
    def _live(self, machine_id: str) -> _Machine:
        with self._lock:
            machine = self._get(machine_id)
            states.require(Operation.CONSOLE, machine.state, machine.spec.name)
            return machine

    def console(self, machine_id: str) -> ConsoleEndpoints:
        self._get(machine_id)
        return ConsoleEndpoints()  # no way in: its capabilities declare no console

    def screenshot(self, machine_id: str) -> bytes:
        self._live(machine_id)
        raise UnsupportedOperation("The memory backend has no screen")

    def type_text(self, machine_id: str, text: str) -> None:
        self._live(machine_id)
        try:
            checked = check_typeable(text, self.display_name)
        except UnknownKey as error:
            raise UnsupportedOperation(str(error)) from error
        self.typed.append((machine_id, checked))

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        self._live(machine_id)
        try:  # every combination is checked before any is sent
            combos = [require_keys(combo, CAPABILITIES.keys, self.display_name)
                      for combo in keys]
        except UnknownKey as error:
            raise UnsupportedOperation(str(error)) from error
        self.typed += [(machine_id, "-".join(combo)) for combo in combos]
