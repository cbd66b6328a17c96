"""HyperVBackend: the Backend protocol over one PowerShell session per host (local or WinRM)."""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backends.hyperv import console, copies, layout, locate, parsers, plans
from backends.hyperv.caps import capabilities
from backends.hyperv.details import machine_info
from backends.hyperv.errors import (
    ENABLE_HYPERV_HINT,
    HYPERV_ADMINISTRATORS_HINT,
    permission_message,
)
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.plans import Call
from backends.hyperv.session import Channel, PowerShellSession
from desktopvm.model import Capabilities, DiskFormat, MachineSpec, changed_groups, errors, validate
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    CancelToken,
    ConsoleEndpoints,
    DiskInfo,
    HostInfo,
    InvalidSpec,
    MachineInfo,
    MachineNotFound,
    MachineSummary,
    PowerState,
    ProbeResult,
    Progress,
    SerialEndpoint,
    Snapshot,
    StartMode,
    UnsupportedOperation,
)
from desktopvm.protocol.keys import UnknownKey

log = logging.getLogger(__name__)
FACTS_TTL = 60.0


class HyperVBackend:
    """Hyper-V on one host. Quick requests and long copies use separate sessions, so an
    export does not hold up the inventory; each session runs its requests one at a time."""

    name = "hyperv"
    display_name = "Hyper-V"

    def __init__(self, channel_factory: Callable[[], Channel], *, host: str = "localhost",
                 local: bool = True, metadata: MetadataStore | None = None) -> None:
        self.host = host
        self.local = local
        self.quick = PowerShellSession(channel_factory, host=host)
        self.slow = PowerShellSession(channel_factory, host=host)
        self.metadata = metadata or MetadataStore(host)
        self._facts: tuple[float, parsers.HostFacts] | None = None
        self._facts_lock = threading.Lock()

    def close(self) -> None:
        """Stop both PowerShell sessions."""
        self.quick.close()
        self.slow.close()

    # -- plumbing ---------------------------------------------------------------------------
    def run(self, call: Call, *, cancel: CancelToken | None = None, interruptible: bool = True,
            slow: bool = False) -> Any:
        """Send one planned request on the quick (or the slow) session."""
        session = self.slow if slow else self.quick
        return session.request(call.op, call.args, timeout=call.timeout, cancel=cancel,
                               interruptible=interruptible)

    def facts(self, *, fresh: bool = False) -> parsers.HostFacts:
        """host_info, cached for a minute."""
        with self._facts_lock:
            if fresh or self._facts is None or time.monotonic() - self._facts[0] > FACTS_TTL:
                self._facts = (time.monotonic(), parsers.host_facts(self.run(Call("host_info"))))
            return self._facts[1]

    @staticmethod
    def machine_id(machine_id: str) -> str:
        """A VM id in canonical form; anything that is not a GUID names no machine."""
        try:
            return str(uuid.UUID(machine_id))
        except (ValueError, AttributeError, TypeError):
            raise MachineNotFound(f"No machine with id {machine_id}") from None

    def _details(self, machine_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.run(Call("get_vm", {"Id": self.machine_id(machine_id)}))
        return result

    def _os_id(self, machine_id: str) -> str:
        return self.metadata.os_ids().get(machine_id, "")

    def check(self, spec: MachineSpec) -> None:
        """InvalidSpec with every problem Hyper-V would have with `spec`."""
        problems = errors(validate(spec, self.capabilities(), check_paths=self.local))
        problems += layout.problems(spec)
        if problems:
            raise InvalidSpec(problems)

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
            answer = self.run(Call("probe"))
        except BackendError as error:
            return ProbeResult(self.name, False, reason=error.summary)
        version = (f"Hyper-V module {answer.get('ModuleVersion', '?')}, Windows "
                   f"{answer.get('OsVersion', '?')}, PowerShell {ready.get('ps_version', '?')}")
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
        return parsers.inventory(self.run(Call("list_vms")), self.host, self.metadata.os_ids())

    def get_machine(self, machine_id: str) -> MachineInfo:
        vm_id = self.machine_id(machine_id)
        return machine_info(self._details(vm_id), self.host, self._os_id(vm_id))

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self.check(spec)
        cancel.raise_if_cancelled()
        progress(None, "Creating the machine")
        call = plans.create(spec, self.facts().default_switch)
        result = self.run(call, cancel=cancel, interruptible=False)
        vm_id = self.machine_id(str(result["Id"]))
        self.metadata.set_os(vm_id, spec.os)
        if cancel.cancelled:  # Hyper-V finished; undo it
            made = [d["Path"] for d in call.args["Disks"] if d["Create"] and d["Path"]]
            copies.discard(self, vm_id, [*made, str(result.get("Folder", ""))])
            cancel.raise_if_cancelled()
        progress(1.0, "Created")
        return vm_id

    def update(self, machine_id: str, old: MachineSpec, new: MachineSpec, *, progress: Progress,
               cancel: CancelToken) -> None:
        vm_id = self.machine_id(machine_id)
        if not changed_groups(old, new):
            return
        self.check(new)
        state = parsers.power_state(self._details(vm_id).get("State"))
        calls = plans.update(vm_id, old, new, running=state is not PowerState.OFF,
                             default_switch=self.facts().default_switch)
        for index, call in enumerate(calls):
            cancel.raise_if_cancelled()
            progress(index / max(len(calls), 1), f"Applying {call.op.replace('_', ' ')}")
            self.run(call, cancel=cancel, interruptible=False)
        if old.os != new.os:
            self.metadata.set_os(vm_id, new.os)

    def delete(self, machine_id: str, *, delete_disks: bool, progress: Progress,
               cancel: CancelToken) -> None:
        vm_id = self.machine_id(machine_id)
        self.run(Call("remove_vm", {"Id": vm_id, "DeleteDisks": delete_disks},
                      timeout=plans.SLOW), interruptible=False)
        self.metadata.forget(vm_id)

    # -- lifecycle --------------------------------------------------------------------------
    def _power(self, op: str, machine_id: str, timeout: float = plans.SLOW) -> None:
        self.run(Call(op, {"Id": self.machine_id(machine_id)}, timeout=timeout),
                 interruptible=False)

    def start(self, machine_id: str, *, mode: StartMode = StartMode.HEADLESS) -> None:
        self._power("start_vm", machine_id)

    def shutdown(self, machine_id: str) -> None:
        self._power("shutdown_vm", machine_id, plans.QUICK)

    def power_off(self, machine_id: str) -> None:
        self._power("stop_vm", machine_id)

    def reset(self, machine_id: str) -> None:
        self._power("restart_vm", machine_id)

    def pause(self, machine_id: str) -> None:
        self._power("suspend_vm", machine_id)

    def resume(self, machine_id: str) -> None:
        self._power("resume_vm", machine_id)

    def save_state(self, machine_id: str, *, progress: Progress, cancel: CancelToken) -> None:
        progress(None, "Saving the machine's state")
        self._power("save_vm", machine_id)

    # -- snapshots --------------------------------------------------------------------------
    def list_snapshots(self, machine_id: str) -> tuple[tuple[Snapshot, ...], str]:
        details = self._details(machine_id)
        return (parsers.snapshot_tree(details.get("Checkpoints")),
                str(details.get("CurrentCheckpointId") or "").lower())

    def take_snapshot(self, machine_id: str, name: str, *, description: str = "",
                      include_memory: bool = True, progress: Progress,
                      cancel: CancelToken) -> Snapshot:
        progress(None, "Taking a checkpoint")
        row = self.run(Call("checkpoint_vm", {"Id": self.machine_id(machine_id), "Name": name,
                                              "Notes": description,
                                              "IncludeMemory": include_memory},
                            timeout=plans.SLOW), interruptible=False)
        return parsers.snapshot_tree([{**row, "ParentCheckpointId": ""}])[0]

    def restore_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                         cancel: CancelToken) -> None:
        progress(None, "Restoring the checkpoint")
        self.run(Call("restore_checkpoint", {"Id": self.machine_id(machine_id),
                                             "CheckpointId": snapshot_id}, timeout=plans.SLOW),
                 interruptible=False)

    def delete_snapshot(self, machine_id: str, snapshot_id: str, *, progress: Progress,
                        cancel: CancelToken) -> None:
        progress(None, "Deleting the checkpoint (merging its disk)")
        self.run(Call("remove_checkpoint", {"Id": self.machine_id(machine_id),
                                            "CheckpointId": snapshot_id}, timeout=plans.COPY),
                 interruptible=False, slow=True)

    # -- copies -----------------------------------------------------------------------------
    def clone(self, machine_id: str, new_name: str, *, linked: bool = False,
              snapshot_id: str = "", progress: Progress, cancel: CancelToken) -> str:
        if linked:
            raise UnsupportedOperation("Hyper-V clones are full copies (export and import); "
                                       "linked clones are not offered")
        return copies.clone(self, self.machine_id(machine_id), new_name,
                            snapshot_id=snapshot_id, progress=progress, cancel=cancel)

    def export(self, machine_id: str, path: Path, *, progress: Progress,
               cancel: CancelToken) -> None:
        copies.export(self, self.machine_id(machine_id), path, progress, cancel)

    def import_machine(self, path: Path, *, name: str = "", progress: Progress,
                       cancel: CancelToken) -> str:
        return copies.import_machine(self, path, name, progress, cancel)

    # -- disks ------------------------------------------------------------------------------
    def disk_info(self, path: Path) -> DiskInfo:
        return parsers.disk_info(self.run(Call("get_vhd", {"Path": str(path)})))

    def create_disk(self, path: Path, disk_format: DiskFormat, size_bytes: int, *,
                    progress: Progress, cancel: CancelToken) -> DiskInfo:
        copies.require_vhd(path, disk_format)
        row = self.run(Call("new_vhd", {"Path": str(path), "SizeBytes": layout.round_size(
            size_bytes), "Fixed": False}, timeout=plans.SLOW), interruptible=False)
        return parsers.disk_info(row)

    def resize_disk(self, path: Path, size_bytes: int, *, progress: Progress,
                    cancel: CancelToken) -> DiskInfo:
        row = self.run(Call("resize_vhd", {"Path": str(path),
                                           "SizeBytes": layout.round_size(size_bytes)},
                            timeout=plans.COPY), interruptible=False, slow=True)
        return parsers.disk_info(row)

    def convert_disk(self, source: Path, target: Path, disk_format: DiskFormat, *,
                     progress: Progress, cancel: CancelToken) -> DiskInfo:
        return copies.convert_disk(self, source, target, disk_format, progress=progress,
                                   cancel=cancel)

    def compact_disk(self, path: Path) -> DiskInfo:
        """Optimize-VHD: give unused space of a dynamic disk back to the host."""
        row = self.run(Call("optimize_vhd", {"Path": str(path)}, timeout=plans.COPY),
                       interruptible=False, slow=True)
        return parsers.disk_info(row)

    def guest_addresses(self, machine_id: str) -> tuple[str, ...]:
        """The guest's IP addresses (from its integration services), cheaper than get_machine."""
        row = self.run(Call("guest_addresses", {"Id": self.machine_id(machine_id)}))
        return tuple(str(a) for a in parsers.as_list(row.get("Addresses")))

    # -- consoles ---------------------------------------------------------------------------
    def console(self, machine_id: str) -> ConsoleEndpoints:
        spec = self.get_machine(machine_id).spec
        serial = None
        if self.local:
            serial = next((SerialEndpoint(pipe=p.path) for p in sorted(
                spec.serial, key=lambda p: p.number) if p.path), None)
        return ConsoleEndpoints(serial=serial,
                                native_viewer=("vmconnect.exe", self.host, spec.name))

    def screenshot(self, machine_id: str) -> bytes:
        row = self.run(Call("thumbnail", {"Id": self.machine_id(machine_id), "Width": 0,
                                          "Height": 0}))
        return console.rgb565_to_png(base64.b64decode(row["ImageData"]),
                                     parsers.as_int(row["Width"]), parsers.as_int(row["Height"]))

    def type_text(self, machine_id: str, text: str) -> None:
        vm_id = self.machine_id(machine_id)
        try:
            parts = console.typeable(text)
        except UnknownKey as error:
            raise UnsupportedOperation(str(error)) from error
        for kind, value in parts:
            if kind == "text":
                self.run(Call("type_text", {"Id": vm_id, "Text": value}))
            else:
                self.run(Call("type_keys", {"Id": vm_id, "Combos": [console.combo(value)]}))

    def send_keys(self, machine_id: str, keys: Sequence[str]) -> None:
        try:
            combos = [console.combo(key) for key in keys]
        except UnknownKey as error:
            raise UnsupportedOperation(str(error)) from error
        self.run(Call("type_keys", {"Id": self.machine_id(machine_id), "Combos": combos}))
