"""HyperVBackend: the protocol facade over one host's PowerShell sessions (local or WinRM).

Thin on purpose: each operation turns the machine id into Hyper-V's form and hands the work
to the module that does it (docs/architecture.md has the map every backend follows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backends.hyperv import (
    appliances,
    backup,
    clones,
    console,
    disks,
    inventory,
    lifecycle,
    locate,
    machines,
    parsers,
    snapshots,
)
from backends.hyperv.capabilities import capabilities
from backends.hyperv.errors import (
    ENABLE_HYPERV_HINT,
    HYPERV_ADMINISTRATORS_HINT,
    permission_message,
)
from backends.hyperv.host_files import HostFiles
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner, machine_id
from backends.hyperv.session import Channel
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, changed_groups
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
    UnsupportedOperation,
)
from desktopvm.protocol.backup import Capture


class HyperVBackend:
    """Hyper-V on one host. Quick requests and long copies use separate sessions, so an
    export does not hold up the inventory; each session runs its requests one at a time."""

    name = "hyperv"
    display_name = "Hyper-V"

    def __init__(self, channel_factory: Callable[[], Channel], *, host: str = "localhost",
                 local: bool = True, metadata: MetadataStore | None = None,
                 connection: str = "", display_name: str = "") -> None:
        self.host = host
        self.local = local
        # A remote host is its own connection ('hyperv@hv01'): its machines and jobs are
        # told apart from the local Hyper-V's by this name.
        self.name = connection or ("hyperv" if local else f"hyperv@{host}")
        self.display_name = display_name or ("Hyper-V" if local else f"Hyper-V on {host}")
        self.runner = Runner(channel_factory, host=host, local=local)
        self.quick = self.runner.quick
        self.files = HostFiles(self.runner)
        self.metadata = metadata or MetadataStore(host)

    def close(self) -> None:
        """Stop both PowerShell sessions."""
        self.runner.close()

    def run(self, call: Call, **options: Any) -> Any:
        """Send one planned request (see Runner.run)."""
        return self.runner.run(call, **options)

    def facts(self, *, fresh: bool = False) -> parsers.HostFacts:
        """host_info, cached for a minute."""
        return self.runner.facts(fresh=fresh)

    def check(self, spec: MachineSpec) -> None:
        """InvalidSpec with every problem Hyper-V would have with `spec`."""
        machines.check(spec, self.capabilities(), local=self.local)

    # -- discovery --------------------------------------------------------------------------
    def probe(self) -> ProbeResult:
        try:
            ready = self.quick.ensure_started()
        except BackendUnavailable as error:
            return ProbeResult(self.name, False, reason=error.summary,
                               install_hint=error.install_hint or locate.install_hint())
        except BackendError as error:
            return ProbeResult(self.name, False, reason=error.summary)
        if not ready.get("hyperv"):
            return ProbeResult(self.name, False, reason="The Hyper-V PowerShell module is not "
                               f"available on {self.host}", install_hint=ENABLE_HYPERV_HINT)
        try:
            answer = self.runner.run(Call("probe"))
        except BackendError as error:
            return ProbeResult(self.name, False, reason=error.summary)
        version = (f"Hyper-V module {answer.get('ModuleVersion', '?')}, Windows "
                   f"{answer.get('OsVersion', '?')}, PowerShell {ready.get('ps_version', '?')}")
        build = parsers.os_build(str(answer.get("OsVersion", "")))
        if 0 < build < parsers.MIN_BUILD:
            return ProbeResult(self.name, False, version=version, reason=(
                f"Hyper-V on {self.host} is too old: DesktopVM needs Windows 10 1607 or "
                "Windows Server 2016 (build 14393) or later (Secure Boot templates, "
                "checkpoint types, Remove-VMSavedState)"))
        if not answer.get("CanManage"):
            denied = answer.get("ErrorCategory") == "PermissionDenied" or not (
                answer.get("IsHyperVAdmin") or answer.get("IsAdministrator"))
            reason = (permission_message(self.host) if denied
                      else f"Hyper-V does not answer on {self.host}: {answer.get('Error', '')}")
            return ProbeResult(self.name, False, version=version, reason=reason,
                               install_hint=HYPERV_ADMINISTRATORS_HINT if denied else "")
        return ProbeResult(self.name, True, version=version)

    def capabilities(self) -> Capabilities:
        return capabilities(self.facts(), local=self.local)

    def host_info(self) -> HostInfo:
        facts = self.facts(fresh=True)
        return HostInfo(hostname=facts.computer or self.host, cpus=facts.cpus,
                        memory_mib=facts.memory_mib, os=f"Windows {facts.os_version}",
                        networks=facts.networks())

    # -- inventory and configuration --------------------------------------------------------
    def list_machines(self) -> list[MachineSummary]:
        return inventory.machines(self.runner, self.metadata, self.name)

    def get_machine(self, machine_id: str) -> MachineInfo:
        return inventory.machine(self.runner, self.metadata, _id(machine_id), self.name)

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self.check(spec)
        return machines.create(self.runner, self.metadata, spec, progress=progress,
                               cancel=cancel)

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        vm_id = _id(machine_id)
        if not changed_groups(old, new):
            return
        self.check(new)
        machines.update(self.runner, self.metadata, vm_id, old, new, progress=progress,
                        cancel=cancel)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        machines.delete(self.runner, self.metadata, _id(machine_id), delete_disks=delete_disks)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        lifecycle.power(self.runner, "start", _id(machine_id))

    def shutdown(self, machine_id: str) -> None:
        lifecycle.power(self.runner, "shutdown", _id(machine_id))

    def power_off(self, machine_id: str) -> None:
        lifecycle.power(self.runner, "power_off", _id(machine_id))

    def reset(self, machine_id: str) -> None:
        lifecycle.power(self.runner, "reset", _id(machine_id))

    def pause(self, machine_id: str) -> None:
        lifecycle.power(self.runner, "pause", _id(machine_id))

    def resume(self, machine_id: str) -> None:
        lifecycle.power(self.runner, "resume", _id(machine_id))

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        progress(None, "Saving the machine's state")
        lifecycle.power(self.runner, "save_state", _id(machine_id))

    # -- snapshots --------------------------------------------------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        return snapshots.tree(self.runner, _id(machine_id))

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        progress(None, "Taking a checkpoint")
        return snapshots.take(self.runner, _id(machine_id), name, description=description,
                              include_memory=include_memory)

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        progress(None, "Restoring the checkpoint")
        snapshots.restore(self.runner, _id(machine_id), snapshot_id)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        progress(None, "Deleting the checkpoint (merging its disk)")
        snapshots.delete(self.runner, _id(machine_id), snapshot_id)

    # -- copies -----------------------------------------------------------------------------
    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        if linked:
            raise UnsupportedOperation("Hyper-V clones are full copies (export and import); "
                                       "linked clones are not offered")
        machines.require_name(new_name, self.capabilities())
        return clones.clone(self.runner, self.metadata, _id(machine_id), new_name,
                            snapshot_id=snapshot_id, progress=progress, cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        appliances.export(self.runner, _id(machine_id), path, progress=progress, cancel=cancel)

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        if name:
            machines.require_name(name, self.capabilities())
        return appliances.import_machine(self.runner, self.metadata, path, name=name,
                                         progress=progress, cancel=cancel)

    # -- backups (backup.py: Export-VM, full copies; host_files.py brings a remote host's) --
    def capture(self, machine_id: str, folder: Path, *, since: str = "", compress: bool = True,
                progress: Progress, cancel: CancelToken) -> Capture:
        # `since` and `compress` do not apply: every copy is a full VHD/VHDX.
        return backup.capture(self.runner, self.metadata, self.name, _id(machine_id), folder,
                              files=self.files, progress=progress, cancel=cancel)

    # -- files on the host (protocol.host_files: restores onto a remote host) -------------
    def make_host_folder(self, stem: str) -> str:
        return self.files.make_folder(stem)

    def put_host_file(self, source: Path, folder: str, name: str, *, progress: Progress,
                      cancel: CancelToken) -> str:
        return self.files.put(source, folder, name, progress=progress, cancel=cancel)

    def get_host_file(self, source: str, destination: Path, *, progress: Progress,
                      cancel: CancelToken) -> None:
        self.files.get(source, destination, progress=progress, cancel=cancel)

    def remove_host_folder(self, folder: str) -> None:
        self.files.remove_folder(folder)

    def release_host_folder(self, folder: str) -> None:
        self.files.release(folder)

    def forget_capture_points(self, machine_id: str) -> None:
        """Nothing to forget: no reference points are made for incremental captures."""

    # -- disks ------------------------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo:
        return disks.info(self.runner, path)

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        return disks.create(self.runner, path, disk_format, size_bytes)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        return disks.resize(self.runner, path, size_bytes)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        return disks.convert(self.runner, source, target, disk_format, progress=progress,
                             cancel=cancel)

    def compact_disk(self, path: Path) -> DiskInfo:
        """Optimize-VHD: give unused space of a dynamic disk back to the host."""
        return disks.compact(self.runner, path)

    def guest_addresses(self, machine_id: str) -> tuple[str, ...]:
        """The guest's IP addresses (from its integration services), cheaper than get_machine."""
        row = self.runner.run(Call("guest_addresses", {"Id": _id(machine_id)}))
        return tuple(str(a) for a in parsers.as_list(row.get("Addresses")))

    # -- consoles ---------------------------------------------------------------------------
    def console(self, machine_id: str) -> ConsoleEndpoints:
        vm_id = _id(machine_id)
        return console.endpoints(self.runner, vm_id, self.get_machine(vm_id).spec)

    def screenshot(self, machine_id: str) -> bytes:
        return console.screenshot(self.runner, _id(machine_id))

    def type_text(self, machine_id: str, text: str) -> None:
        console.type_text(self.runner, _id(machine_id), text)

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        console.send_keys(self.runner, _id(machine_id), keys)


#: Machine ids in Hyper-V's form (anything that is not a GUID names no machine).
_id = machine_id
