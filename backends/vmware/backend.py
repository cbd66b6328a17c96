"""VMwareBackend: the protocol facade over vmrun, the .vmx files and vmware-vdiskmanager.

Thin on purpose: each operation reads the machine through the inventory and hands the work
to the module that does it (docs/architecture.md has the map every backend follows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from backends.vmware import (
    appliances,
    backup,
    clones,
    console,
    disks,
    lifecycle,
    machines,
    snapshots,
)
from backends.vmware.capabilities import capabilities, hardware_version, host_info
from backends.vmware.inventory import Inventory, Library
from backends.vmware.locate import (
    Installation,
    find_installation,
    install_hint,
    licence_problem,
    version_from_text,
)
from backends.vmware.vmrun import VmRun
from desktopvm.images import new_outside_disks
from desktopvm.model import (
    Capabilities,
    DiskFormat,
    MachineSpec,
    OsCatalog,
    Problem,
    Severity,
    catalog,
)
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    CancelToken,
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    MachineInfo,
    MachineSummary,
    ProbeResult,
    Progress,
    Snapshot,
    StartMode,
)
from desktopvm.protocol.backup import Capture
from desktopvm.protocol.validity import require_valid
from desktopvm.settings import Settings

NAME = "vmware"


class VMwareBackend:
    """VMware Workstation, Fusion or Player through vmrun (see docs/vmware.md)."""

    name = NAME
    display_name = "VMware Workstation"
    host = "localhost"

    def __init__(self, settings: Settings, *, installation: Installation | None = None,
                 own_list: Path | None = None, os_catalog: OsCatalog | None = None) -> None:
        self.settings = settings
        # The user's own vmrun (Preferences) first, as detect() and open_backend() look.
        self.installation = installation or find_installation(vmrun=settings.vmrun_path)
        found = self.installation or Installation("ws", "")
        self.display_name = found.display_product
        self.vmrun = VmRun(found.vmrun, found.product, vdiskmanager=found.vdiskmanager,
                           vmware_vmx=found.vmware_vmx)
        self.library = Library(found, own_list)
        self.inventory = Inventory(self.vmrun, self.library, NAME, self.host)
        self.os_catalog = os_catalog or catalog()
        self._version = found.version

    # -- discovery --------------------------------------------------------------------------
    def _require_tool(self) -> Installation:
        if self.installation is None or not self.installation.vmrun:
            raise BackendUnavailable("VMware's vmrun was not found", install_hint=install_hint())
        return self.installation

    def version(self) -> str:
        """The product version ("17.6.2"): the registry/config, else `vmware-vmx -v`."""
        if not self._version:
            self._require_tool()
            self._version = version_from_text(self.vmrun.vmx_version_text())[1]
        return self._version

    def probe(self) -> ProbeResult:
        try:
            installation = self._require_tool()
            self.inventory.running()  # vmrun answers (and says which host type it is)
        except BackendError as error:
            return ProbeResult(NAME, False, reason=error.summary,
                               install_hint=getattr(error, "install_hint", "") or install_hint())
        version = self.version()
        problem = licence_problem(dataclasses.replace(installation, version=version))
        return ProbeResult(NAME, True, reason=problem,
                           install_hint=install_hint() if problem else "",
                           version=f"{installation.display_product} "
                                   f"{version or '(version unknown)'}")

    def capabilities(self) -> Capabilities:
        return capabilities(self.installation or Installation("ws", ""))

    def host_info(self) -> HostInfo:
        return host_info()

    # -- inventory --------------------------------------------------------------------------
    def list_machines(self) -> list[MachineSummary]:
        self._require_tool()
        return self.inventory.refresh()

    def get_machine(self, machine_id: str) -> MachineInfo:
        record = self.inventory.record(machine_id)
        spec = disks.with_sizes(record.spec(self.library.installation.windows))
        roots, current = snapshots.list_tree(self.inventory, record)
        files = (str(record.vmx), *(d.path for _, d in spec.all_disks()))
        return MachineInfo(record.summary, spec, roots, current, files=files,
                           folder=str(Path(record.vmx).parent))

    # -- create / update / delete -----------------------------------------------------------
    def _check(self, spec: MachineSpec, old: MachineSpec | None = None) -> None:
        outside = [Problem(field="storage", severity=Severity.ERROR, message=refusal)
                   for refusal in new_outside_disks(spec, old)]
        require_valid(spec, self.capabilities(), extra=outside, os_catalog=self.os_catalog)

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self._require_tool()
        self._check(spec)
        cancel.raise_if_cancelled()
        return machines.create(self.inventory, spec, hardware_version(self.version()),
                               progress=progress, cancel=cancel)

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        record = self.inventory.record(machine_id)
        if old == new:
            return
        self._check(new, old)
        machines.update(self.inventory, record, old, new, progress=progress, cancel=cancel)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        machines.delete(self.inventory, self.inventory.record(machine_id),
                        delete_disks=delete_disks, progress=progress, cancel=cancel)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        lifecycle.start(self.inventory, machine_id, mode)

    def shutdown(self, machine_id: str) -> None:
        lifecycle.shutdown(self.inventory, machine_id)

    def power_off(self, machine_id: str) -> None:
        lifecycle.power_off(self.inventory, machine_id)

    def reset(self, machine_id: str) -> None:
        lifecycle.reset(self.inventory, machine_id)

    def pause(self, machine_id: str) -> None:
        lifecycle.pause(self.inventory, machine_id)

    def resume(self, machine_id: str) -> None:
        lifecycle.resume(self.inventory, machine_id)

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        lifecycle.suspend(self.inventory, machine_id)

    # -- snapshots, copies, disks, consoles (one module each) -------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        return snapshots.list_tree(self.inventory, self.inventory.record(machine_id))

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        return snapshots.take(self.inventory, machine_id, name, description,
                              include_memory=include_memory, progress=progress, cancel=cancel)

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        snapshots.restore(self.inventory, machine_id, snapshot_id, progress=progress,
                          cancel=cancel)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        snapshots.delete(self.inventory, machine_id, snapshot_id, progress=progress,
                         cancel=cancel)

    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        return clones.clone(self.inventory, self.capabilities(), machine_id, new_name,
                            linked=linked, snapshot_id=snapshot_id, progress=progress,
                            cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        appliances.export(self.inventory, machine_id, path, progress=progress, cancel=cancel)

    def capture(self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
                progress: Progress, cancel: CancelToken) -> Capture:
        """Full copies, running or not (backup.py); `since` is ignored: no changed blocks."""
        return backup.capture(self.inventory, machine_id, folder, compress=compress,
                              progress=progress, cancel=cancel)

    def forget_capture_points(self, machine_id: str) -> None:
        """Nothing to forget: VMware keeps nothing for incremental captures here."""

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        return appliances.import_appliance(self.inventory, self.capabilities(), path, name,
                                           hardware_version(self.version()),
                                           progress=progress, cancel=cancel)

    def disk_info(self, path: Path) -> DiskInfo:
        return disks.info(path)

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        return disks.create(self.vmrun, path, disk_format, size_bytes, progress=progress,
                            cancel=cancel)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        return disks.resize(self.vmrun, path, size_bytes, progress=progress, cancel=cancel)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        return disks.convert(self.vmrun, source, target, disk_format, progress=progress,
                             cancel=cancel)

    def console(self, machine_id: str) -> ConsoleEndpoints:
        return console.endpoints(self.library.installation, self.inventory.record(machine_id))

    def screenshot(self, machine_id: str) -> bytes:
        return console.screenshot(self.inventory.record(machine_id))

    def type_text(self, machine_id: str, text: str) -> None:
        console.type_text(self.inventory.record(machine_id), text)

    def send_keys(self, machine_id: str, keys_: Sequence[str]) -> None:
        console.send_keys(self.inventory.record(machine_id), keys_)
