"""The inventory with as few VBoxManage calls as possible: 2 per refresh in the steady state.

A refresh asks `list vms` (ids and names) and `list runningvms` (which machines have a
process). A machine's showvminfo is asked again only when it is new, active now or before
(running and paused look alike in `list runningvms`), renamed, or when its `.vbox` file
changed (VirtualBox rewrites it on every settings change and on saved/aborted/discarded
state, so offline state changes show there at no process cost). Calls per refresh:

    first refresh:     2 + N          (N machines)
    steady state:      2 + A + C      (A active machines, C machines changed since)
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from backends.virtualbox.parse import parse_vm_list
from backends.virtualbox.reader import INACCESSIBLE, MachineReader, MachineRecord
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    MachineNotFound,
    MachineSummary,
    PowerState,
    TimedOut,
)

Stamp = tuple[int, int] | None
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def machine_uuid(machine_id: str) -> str:
    """Machines are addressed by UUID only, so no name can be mistaken for an option."""
    if not UUID_PATTERN.match(machine_id.strip()):
        raise MachineNotFound(f"No VirtualBox machine with id {machine_id!r}",
                              "VirtualBox machine ids are UUIDs")
    return machine_id.strip().lower()


def file_stamp(path: str) -> Stamp:
    """(modification time in ns, size) of a file, or None if it cannot be read."""
    if not path:
        return None
    try:
        status = Path(path).stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


@dataclass(frozen=True)
class Entry:
    """A cached machine and the stamp of its .vbox file when it was read."""

    record: MachineRecord
    stamp: Stamp


class Inventory:
    """Cached summaries of every machine; thread-safe."""

    def __init__(self, vbox: VBoxManage, reader: MachineReader) -> None:
        self.vbox = vbox
        self.reader = reader
        self._entries: dict[str, Entry] = {}
        self._settings_files: dict[str, str] = {}  # outlives forget(): paths rarely change
        self._lock = threading.Lock()

    def record(self, machine_id: str) -> MachineRecord:
        """A fresh read of one machine (one showvminfo), remembered for the next refresh."""
        record = self.reader.read(machine_uuid(machine_id))
        self.remember(record)
        return record

    def registered_ids(self) -> set[str]:
        """The ids of the registered machines (for clean-up after a failed clone or import)."""
        result = self.vbox.run(["list", "vms"], check=False)
        return {uuid for _, uuid in parse_vm_list(result.stdout)}

    def remember(self, record: MachineRecord) -> None:
        """Keep a record read elsewhere (get_machine), so the next refresh can skip it."""
        with self._lock:
            self._entries[record.uuid] = Entry(record, file_stamp(record.settings_file))
            self._settings_files[record.uuid] = record.settings_file

    def settings_file(self, uuid: str) -> str:
        """The .vbox file of a machine read before ('' if none was)."""
        with self._lock:
            return self._settings_files.get(uuid.lower(), "")

    def forget(self, uuid: str) -> None:
        """Drop a machine (deleted, or changed by us: read it again next time)."""
        with self._lock:
            self._entries.pop(uuid.lower(), None)

    def cached(self, uuid: str) -> MachineRecord | None:
        """The last record of a machine, if any."""
        with self._lock:
            entry = self._entries.get(uuid.lower())
        return entry.record if entry else None

    def _stale(self, uuid: str, name: str, running: set[str]) -> bool:
        with self._lock:
            entry = self._entries.get(uuid)
        if entry is None or uuid in running or entry.record.state.is_active:
            return True
        if entry.record.spec.name not in (name, INACCESSIBLE):
            return True
        return file_stamp(entry.record.settings_file) != entry.stamp

    def refresh(self) -> list[MachineSummary]:
        """Every machine, in VirtualBox's order."""
        listed = parse_vm_list(self.vbox.run(["list", "vms"]).stdout)
        running = {uuid for _, uuid in parse_vm_list(self.vbox.run(["list", "runningvms"]).stdout)}
        summaries = []
        for name, uuid in listed:
            if self._stale(uuid, name, running):
                try:
                    record = self.reader.read(uuid)
                except MachineNotFound:  # deleted between the two calls
                    self.forget(uuid)
                    continue
                except (BackendUnavailable, TimedOut):
                    raise
                except BackendError:  # one unreadable machine must not hide the others
                    self.forget(uuid)
                    summaries.append(MachineSummary(self.reader.backend_name, uuid, name,
                                                    PowerState.UNKNOWN,
                                                    host=self.reader.host_name))
                    continue
                self.remember(record)
            cached = self.cached(uuid)
            if cached is not None:
                summaries.append(cached.summary)
        with self._lock:
            for gone in self._entries.keys() - {uuid for _, uuid in listed}:
                del self._entries[gone]
        return summaries
