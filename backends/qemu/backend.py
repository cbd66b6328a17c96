"""QemuBackend: the protocol facade over the library, the QEMU processes and qemu-img.

Thin on purpose: each operation finds the machine's files, takes its lock and hands the work
to the module that does it (docs/architecture.md has the map every backend follows).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from backends.qemu import (
    WINDOWS_REASON,
    appliances,
    backup,
    capabilities,
    clones,
    console,
    firmware_state,
    first_boot,
    machines,
    process,
    snapshots,
    storage_daemon,
)
from backends.qemu.disks import Disks
from backends.qemu.firmware import find_firmware
from backends.qemu.inventory import MachineStore
from backends.qemu.layout import MachineFiles
from backends.qemu.lifecycle import Launcher, Lifecycle
from backends.qemu.qemu_img import QemuImg, find_qemu_img
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, changed_groups
from desktopvm.protocol import (
    BackendUnavailable,
    CancelToken,
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    MachineInfo,
    MachineSummary,
    PowerState,
    ProbeResult,
    Progress,
    Snapshot,
    StartMode,
)
from desktopvm.protocol.backup import Capture, FirmwareState
from desktopvm.protocol.states import Operation
from desktopvm.protocol.validity import require_valid
from desktopvm.settings import Settings


class QemuBackend:
    """The QEMU backend (see the package docstring)."""

    name = "qemu"
    display_name = "QEMU"
    host = "localhost"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.binary = process.find_qemu(settings.qemu_binary) or ""
        self.store = MachineStore(settings.library())
        # A qemu-img set in Preferences that is gone is still the one run: its error names it.
        self.qemu_img = QemuImg(find_qemu_img(settings.qemu_img_path, self.binary)
                                or settings.qemu_img_path)
        self.uefi, self.secure_uefi = find_firmware()
        self.disks = Disks(self.qemu_img, self.uefi, self.secure_uefi)
        self._accel = ""
        self.lifecycle = Lifecycle(self.store, self.disks, Launcher(
            binary=self.binary, accel=self.accel, check=self._check,
            vnc_password=settings.vnc_password))

    # -- discovery --------------------------------------------------------------------------
    def probe(self) -> ProbeResult:
        if sys.platform == "win32":
            return ProbeResult(self.name, False, reason=WINDOWS_REASON)
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
        return capabilities.capabilities(
            self.uefi, self.secure_uefi, process.find_swtpm() is not None,
            storage_daemon=storage_daemon.find_daemon() is not None)

    def host_info(self) -> HostInfo:
        return capabilities.host_info()

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

    def _check(self, spec: MachineSpec) -> None:
        require_valid(spec, self.capabilities())

    # -- inventory --------------------------------------------------------------------------
    def _summary(self, files: MachineFiles, spec: MachineSpec) -> MachineSummary:
        return MachineSummary(self.name, files.id, spec.name, self.store.state(files),
                              os=spec.os, cpus=spec.cpu.count, memory_mib=spec.memory.size_mib)

    def list_machines(self) -> list[MachineSummary]:
        return [self._summary(files, spec) if isinstance(spec, MachineSpec) else
                MachineSummary(self.name, files.id, files.folder.name, PowerState.UNKNOWN,
                               problem=spec)
                for files, spec in self.store.listing()]

    def get_machine(self, machine_id: str) -> MachineInfo:
        files = self.store.files(machine_id)
        spec = self.store.spec(files)
        book = snapshots.load(files, self.qemu_img)
        disk_files = tuple(d.path for _, d in spec.all_disks())
        return MachineInfo(self._summary(files, spec), spec, book.tree(), book.current,
                           files=disk_files, log=str(files.log) if files.log.exists() else "",
                           folder=str(files.folder))

    # -- create / update / delete -----------------------------------------------------------
    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self._check(spec)
        return machines.create(self.store, self.disks, spec, progress=progress, cancel=cancel)

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        groups = changed_groups(old, new)
        if not groups:
            return
        self._check(new)
        with self.store.locked(files):
            machines.update(self.store, self.disks, files, old, new, groups=groups,
                            cancel=cancel)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        machines.delete(self.store, self.disks, self.store.files(machine_id),
                        delete_disks=delete_disks)

    # -- an installer's one boot (Debian's unattended install; first_boot.py) --------------
    def boot_installer_once(self, machine_id: str, *, kernel: bytes, initrd: bytes,
                            append: str, label: str) -> None:
        """The next start boots `kernel`/`initrd` with `append`; never a second one."""
        files = self.store.files(machine_id)
        with self.store.locked(files):
            first_boot.set_up(files, kernel=kernel, initrd=initrd, append=append, label=label)

    def drop_installer_boot(self, machine_id: str) -> bool:
        """Boot from the disk from now on; True when an installer's boot was dropped."""
        files = self.store.files(machine_id)
        with self.store.locked(files):
            return first_boot.drop(files)

    def installer_boot(self, machine_id: str) -> str:
        """What the machine's installer boot is ("" when it has none), for the details."""
        return first_boot.label(self.store.files(machine_id))

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
        book = snapshots.load(self.store.files(machine_id), self.qemu_img)
        return book.tree(), book.current

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            return snapshots.take(self.store, self.qemu_img, files, name,
                                  description=description, include_memory=include_memory)

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            snapshots.restore(self.store, self.qemu_img, files, snapshot_id)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            snapshots.delete(self.store, self.qemu_img, files, snapshot_id)

    # -- copies -----------------------------------------------------------------------------
    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        files = self.store.files(machine_id)
        with self.store.locked(files), self.store.library_locked():
            return clones.clone(self.store, self.qemu_img, self.capabilities(), files, new_name,
                                linked=linked, snapshot_id=snapshot_id, progress=progress,
                                cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            appliances.export_ova(self.store, self.qemu_img, files, path, progress=progress,
                                  cancel=cancel)

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        return appliances.import_appliance(self.store, self.disks, self.capabilities(), path,
                                           name=name, progress=progress, cancel=cancel)

    # -- backups ----------------------------------------------------------------------------
    def capture(self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
                progress: Progress, cancel: CancelToken) -> Capture:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            return backup.capture(self.store, self.qemu_img, files, folder, since=since,
                                  compress=compress, progress=progress, cancel=cancel)

    def forget_capture_points(self, machine_id: str) -> None:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            backup.forget(self.store, self.qemu_img, files)

    def put_firmware_state(self, machine_id: str, state: FirmwareState, *,
                           cancel: CancelToken) -> tuple[str, ...]:
        files = self.store.files(machine_id)
        with self.store.locked(files):
            return firmware_state.put(self.store, self.qemu_img, files, state, cancel)

    # -- disks ------------------------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo:
        return self.disks.info(path)

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        return self.disks.create(path, disk_format, size_bytes, cancel)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        return self.disks.resize(path, size_bytes, cancel)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        return self.disks.convert(source, target, disk_format, progress, cancel)

    # -- consoles ---------------------------------------------------------------------------
    def console(self, machine_id: str) -> ConsoleEndpoints:
        return console.endpoints(self.store, self.store.files(machine_id))

    def screenshot(self, machine_id: str) -> bytes:
        return console.screenshot(self.store, self.store.files(machine_id))

    def type_text(self, machine_id: str, text: str) -> None:
        console.type_text(self.store, self.store.files(machine_id), text)

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        console.send_keys(self.store, self.store.files(machine_id), keys)
