"""The machines: the library's .vmx files, their states from one `vmrun list`, details from files.

One process per refresh (research/vmware.md §0.2, §A.3, §A.4):

- the library: Workstation's `inventory.vmls` (Fusion's `vmInventory`, same syntax:
  `vmlistN.config` = the .vmx path, `""` for a free slot) plus DesktopVM's own list of the
  machines it made or imported (kept in DesktopVM's state folder, so a machine stays listed
  even when Workstation rewrites its inventory from memory); Player has no inventory — its
  default folder (`*/*.vmx`) and the `pref.mruVM<N>.filename` entries of its preferences;
- running: one `vmrun list` ("Total running VMs: N" then one .vmx path per line). On Windows
  it lists only the calling user's machines (Vagrant switches to the lock folders for that):
  a machine that is not listed but holds a lock folder is UNKNOWN there, never OFF;
- suspended: a `*.vmss` next to the .vmx (Vagrant's `read_state`);
- paused: vmrun has no way to ask; pauses made through DesktopVM are remembered;
- everything else from the .vmx and .vmsd read directly: no process per machine.
"""

from __future__ import annotations

import glob
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from backends.vmware import vmsd
from backends.vmware.locate import Installation
from backends.vmware.translate import display_name, os_id, to_spec
from backends.vmware.vmrun import LIST_TIMEOUT, VmRun
from backends.vmware.vmx import VmxDocument, VmxError, lock_folders
from desktopvm.model import MachineSpec
from desktopvm.paths import atomic_write_bytes, atomic_write_text, state_root
from desktopvm.protocol import CommandFailed, MachineNotFound, MachineSummary, PowerState

log = logging.getLogger(__name__)
_VMLIST = re.compile(r"^vmlist(\d+)\.config$")
_MRU = re.compile(r"^pref\.mruvm(\d+)\.filename$")
LIST_HEADER = "Total running VMs:"


def parse_list(stdout: str) -> list[str]:
    """The .vmx paths of `vmrun list` (the header line, then one path per line)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines or not lines[0].startswith(LIST_HEADER):
        raise CommandFailed("vmrun list printed something unexpected",
                            details=stdout[:2000])
    return lines[1:]


def same_path(a: str, b: str, windows: bool) -> bool:
    """Paths compared as the host does (Vagrant lowercases and uses / on Windows)."""
    if windows:
        return a.replace("\\", "/").lower() == b.replace("\\", "/").lower()
    return a == b


def inventory_paths(path: Path | None) -> list[str]:
    """The .vmx paths of an inventory.vmls / vmInventory (free slots skipped)."""
    if path is None:
        return []
    try:
        document = VmxDocument.read(path)
    except (OSError, VmxError) as error:
        if not isinstance(error, FileNotFoundError):
            log.warning("cannot read the VMware inventory %s: %s", path, error)
        return []
    found = []
    for key in document.all_keys():
        match = _VMLIST.match(key)
        if match and document.get(key):
            found.append(document.get(key))
    return found


def player_paths(installation: Installation) -> list[str]:
    """Player: the MRU list of its preferences and the default folder's machines."""
    found: list[str] = []
    if installation.preferences is not None:
        try:
            prefs = VmxDocument.read(installation.preferences)
            found += [prefs.get(k) for k in prefs.all_keys() if _MRU.match(k) and prefs.get(k)]
        except (OSError, VmxError):
            pass
    folder = installation.default_folder
    if folder.is_dir():
        found += [str(p) for p in sorted(folder.glob("*/*.vmx"))]
    return found


@dataclass(frozen=True)
class Record:
    """One machine as read now."""

    vmx: Path
    document: VmxDocument
    state: PowerState
    summary: MachineSummary

    @property
    def name(self) -> str:
        return self.summary.name

    def spec(self, windows: bool) -> MachineSpec:
        return to_spec(self.document, self.vmx, windows=windows)


class Library:
    """DesktopVM's own list of VMware machines, and Workstation's inventory file."""

    def __init__(self, installation: Installation, own_list: Path | None = None) -> None:
        self.installation = installation
        self.own_list = own_list or state_root() / "vmware" / "machines.txt"
        self._lock = threading.Lock()

    def own(self) -> list[str]:
        try:
            return [line for line in self.own_list.read_text("utf-8").splitlines() if line]
        except FileNotFoundError:
            return []

    def paths(self) -> list[str]:
        """Every .vmx the library knows, once, in a stable order."""
        if self.installation.product == "player":
            listed = player_paths(self.installation)
        else:
            listed = inventory_paths(self.installation.inventory)
        found: list[str] = []
        for path in [*listed, *self.own()]:
            if not any(same_path(path, f, self.installation.windows) for f in found):
                found.append(path)
        return found

    def add(self, vmx: Path, name: str) -> None:
        """Remember a machine DesktopVM made, and list it in Workstation's inventory."""
        with self._lock:
            own = self.own()
            if str(vmx) not in own:
                atomic_write_text(self.own_list, "\n".join([*own, str(vmx)]) + "\n")
            self._inventory_add(vmx, name)

    def remove(self, vmx: Path) -> None:
        """Forget a machine (our list and Workstation's inventory: its slot becomes free)."""
        with self._lock:
            own = [p for p in self.own()
                   if not same_path(p, str(vmx), self.installation.windows)]
            atomic_write_text(self.own_list, "".join(p + "\n" for p in own))
            path = self.installation.inventory
            if path is None or not path.is_file():
                return
            document = VmxDocument.read(path)
            for key in document.all_keys():
                match = _VMLIST.match(key)
                if match and same_path(document.get(key), str(vmx), self.installation.windows):
                    prefix = f"vmlist{match.group(1)}."
                    for other in [k for k in document.all_keys() if k.startswith(prefix)]:
                        document.remove(other)
                    document.set(f"vmlist{match.group(1)}.config", "")
            atomic_write_bytes(path, document.to_bytes())

    def _inventory_add(self, vmx: Path, name: str) -> None:
        """A `vmlistN` record, as Workstation writes one (fixture: config, DisplayName,
        ParentID, ItemID, SeqID, IsClone, IsFavorite, CfgVersion, State)."""
        path = self.installation.inventory
        if path is None or not path.parent.is_dir():
            return  # VMware has never run for this user: nothing to add to
        try:
            document = VmxDocument.read(path) if path.exists() else VmxDocument(
                b'.encoding = "UTF-8"\n')
        except (OSError, VmxError) as error:
            log.warning("not listing %s in %s: %s", vmx, path, error)
            return
        numbers = [int(m.group(1)) for k in document.all_keys() if (m := _VMLIST.match(k))]
        listed = [n for n in numbers if same_path(document.get(f"vmlist{n}.config"), str(vmx),
                                                  self.installation.windows)]
        if listed:  # already there: a rename changes its DisplayName, nothing else
            if document.set(f"vmlist{listed[0]}.DisplayName", name):
                atomic_write_bytes(path, document.to_bytes())
            return
        free = [n for n in numbers if not document.get(f"vmlist{n}.config")]
        n = free[0] if free else max(numbers, default=0) + 1
        document.apply({f"vmlist{n}.config": str(vmx), f"vmlist{n}.DisplayName": name,
                        f"vmlist{n}.ParentID": "0", f"vmlist{n}.ItemID": str(n),
                        f"vmlist{n}.SeqID": str(n), f"vmlist{n}.IsClone": "FALSE",
                        f"vmlist{n}.IsFavorite": "FALSE", f"vmlist{n}.CfgVersion": "8",
                        f"vmlist{n}.State": "normal"})
        atomic_write_bytes(path, document.to_bytes())


class Inventory:
    """Machines by id (the .vmx path), their states, and the pauses DesktopVM made."""

    def __init__(self, vmrun: VmRun, library: Library, backend: str = "vmware",
                 host: str = "localhost") -> None:
        self.vmrun = vmrun
        self.library = library
        self.backend = backend
        self.host = host
        self.windows = library.installation.windows
        self.paused: set[str] = set()

    def running(self) -> list[str]:
        """One `vmrun list`."""
        return parse_list(self.vmrun.run("list", timeout=LIST_TIMEOUT).stdout)

    def refresh(self) -> list[MachineSummary]:
        """Every machine of the library: one vmrun process, the rest from files."""
        running = self.running()
        records = []
        for path in self.library.paths():
            try:
                records.append(self._record(Path(path), running))
            except MachineNotFound:
                continue  # an inventory entry whose .vmx is gone: Workstation shows it broken
        return [r.summary for r in records]

    def record(self, machine_id: str) -> Record:
        """One machine, read now (one `vmrun list` for its state)."""
        known = self.library.paths()
        if not any(same_path(machine_id, p, self.windows) for p in known):
            raise MachineNotFound(f"No VMware machine {machine_id!r}")
        return self._record(Path(machine_id), self.running())

    def state_of(self, vmx: Path, running: list[str]) -> PowerState:
        """Running (or paused by us), suspended, unknown (Windows, another user's), off."""
        if any(same_path(str(vmx), r, self.windows) for r in running):
            return PowerState.PAUSED if str(vmx) in self.paused else PowerState.RUNNING
        self.paused.discard(str(vmx))
        stem = glob.escape(vmx.stem)  # <vm>.vmss, or ESXi's <vm>-<hash>.vmss; not <vm>2.vmss
        if [*vmx.parent.glob(f"{stem}.vmss"), *vmx.parent.glob(f"{stem}-*.vmss")]:
            return PowerState.SAVED
        if self.windows and any(any(lock.iterdir()) for lock in lock_folders(vmx)):
            return PowerState.UNKNOWN  # vmrun list shows only the calling user's machines
        return PowerState.OFF

    def _record(self, vmx: Path, running: list[str]) -> Record:
        try:
            document = VmxDocument.read(vmx)
        except FileNotFoundError:
            raise MachineNotFound(f"The VMware machine file {vmx} is gone") from None
        except (OSError, VmxError) as error:
            raise MachineNotFound(f"Cannot read {vmx}: {error}") from error
        state = self.state_of(vmx, running)
        summary = MachineSummary(self.backend, str(vmx), display_name(document) or vmx.stem,
                                 state, self.host, os=os_id(document),
                                 cpus=max(1, document.number("numvcpus", 1)),
                                 memory_mib=document.number("memsize", 32))
        return Record(vmx, document, state, summary)

    def snapshots(self, vmx: Path) -> tuple[list[vmsd.Entry], str]:
        """The .vmsd's entries and current uid."""
        return vmsd.read(vmx)
