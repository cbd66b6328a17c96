"""QemuBackend: machines in a library folder, run by detached QEMU processes driven over QMP."""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from backends.qemu import appliances, copies, host, keys, process, qmp, snapshots
from backends.qemu.firmware import find_firmware
from backends.qemu.layout import MachineFiles
from backends.qemu.lifecycle import Lifecycle
from backends.qemu.qemu_img import QemuImg
from backends.qemu.store import MachineStore
from desktopvm.images import (
    ImageFacts,
    UnsafeImage,
    check_untrusted,
    disk_format,
    inspect_image,
)
from desktopvm.model import (
    Capabilities,
    DiskFormat,
    Firmware,
    MachineSpec,
    Problem,
    Severity,
    StorageController,
    changed_groups,
)
from desktopvm.protocol import (
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    InvalidSpec,
    MachineInfo,
    MachineSummary,
    ProbeResult,
    Progress,
    SerialEndpoint,
    Snapshot,
    StartMode,
    UnsupportedOperation,
    VncEndpoint,
    states,
)
from desktopvm.protocol.keys import UnknownKey
from desktopvm.protocol.states import Operation
from desktopvm.protocol.undo import Undo
from desktopvm.protocol.validity import require_valid
from desktopvm.settings import Settings

log = logging.getLogger(__name__)


def random_mac() -> str:
    """A locally administered address in QEMU's 52:54:00 range."""
    tail = secrets.token_bytes(3)
    return "52:54:00:" + ":".join(f"{b:02X}" for b in tail)


class QemuBackend:
    """The QEMU backend (see the package docstring)."""

    name = "qemu"
    display_name = "QEMU"
    host = "localhost"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.binary = process.find_qemu(settings.qemu_binary) or ""
        self.store = MachineStore(settings.library())
        self.qemu_img = QemuImg()
        self.uefi, self.secure_uefi = find_firmware()
        self._accel = ""
        self.lifecycle = Lifecycle(self)

    # -- discovery --------------------------------------------------------------------------
    def probe(self) -> ProbeResult:
        if not self.binary:
            return ProbeResult(self.name, False, reason="qemu-system-x86_64 is not installed",
                               install_hint=process.install_hint())
        try:
            version = process.qemu_version(self.binary)
        except BackendUnavailable as error:
            return ProbeResult(self.name, False, reason=error.summary,
                               install_hint=error.install_hint)
        tools = self.qemu_img.probe()
        if not tools.available:
            return ProbeResult(self.name, False, version=version, reason=tools.reason,
                               install_hint=tools.install_hint)
        return ProbeResult(self.name, True, version=version)

    def capabilities(self) -> Capabilities:
        return host.capabilities(self.uefi, self.secure_uefi, process.find_swtpm() is not None)

    def host_info(self) -> HostInfo:
        return host.host_info()

    def accel(self) -> str:
        """The accelerator to use: the override, else KVM/WHPX/HVF when usable, else TCG."""
        if not self._accel:
            wanted = self.settings.qemu_accel or process.accel_override()
            if wanted:
                self._accel = wanted
            else:
                available = process.accelerators(self.binary)
                self._accel = next((a for a in ("kvm", "whpx", "hvf")
                                    if a in available and process.accel_usable(a)), "tcg")
        return self._accel

    # -- inventory --------------------------------------------------------------------------
    def _summary(self, files: MachineFiles, spec: MachineSpec) -> MachineSummary:
        return MachineSummary(self.name, files.id, spec.name, self.store.state(files),
                              os=spec.os, cpus=spec.cpu.count, memory_mib=spec.memory.size_mib)

    def list_machines(self) -> list[MachineSummary]:
        return [self._summary(files, spec) for files, spec in self.store.readable()]

    def get_machine(self, machine_id: str) -> MachineInfo:
        files = self.store.files(machine_id)
        spec = self.store.spec(files)
        book = snapshots.load(files)
        disk_files = tuple(d.path for _, d in spec.all_disks())
        return MachineInfo(self._summary(files, spec), spec, book.tree(), book.current,
                           files=disk_files, log=str(files.log) if files.log.exists() else "")

    # -- create / update / delete -----------------------------------------------------------
    def _check(self, spec: MachineSpec) -> None:
        require_valid(spec, self.capabilities())

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self._check(spec)
        cancel.raise_if_cancelled()
        machine_id = str(uuid.uuid4())
        files = MachineFiles(self.store.library / machine_id)
        made: list[Path] = []
        with Undo() as undo:
            files.folder.mkdir(parents=True)
            undo.remove_tree(files.folder)
            undo.add("remove the new disks", lambda: remove_files(made))  # also outside it
            progress(0.1, "Creating disks")
            storage = self._make_disks(files, spec.storage, made, cancel)
            network = tuple(n if n.mac else n.model_copy(update={"mac": random_mac()})
                            for n in spec.network)
            final = spec.model_copy(update={"id": machine_id, "storage": storage,
                                            "network": network})
            progress(0.8, "Writing the machine's settings")
            self._ensure_nvram(files, final)
            cancel.raise_if_cancelled()
            self.store.save_spec(files, final)
        progress(1.0, "Created")
        return machine_id

    def _make_disks(self, files: MachineFiles, controllers: tuple[StorageController, ...],
                    made: list[Path], cancel: CancelToken,
                    own: frozenset[Path] = frozenset()) -> tuple[StorageController, ...]:
        """Create the disks a spec asks for; returns controllers with real, absolute paths.

        An existing disk that is not one of the machine's `own` comes from outside: its
        headers are checked first (no backing file, data file or far extent; see
        desktopvm.images) and its format is what its contents say, whatever it was called.
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
                        fmt = _outside_disk_format(path)
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

    def _ensure_nvram(self, files: MachineFiles, spec: MachineSpec) -> None:
        """UEFI machines get their own copy of the firmware's variable store (as qcow2)."""
        if spec.firmware.kind is not Firmware.UEFI or files.nvram.exists():
            return
        build = self.secure_uefi if spec.firmware.secure_boot else self.uefi
        if build is None:
            raise UnsupportedOperation("No UEFI firmware is installed (sudo apt-get install ovmf)")
        self.qemu_img.convert(build.vars_template, files.nvram, DiskFormat.QCOW2)

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        groups = changed_groups(old, new)
        if not groups:
            return
        self._check(new)
        with self.store.locked(files):
            self._update(files, old, new, groups, cancel)

    def _update(self, files: MachineFiles, old: MachineSpec, new: MachineSpec,
                groups: set[str], cancel: CancelToken) -> None:
        state = self.store.state(files)
        hardware = groups - {"name", "notes"}
        states.require(Operation.CHANGE_HARDWARE if hardware else Operation.CHANGE_NAME_NOTES,
                       state, old.name)
        current = self.store.spec(files)
        made: list[Path] = []
        with Undo() as undo:
            undo.add("remove the new disks", lambda: remove_files(made))
            update: dict[str, object] = {g: getattr(new, g) for g in groups}
            if "storage" in groups:
                own = frozenset(Path(d.path).resolve() for _, d in current.all_disks())
                update["storage"] = self._make_disks(files, new.storage, made, cancel, own)
            if "network" in groups:
                update["network"] = tuple(n if n.mac else n.model_copy(update={"mac": random_mac()})
                                          for n in new.network)
            if "firmware" in groups and old.firmware.secure_boot != new.firmware.secure_boot:
                files.nvram.unlink(missing_ok=True)  # Secure Boot needs the enrolled store
            result = current.model_copy(update=update)
            self._ensure_nvram(files, result)
            self.store.save_spec(files, result)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            spec = self.store.spec(files)
            states.require(Operation.DELETE, self.store.state(files), spec.name)
            if delete_disks:
                shared = self._disks_of_other_machines(files)
                for _, disk in spec.all_disks():
                    if Path(disk.path).resolve() in shared:
                        log.info("keeping %s: another machine uses it", disk.path)
                        continue
                    Path(disk.path).unlink(missing_ok=True)
            # Only the backend's own files go; a disk the user detached earlier, or anything
            # else someone put in the folder, stays.
            for path in files.metadata():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                files.folder.rmdir()  # only when nothing else is left in it
        if delete_disks:
            with self.store.library_locked():
                copies.collect_unused_bases(self.store, self.qemu_img)

    def _disks_of_other_machines(self, files: MachineFiles) -> set[Path]:
        return {Path(d.path).resolve() for other, spec in self.store.readable()
                if other.folder != files.folder for _, d in spec.all_disks()}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            self.lifecycle.start(files)

    def shutdown(self, machine_id: str) -> None:
        self.lifecycle.command(self.store.files(machine_id), "system_powerdown",
                               Operation.SHUTDOWN)

    def power_off(self, machine_id: str) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            self.lifecycle.power_off(files)

    def reset(self, machine_id: str) -> None:
        self.lifecycle.command(self.store.files(machine_id), "system_reset", Operation.RESET)

    def pause(self, machine_id: str) -> None:
        self.lifecycle.command(self.store.files(machine_id), "stop", Operation.PAUSE)

    def resume(self, machine_id: str) -> None:
        self.lifecycle.command(self.store.files(machine_id), "cont", Operation.RESUME)

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            self.lifecycle.save_state(files, progress, cancel)

    # -- snapshots --------------------------------------------------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        book = snapshots.load(self.store.files(machine_id))
        return book.tree(), book.current

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            return snapshots.take(self, files, name, description, include_memory)

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            snapshots.restore(self, files, snapshot_id)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            snapshots.delete(self, files, snapshot_id)

    # -- copies -----------------------------------------------------------------------------
    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        files = self.store.files(machine_id)
        with self.store.locked(files), self.store.library_locked():
            return copies.clone(self, files, new_name, linked=linked, snapshot_id=snapshot_id,
                                progress=progress, cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            appliances.export_ova(self, files, path, progress, cancel)

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        return appliances.import_appliance(self, path, name, progress, cancel)

    # -- disks ------------------------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo:
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

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        return self.qemu_img.create(path, disk_format, size_bytes, cancel=cancel)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        return self.qemu_img.resize(path, size_bytes, cancel=cancel)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        subformat = "streamOptimized" if disk_format is DiskFormat.VMDK else ""
        try:
            source_format = checked_disk_format(source)
        except UnsafeImage as error:
            raise CommandFailed(f"Cannot convert {source.name}: {error}") from error
        return self.qemu_img.convert(source, target, disk_format, subformat=subformat,
                                     source_format=source_format, progress=progress,
                                     cancel=cancel)

    # -- consoles ---------------------------------------------------------------------------
    def console(self, machine_id: str) -> ConsoleEndpoints:
        files = self.store.files(machine_id)
        runtime = self.store.running_runtime(files)
        if runtime is None:
            return ConsoleEndpoints()
        run = self.lifecycle.run_files(runtime, files)
        spec = self.store.spec(files)
        serial = next((SerialEndpoint(unix_socket=str(run.serial(p.number)))
                       for p in sorted(spec.serial, key=lambda p: p.number)
                       if run.serial(p.number).exists()), None)
        return ConsoleEndpoints(vnc=VncEndpoint(unix_socket=str(run.vnc),
                                                password=runtime.vnc_password),
                                serial=serial)

    def screenshot(self, machine_id: str) -> bytes:
        files = self.store.files(machine_id)
        run = self.lifecycle.require_running(files, "take a screenshot of")
        target = run.folder / f"screen-{secrets.token_hex(4)}.png"
        try:
            with qmp.connect(run.qmp) as session:
                session.execute("screendump", {"filename": str(target), "format": "png"})
            return target.read_bytes()
        finally:
            target.unlink(missing_ok=True)

    def type_text(self, machine_id: str, text: str) -> None:
        try:
            combos = keys.text_qcodes(text)
        except UnknownKey as error:
            raise UnsupportedOperation(str(error)) from error
        self._send(machine_id, combos)

    def send_keys(self, machine_id: str, combos: Sequence[str]) -> None:
        try:
            qcodes = [keys.combo_qcodes(c) for c in combos]
        except UnknownKey as error:
            raise UnsupportedOperation(str(error)) from error
        self._send(machine_id, qcodes)

    def _send(self, machine_id: str, combos: list[list[str]]) -> None:
        run = self.lifecycle.require_running(self.store.files(machine_id), "type into")
        with qmp.connect(run.qmp) as session:
            for combo in combos:
                session.execute("send-key", {"keys": keys.qmp_keys(combo)})


def remove_files(paths: list[Path]) -> None:
    """Delete each of `paths` (an undo step: the list may still grow until it runs)."""
    for path in paths:
        path.unlink(missing_ok=True)


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


def checked_disk_format(path: Path) -> DiskFormat:
    """The format of a disk the user brings, from its headers; UnsafeImage if it reaches out."""
    return disk_format(check_untrusted(path, local_extents=True, label=path.name))


def _outside_disk_format(path: Path) -> DiskFormat:
    """checked_disk_format, refusals as invalid machine settings."""
    try:
        return checked_disk_format(path)
    except UnsafeImage as error:
        raise InvalidSpec([Problem(field="storage", severity=Severity.ERROR,
                                   message=str(error))]) from error


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")
