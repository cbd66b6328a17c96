"""What DesktopVM remembers about Hyper-V VMs that Hyper-V has no field for: the guest OS id."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from desktopvm import paths


class MetadataStore:
    """A small JSON file per host under the state root: {vm id: {"os": catalog id}}."""

    def __init__(self, host: str, folder: Path | None = None) -> None:
        safe = re.sub(r"[^\w.-]", "_", host) or "localhost"
        self.path = (folder or paths.state_root() / "hyperv") / f"{safe}.json"
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def os_ids(self) -> dict[str, str]:
        """Every remembered VM id -> OS id."""
        with self._lock:
            return {vm: str(entry.get("os", "")) for vm, entry in self._load().items()
                    if isinstance(entry, dict)}

    def set_os(self, vm_id: str, os_id: str) -> None:
        """Remember the guest OS of a VM."""
        with self._lock:
            data = self._load()
            data.setdefault(vm_id, {})["os"] = os_id
            paths.atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True))

    def forget(self, vm_id: str) -> None:
        """Drop a deleted VM."""
        with self._lock:
            data = self._load()
            if data.pop(vm_id, None) is not None:
                paths.atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True))
