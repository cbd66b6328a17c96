"""EsxiBackend: the protocol facade over one ESXi host's or vCenter's vSphere session.

Thin on purpose: each operation hands the work to the module that does it
(docs/architecture.md has the map every backend follows).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from backends.esxi import (
    appliances,
    backup,
    clones,
    console,
    datastores,
    disks,
    inventory,
    lifecycle,
    live,
    machines,
    plans,
    snapshots,
)
from backends.esxi.capabilities import capabilities, read_only
from backends.esxi.datastores import DatastoreFile
from backends.esxi.placement import Datastore, Facts, read_facts
from backends.esxi.session import READ_ONLY_HINT, READ_ONLY_SUMMARY, Session
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, changed_groups
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    HostNetwork,
    MachineInfo,
    MachineSummary,
    ProbeResult,
    Progress,
    Snapshot,
    StartMode,
    UnsupportedOperation,
)
from desktopvm.protocol.backup import Capture
from desktopvm.protocol.validity import require_valid

FACTS_SECONDS = 60.0  # host facts (datastores, networks) are read again after this
log = logging.getLogger(__name__)


class EsxiBackend:
    """One ESXi host or vCenter, through one logged-in vSphere session."""

    name = "esxi"
    display_name = "VMware ESXi"

    def __init__(self, session: Session, *, connection: str = "", display_name: str = "") -> None:
        self.session = session
        self.host = session.host.address
        self.name = connection or session.host.id
        self.display_name = display_name or session.host.display_name
        self._lock = threading.Lock()
        self._facts: tuple[float, Facts] | None = None
        self._read_only: bool | None = None
        self._watch = live.Watch(session)

    def close(self) -> None:
        """End a wait for changes in progress, then log out."""
        self._watch.stop()
        self.session.close()

    def facts(self, *, fresh: bool = False) -> Facts:
        """Where machines go and what the host is, cached for a minute."""
        with self._lock:
            cached = self._facts
        if cached and not fresh and time.monotonic() - cached[0] < FACTS_SECONDS:
            return cached[1]
        # The EnvironmentBrowser's answer (large on a real host) is read once per backend.
        facts = read_facts(self.session, cached[1].environment if cached else None)
        with self._lock:
            self._facts = (time.monotonic(), facts)
        return facts

    @property
    def read_only(self) -> bool:
        """Whether the host's licence refuses every change (free vSphere Hypervisor)."""
        if self._read_only is None:
            self._read_only = read_only(self.session)
        return self._read_only

    def _writable(self) -> None:
        if self.read_only:
            raise UnsupportedOperation(READ_ONLY_SUMMARY.format(host=self.host), READ_ONLY_HINT)

    def _exists(self, machine_id: str) -> None:
        """MachineNotFound for an id the host does not know (before saying what cannot be)."""
        inventory.read(self.session, machine_id, ["name"])

    def check(self, spec: MachineSpec) -> None:
        """InvalidSpec with every problem vSphere would have with `spec`."""
        require_valid(spec, self.capabilities(), check_paths=False,
                      extra=plans.host_problems(spec, self.facts().environment))

    def _say_guest(self, os_id: str, progress: Progress) -> None:
        """Tell (log and progress) when the host does not know our guest id for `os_id`."""
        facts = self.facts()
        note = plans.guest_note(os_id, facts.environment, facts.product)
        if note:
            log.warning("%s: %s", self.host, note)
            progress(0.0, note)

    # -- discovery --------------------------------------------------------------------------
    def probe(self) -> ProbeResult:
        try:
            about = self.session.about()
            limited = self.read_only
        except BackendError as error:
            return ProbeResult(self.name, False, reason=error.summary,
                               install_hint=getattr(error, "install_hint", ""))
        version = f"{about.fullName} ({about.apiType}, API {about.apiVersion})"
        if limited:
            return ProbeResult(self.name, True, version=version + " — read-only licence",
                               reason=READ_ONLY_SUMMARY.format(host=self.host))
        return ProbeResult(self.name, True, version=version)

    def capabilities(self) -> Capabilities:
        return capabilities(self.facts(), self.name)

    def host_info(self) -> HostInfo:
        facts = self.facts(fresh=True)
        return HostInfo(hostname=facts.host_name, cpus=facts.cpus, memory_mib=facts.memory_mib,
                        os=facts.product,
                        networks=tuple(HostNetwork("switch", name) for name in facts.networks))

    # -- inventory and configuration --------------------------------------------------------
    def list_machines(self) -> list[MachineSummary]:
        return inventory.machines(self.session, self.name)

    def wait_for_changes(self, token: str = "", *, seconds: int = 30,
                         cancel: CancelToken | None = None) -> str:
        """Block (a background job) until the machine list changed since `token` or `seconds`
        passed; a token different from `token` means list_machines() again (backends/esxi/
        live.py). The first call, with "", returns at once."""
        return self._watch.wait(token, seconds=seconds, cancel=cancel)

    def get_machine(self, machine_id: str) -> MachineInfo:
        return inventory.machine(self.session, machine_id, self.name)[0]

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self._writable()
        self.check(spec)
        self._say_guest(spec.os, progress)
        return machines.create(self.session, self.facts(), spec, progress=progress,
                               cancel=cancel)

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        if not changed_groups(old, new):
            return
        self._writable()
        self.check(new)
        if old.os != new.os:
            self._say_guest(new.os, progress)
        machines.update(self.session, self.facts(), machine_id, old, new, progress=progress,
                        cancel=cancel)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        self._writable()
        machines.delete(self.session, self.facts(), machine_id, delete_disks=delete_disks,
                        progress=progress, cancel=cancel)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        self._writable()
        lifecycle.power(self.session, "start", machine_id)

    def shutdown(self, machine_id: str) -> None:
        self._writable()
        lifecycle.shutdown(self.session, machine_id)

    def power_off(self, machine_id: str) -> None:
        self._writable()
        lifecycle.power(self.session, "power_off", machine_id)

    def reset(self, machine_id: str) -> None:
        self._writable()
        lifecycle.power(self.session, "reset", machine_id)

    def pause(self, machine_id: str) -> None:
        lifecycle.pause(self.session, machine_id)

    def resume(self, machine_id: str) -> None:
        """Nothing is paused on ESXi: start() resumes a suspended machine."""
        lifecycle.resume(self.session, machine_id)

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        self._writable()
        lifecycle.power(self.session, "save_state", machine_id, progress=progress,
                        cancel=cancel)

    # -- snapshots --------------------------------------------------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        return snapshots.tree(self.session, machine_id)

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        self._writable()
        return snapshots.take(self.session, machine_id, name, description=description,
                              include_memory=include_memory, progress=progress, cancel=cancel)

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        self._writable()
        snapshots.restore(self.session, machine_id, snapshot_id, progress=progress,
                          cancel=cancel)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        self._writable()
        snapshots.delete(self.session, machine_id, snapshot_id, progress=progress,
                         cancel=cancel)

    # -- copies -----------------------------------------------------------------------------
    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        self._writable()
        machines.require_name(new_name, self.capabilities())
        return clones.clone(self.session, self.facts(), machine_id, new_name, linked=linked,
                            snapshot_id=snapshot_id, progress=progress, cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        appliances.export_machine(self.session, machine_id, path, backend=self.name,
                                  progress=progress, cancel=cancel)

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        self._writable()
        if name:
            machines.require_name(name, self.capabilities())
        return appliances.import_machine(self.session, self.facts(), path, name=name,
                                         progress=progress, cancel=cancel)

    # -- datastore files (ESXi only: not in the protocol; the CD/DVD's "On the host…") --------
    def list_datastores(self) -> tuple[Datastore, ...]:
        """The host's accessible datastores, the most free space first."""
        return datastores.datastores(self.facts(fresh=True))

    def uploaded_copy(self, machine_id: str, local: Path) -> str:
        """The datastore copy of the local file `local` a CD/DVD of the machine reads ("" when
        none): seeds.SeedUploading, so a seed disc's copy is deleted with it."""
        return datastores.uploaded_copy(self.get_machine(machine_id).spec, local)

    def delete_uploaded(self, path: str) -> None:
        """Delete a copy create/update uploaded to desktopvm-iso/ (seeds.SeedUploading)."""
        self._writable()
        datastores.delete_upload(self.session, self.facts(), path)

    def delete_uploads_of(self, local: Path) -> None:
        """Delete what a create uploaded of `local` before it failed (seeds.SeedUploading)."""
        self._writable()
        datastores.delete_uploads_of(self.session, self.facts(), local)

    def list_isos(self, datastore: str = "") -> list[DatastoreFile]:
        """The ISOs on `datastore` (default: the roomiest), every folder searched."""
        return datastores.list_isos(self.session, self.facts(), datastore)

    # -- backups ----------------------------------------------------------------------------
    def capture(self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
                progress: Progress, cancel: CancelToken) -> Capture:
        """The disks through an export lease: ExportVm while off, a temporary snapshot's
        ExportSnapshot while running or suspended (backends/esxi/backup.py). Always full:
        `since` is ignored (no changed-block tracking yet); the disks are stream-optimized
        VMDKs, so `compress` is the backup core's to apply."""
        return backup.capture(self.session, machine_id, folder, backend=self.name,
                              writable=self._writable, progress=progress, cancel=cancel)

    def forget_capture_points(self, machine_id: str) -> None:
        """Nothing is kept between captures (they are all full)."""

    # -- disks ------------------------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo:
        raise disks.unsupported(path)

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        raise disks.unsupported(path)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        raise disks.unsupported(path)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        raise disks.unsupported(source)

    # -- consoles ---------------------------------------------------------------------------
    def console(self, machine_id: str) -> ConsoleEndpoints:
        return console.endpoints(self.session, machine_id)

    def open_webmks(self, machine_id: str) -> socket.socket:
        """The machine's screen as a socket for desktopvm.rfb.RfbClient (WebMKS: RFB 3.8 over
        a WebSocket) on a fresh ticket; console()'s VncEndpoint.opener calls it per connection."""
        return console.open_webmks(self.session, machine_id)

    def screenshot(self, machine_id: str) -> bytes:
        return console.screenshot(self.session, self.facts(), machine_id)

    def type_text(self, machine_id: str, text: str) -> None:
        self._writable()
        console.type_text(self.session, machine_id, text)

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        self._writable()
        console.send_keys(self.session, machine_id, keys)
