"""VirtualBoxBackend: the protocol facade over VBoxManage, VirtualBox 6.1 to 7.2.

Thin on purpose: each operation reads the machine through the inventory and hands the work
to the module that does it (docs/architecture.md has the map every backend follows).
"""

from __future__ import annotations

import logging
import threading
import uuid as uuids
from collections.abc import Sequence
from pathlib import Path

from backends.virtualbox import (
    appliances,
    backup,
    clones,
    console,
    disks,
    lifecycle,
    machines,
    snapshots,
)
from backends.virtualbox.capabilities import (
    HostFacts,
    capabilities,
    host_info,
    networks_from,
    this_host,
)
from backends.virtualbox.inventory import Inventory, machine_uuid
from backends.virtualbox.lifecycle import NO_DRIVER
from backends.virtualbox.parse import guest_addresses, parse_guest_properties
from backends.virtualbox.reader import MachineReader, MachineRecord
from backends.virtualbox.translate import OsTypes
from backends.virtualbox.vboxmanage import VBoxManage, find_vboxmanage, install_hint
from backends.virtualbox.versions import Dialect, dialect_for
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

log = logging.getLogger(__name__)


class VirtualBoxBackend:
    """VirtualBox through VBoxManage (see docs/virtualbox.md)."""

    name = "virtualbox"
    display_name = "VirtualBox"
    host = "localhost"

    def __init__(self, settings: Settings, *, vbox: VBoxManage | None = None,
                 os_catalog: OsCatalog | None = None) -> None:
        self.settings = settings
        executable = find_vboxmanage(settings.vboxmanage_path) or ""
        self.vbox = vbox or VBoxManage(executable)
        self.os_catalog = os_catalog or catalog()
        self.host_traits = this_host()
        self._lock = threading.Lock()
        self._facts: HostFacts | None = None
        self._os_types: OsTypes | None = None
        self.reader = MachineReader(self.vbox, self.os_types, self.os_catalog, self.name,
                                    self.host)
        self.inventory = Inventory(self.vbox, self.reader)

    # -- discovery --------------------------------------------------------------------------
    def _require_tool(self) -> None:
        if not self.vbox.executable:
            raise BackendUnavailable("VBoxManage was not found", install_hint=install_hint())

    def dialect(self) -> Dialect:
        """The installed version's dialect (asks `VBoxManage --version` once)."""
        self._require_tool()
        return dialect_for(self.vbox.version())

    def probe(self) -> ProbeResult:
        try:
            version = str(self.vbox.version()) if self.vbox.executable else ""
            self.dialect()
        except BackendError as error:
            return ProbeResult(self.name, False, reason=error.summary,
                               install_hint=getattr(error, "install_hint", install_hint()))
        if self.vbox.driver_warning:
            return ProbeResult(self.name, True, version=version, reason=NO_DRIVER,
                               install_hint=install_hint())
        return ProbeResult(self.name, True, version=version)

    def host_facts(self) -> HostFacts:
        """`list hostinfo` + `list systemproperties` (+ `list extpacks` on 6.1), asked once."""
        with self._lock:
            if self._facts is not None:
                return self._facts
        self._require_tool()
        # Only 6.1 needs the Extension Pack for USB 2.0/3.0 and NVMe (review V3).
        extpacks = (None if self.dialect().usb2_nvme_builtin
                    else self.vbox.run(["list", "extpacks"]).stdout)
        facts = HostFacts.from_outputs(self.vbox.run(["list", "hostinfo"]).stdout,
                                       self.vbox.run(["list", "systemproperties"]).stdout,
                                       extpacks)
        with self._lock:
            self._facts = facts
        return facts

    def os_types(self) -> OsTypes:
        """`list ostypes`, asked once (descriptions in showvminfo map back to type ids)."""
        with self._lock:
            if self._os_types is not None:
                return self._os_types
        try:
            types = OsTypes.from_list_output(self.vbox.run(["list", "ostypes"]).stdout)
        except BackendError as error:
            log.warning("list ostypes failed: %s", error.summary)
            types = OsTypes()
        with self._lock:
            self._os_types = types
        return types

    def capabilities(self) -> Capabilities:
        return capabilities(self.dialect(), self.host_facts(), self.host_traits)

    def host_info(self) -> HostInfo:
        dialect = self.dialect()

        def listing(what: str) -> str:
            try:
                return self.vbox.run(["list", what]).stdout
            except BackendError as error:
                log.info("list %s failed: %s", what, error.summary)
                return ""

        host_only_networks = listing("hostonlynets") if (
            dialect.host_only_networks and self.host_traits.macos) else ""
        networks = networks_from(listing("bridgedifs"), listing("hostonlyifs"),
                                 host_only_networks, listing("natnets"), listing("intnets"))
        return host_info(self.host_facts(), networks)

    # -- inventory --------------------------------------------------------------------------
    def list_machines(self) -> list[MachineSummary]:
        self._require_tool()
        return self.inventory.refresh()

    def record(self, machine_id: str) -> MachineRecord:
        """A fresh read of one machine (one showvminfo), remembered by the inventory."""
        return self.inventory.record(machine_id)

    def get_machine(self, machine_id: str) -> MachineInfo:
        record = self.record(machine_id)
        addresses: tuple[str, ...] = ()
        if record.state.is_active and record.guest_additions_running:
            result = self.vbox.run(["guestproperty", "enumerate", record.uuid, "--patterns",
                                    "/VirtualBox/GuestInfo/Net/*"], check=False)
            addresses = guest_addresses(parse_guest_properties(result.stdout))
        files = tuple(d.path for _, d in record.spec.all_disks())
        if record.settings_file:
            files += (record.settings_file,)
        return MachineInfo(record.summary, record.spec, record.snapshots,
                           record.current_snapshot, guest_addresses=addresses, files=files,
                           folder=str(Path(record.settings_file).parent)
                           if record.settings_file else "")

    # -- create / update / delete -----------------------------------------------------------
    def _check(self, spec: MachineSpec, old: MachineSpec | None = None) -> None:
        # VBoxManage opens an attached file itself: a disk from outside is checked first.
        outside = [Problem(field="storage", severity=Severity.ERROR, message=refusal)
                   for refusal in new_outside_disks(spec, old)]
        require_valid(spec, self.capabilities(), extra=outside, os_catalog=self.os_catalog)

    def _os_type(self, os_id: str, dialect: Dialect) -> tuple[str, str]:
        entry = self.os_catalog.get(os_id) or self.os_catalog.get("other")
        ids = entry.backend_ids if entry else {}
        chosen = self.os_types().choose(ids.get("virtualbox", ""),
                                        ids.get("virtualbox_fallback", ""),
                                        dialect.series == (6, 1))
        return chosen, entry.family.value if entry else "other"

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self._check(spec)
        cancel.raise_if_cancelled()
        dialect = self.dialect()
        os_type, family = self._os_type(spec.os, dialect)
        return machines.create(self.inventory, spec, str(uuids.uuid4()), dialect=dialect,
                               host=self.host_traits, os_type=os_type, family=family,
                               progress=progress, cancel=cancel)

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        record = self.record(machine_id)
        if old == new:
            return
        self._check(new, old)
        dialect = self.dialect()
        os_type = self._os_type(new.os, dialect)[0] if new.os != old.os else ""
        machines.update(self.inventory, record, old, new, dialect=dialect,
                        host=self.host_traits, os_type=os_type, progress=progress,
                        cancel=cancel)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        machines.delete(self.inventory, self.record(machine_id), delete_disks=delete_disks,
                        progress=progress, cancel=cancel)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        lifecycle.start(self.inventory, machine_id, mode)

    def shutdown(self, machine_id: str) -> None:
        lifecycle.control(self.inventory, "shutdown", machine_id)

    def power_off(self, machine_id: str) -> None:
        lifecycle.control(self.inventory, "power_off", machine_id)

    def reset(self, machine_id: str) -> None:
        lifecycle.control(self.inventory, "reset", machine_id)

    def pause(self, machine_id: str) -> None:
        lifecycle.control(self.inventory, "pause", machine_id)

    def resume(self, machine_id: str) -> None:
        lifecycle.control(self.inventory, "resume", machine_id)

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        lifecycle.save_state(self.inventory, machine_id, progress=progress, cancel=cancel)

    # -- snapshots, copies, disks, consoles (one module each) -------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        return snapshots.list_tree(self.inventory, machine_uuid(machine_id))

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

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        return appliances.import_appliance(self.inventory, self.capabilities(), path, name,
                                           progress=progress, cancel=cancel)

    # -- backups (backup.py: full copies; VirtualBox tracks no changed blocks) ---------------
    def capture(self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
                progress: Progress, cancel: CancelToken) -> Capture:
        # `since` and `compress` do not apply: every copy is full, in VirtualBox's own format.
        return backup.capture(self.inventory, machine_id, folder, progress=progress,
                              cancel=cancel)

    def forget_capture_points(self, machine_id: str) -> None:
        """Nothing to forget: VirtualBox keeps nothing for incremental captures."""

    def disk_info(self, path: Path) -> DiskInfo:
        return disks.info(self.vbox, path)

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        return disks.create(self.vbox, path, disk_format, size_bytes, progress=progress,
                            cancel=cancel)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        return disks.resize(self.vbox, path, size_bytes, progress=progress, cancel=cancel)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        return disks.convert(self.vbox, source, target, disk_format, progress=progress,
                             cancel=cancel)

    def console(self, machine_id: str) -> ConsoleEndpoints:
        return console.endpoints(self.vbox, self.record(machine_id))

    def screenshot(self, machine_id: str) -> bytes:
        return console.screenshot(self.vbox, self.record(machine_id))

    def type_text(self, machine_id: str, text: str) -> None:
        console.type_text(self.vbox, self.record(machine_id), text)

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        console.send_keys(self.vbox, self.record(machine_id), keys)
