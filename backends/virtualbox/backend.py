"""VirtualBoxBackend: the Backend protocol over VBoxManage, VirtualBox 6.1 to 7.2."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid as uuids
from collections.abc import Sequence
from pathlib import Path

from backends.virtualbox import appliances, console, media, snapshots
from backends.virtualbox.changes import update_plan
from backends.virtualbox.execution import remove_machine, remove_media, run_plan
from backends.virtualbox.host import HostFacts, capabilities, host_info, networks_from, this_host
from backends.virtualbox.inventory import Inventory
from backends.virtualbox.parse import find_quoted_after, guest_addresses, parse_guest_properties
from backends.virtualbox.plans import Target, create_plan, create_vm
from backends.virtualbox.reader import MachineReader, MachineRecord, folder_of
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
    errors,
    validate,
)
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
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
)
from desktopvm.settings import Settings

log = logging.getLogger(__name__)

UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
START_TIMEOUT = 180.0
ACTIVE = {PowerState.RUNNING, PowerState.PAUSED, PowerState.STARTING, PowerState.STOPPING}
STARTABLE = {PowerState.OFF, PowerState.SAVED, PowerState.ABORTED}
DELETABLE = {PowerState.OFF, PowerState.SAVED, PowerState.ABORTED, PowerState.UNKNOWN}
DISK_NAME = re.compile(r"^disk(\d+)\.")
NO_DRIVER = ("VirtualBox's kernel driver (vboxdrv) is not loaded, so no machine can start on "
             "this computer; creating and changing machines works")


def machine_uuid(machine_id: str) -> str:
    """Machines are addressed by UUID only, so no name can be mistaken for an option."""
    if not UUID_PATTERN.match(machine_id.strip()):
        raise MachineNotFound(f"No VirtualBox machine with id {machine_id!r}",
                              "VirtualBox machine ids are UUIDs")
    return machine_id.strip().lower()


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
        """`list hostinfo` + `list systemproperties`, asked once."""
        with self._lock:
            if self._facts is not None:
                return self._facts
        self._require_tool()
        facts = HostFacts.from_outputs(self.vbox.run(["list", "hostinfo"]).stdout,
                                       self.vbox.run(["list", "systemproperties"]).stdout)
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
        record = self.reader.read(machine_uuid(machine_id))
        self.inventory.remember(record)
        return record

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
                           record.current_snapshot, guest_addresses=addresses, files=files)

    # -- create / update / delete -----------------------------------------------------------
    def _check(self, spec: MachineSpec, old: MachineSpec | None = None) -> None:
        problems = errors(validate(spec, self.capabilities(), os_catalog=self.os_catalog))
        # VBoxManage opens an attached file itself: a disk from outside is checked first.
        problems += [Problem(field="storage", severity=Severity.ERROR, message=refusal)
                     for refusal in new_outside_disks(spec, old)]
        if problems:
            raise InvalidSpec(problems)

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
        machine_id = str(uuids.uuid4())
        os_type, family = self._os_type(spec.os, dialect)
        created: list[str] = []
        try:
            progress(0.02, "Registering the machine")
            result = self.vbox.run(create_vm(spec, machine_id, os_type, dialect,
                                             self.host_traits).argv, cancel=cancel)
            folder = folder_of(find_quoted_after("Settings file:", result.stdout))
            if not folder:
                folder = folder_of(self.reader.read(machine_id).settings_file)
            target = Target(machine_id, folder, dialect, self.host_traits)
            steps, _ = create_plan(spec, family, target,
                                   first_disk_index=next_disk_index(folder))
            run_plan(self.vbox, steps, progress, cancel, created, start=0.05, end=0.98)
        except BaseException:
            # Also when createvm itself failed: it may have registered the machine before a
            # timeout or a cancel hid its answer (an unknown UUID costs one harmless call).
            remove_machine(self.vbox, machine_id)
            remove_media(self.vbox, created)
            raise
        finally:
            self.inventory.forget(machine_id)
        progress(1.0, "Created")
        return machine_id

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        record = self.record(machine_id)
        if old == new:
            return
        self._check(new, old)
        target = Target(record.uuid, record.folder, self.dialect(), self.host_traits)
        os_type = self._os_type(new.os, target.dialect)[0] if new.os != old.os else ""
        change, _ = update_plan(old, new, record.state, target,
                                disk_index=next_disk_index(record.folder), os_type=os_type)
        created: list[str] = []
        try:
            run_plan(self.vbox, change.steps, progress, cancel, created)
        except BaseException:
            remove_media(self.vbox, created)
            raise
        finally:
            self.inventory.forget(record.uuid)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        record = self.record(machine_id)
        if record.state not in DELETABLE:
            raise InvalidState(f"{record.spec.name} is {record.state.value}; power it off "
                               "before deleting it")
        cancel.raise_if_cancelled()
        progress(0.1, "Removing the machine")
        if delete_disks:
            borrowed = media.borrowed_by_others(self.vbox, record.folder,
                                                [d.path for _, d in record.spec.all_disks()])
            if borrowed:
                raise InvalidState(
                    f"Cannot delete {record.spec.name} with its disks: linked clones use them "
                    f"({', '.join(borrowed)}); delete those clones first, or delete "
                    f"{record.spec.name} and keep its disks")
            self.vbox.run(["unregistervm", record.uuid, "--delete"], cancel=cancel)
        else:
            self.vbox.run(["unregistervm", record.uuid], cancel=cancel)
            remove_settings_files(record)
        self.inventory.forget(record.uuid)
        progress(1.0, "Removed")

    # -- lifecycle --------------------------------------------------------------------------
    def _control(self, machine_id: str, allowed: set[PowerState], verb: str,
                 *command: str) -> MachineRecord:
        record = self.record(machine_id)
        if record.state not in allowed:
            raise InvalidState(f"Cannot {verb} {record.spec.name}: it is {record.state.value}")
        self.vbox.run(["controlvm", record.uuid, *command])
        self.inventory.forget(record.uuid)
        return record

    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        record = self.record(machine_id)
        if record.state not in STARTABLE:
            raise InvalidState(f"{record.spec.name} is already {record.state.value}")
        kind = "gui" if mode is StartMode.GUI else "headless"
        try:
            self.vbox.run(["startvm", record.uuid, f"--type={kind}"], timeout=START_TIMEOUT)
        except CommandFailed as error:
            if not self.vbox.driver_warning:
                raise
            # VirtualBox's own words ("terminated unexpectedly during startup with exit code
            # 1") do not say why; the launcher's warning does.
            raise CommandFailed(f"Cannot start {record.spec.name}: {NO_DRIVER}",
                                command=error.command, exit_code=error.exit_code,
                                stderr=f"{self.vbox.driver_warning}\n{error.stderr}") from error
        self.inventory.forget(record.uuid)

    def shutdown(self, machine_id: str) -> None:
        self._control(machine_id, {PowerState.RUNNING}, "shut down", "acpipowerbutton")

    def power_off(self, machine_id: str) -> None:
        record = self.record(machine_id)
        if record.state is PowerState.SAVED:  # a saved machine powers off by losing its state
            self.vbox.run(["discardstate", record.uuid])
            self.inventory.forget(record.uuid)
            return
        self._control(machine_id, ACTIVE, "power off", "poweroff")

    def reset(self, machine_id: str) -> None:
        self._control(machine_id, {PowerState.RUNNING, PowerState.PAUSED}, "reset", "reset")

    def pause(self, machine_id: str) -> None:
        self._control(machine_id, {PowerState.RUNNING}, "pause", "pause")

    def resume(self, machine_id: str) -> None:
        self._control(machine_id, {PowerState.PAUSED}, "resume", "resume")

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        record = self.record(machine_id)
        if record.state not in (PowerState.RUNNING, PowerState.PAUSED):
            raise InvalidState(f"Cannot save {record.spec.name}: it is {record.state.value}")
        self.vbox.run(["controlvm", record.uuid, "savestate"], timeout=START_TIMEOUT,
                      cancel=cancel, on_progress=lambda f, _run: progress(f, "Saving state"))
        self.inventory.forget(record.uuid)

    # -- snapshots, copies, disks, consoles (one module each) -------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        return snapshots.list_tree(self, machine_uuid(machine_id))

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        return snapshots.take(self, machine_id, name, description, include_memory=include_memory,
                              progress=progress, cancel=cancel)

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        snapshots.restore(self, machine_id, snapshot_id, progress=progress, cancel=cancel)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        snapshots.delete(self, machine_id, snapshot_id, progress=progress, cancel=cancel)

    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        return snapshots.clone(self, machine_id, new_name, linked=linked,
                               snapshot_id=snapshot_id, progress=progress, cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        appliances.export(self, machine_id, path, progress=progress, cancel=cancel)

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        return appliances.import_appliance(self, path, name, progress=progress, cancel=cancel)

    def disk_info(self, path: Path) -> DiskInfo:
        return media.info(self.vbox, path)

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        return media.create(self.vbox, path, disk_format, size_bytes, progress=progress,
                            cancel=cancel)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        return media.resize(self.vbox, path, size_bytes, progress=progress, cancel=cancel)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        return media.convert(self.vbox, source, target, disk_format, progress=progress,
                             cancel=cancel)

    def console(self, machine_id: str) -> ConsoleEndpoints:
        return console.endpoints(self, self.record(machine_id))

    def screenshot(self, machine_id: str) -> bytes:
        return console.screenshot(self, self.record(machine_id))

    def type_text(self, machine_id: str, text: str) -> None:
        console.type_text(self, self.record(machine_id), text)

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        console.send_keys(self, self.record(machine_id), keys)


def next_disk_index(folder: str) -> int:
    """The first N for which no `disk<N>.*` exists in the machine's folder."""
    try:
        names = [p.name for p in Path(folder).iterdir()] if folder else []
    except OSError:
        names = []
    used = [int(m.group(1)) for m in map(DISK_NAME.match, names) if m]
    return max(used, default=-1) + 1


def remove_settings_files(record: MachineRecord) -> None:
    """After `unregistervm` without --delete: remove the machine's own files, keep disk images.

    Removed: the .vbox file and its backups, the NVRAM file and the Logs folder; the folder
    itself only if nothing else (disks, snapshots) is left in it.
    """
    settings = Path(record.settings_file) if record.settings_file else None
    if settings is None:
        return
    for path in [settings, settings.with_name(settings.name + "-prev"),
                 settings.with_suffix(".vbox-tmp"), settings.with_suffix(".nvram")]:
        path.unlink(missing_ok=True)
    logs = settings.parent / "Logs"
    if logs.is_dir():
        for entry in logs.iterdir():
            entry.unlink(missing_ok=True)
        logs.rmdir()
    with contextlib.suppress(OSError):  # disks (or snapshots) stay in it, as asked
        settings.parent.rmdir()
