"""The app's settings (config.json under the state root): read tolerantly, written atomically.

A plain dataclass rather than a pydantic model: the GUI reads settings before its first
paint, and keeping pydantic out of that path keeps start-up fast.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktopvm import paths
from desktopvm.connections import HostConfig, host_from_data

log = logging.getLogger(__name__)

REFRESH_RANGE = (1.0, 3600.0)


@dataclass(frozen=True)
class Settings:
    """User preferences. Every field has a default, so a missing file means defaults."""

    library_dir: str = ""  # empty: <state root>/machines
    qemu_binary: str = ""  # empty: qemu-system-x86_64 on PATH
    qemu_img_path: str = ""  # empty: $DESKTOPVM_QEMU_IMG, PATH, beside the QEMU binary, usual
    qemu_accel: str = ""  # empty: best available; "tcg", "kvm", "whpx", "hvf"
    vboxmanage_path: str = ""  # empty: search the usual places
    powershell_path: str = ""  # empty: powershell.exe / pwsh
    vmrun_path: str = ""  # empty: $DESKTOPVM_VMRUN, else VMware's usual install places
    refresh_interval_s: float = 5.0
    theme: str = ""  # empty: light or dark as the operating system says; "light", "dark"
    vnc_password: bool = False  # QEMU: protect each machine's VNC console with a random password
    hosts: tuple[HostConfig, ...] = ()  # remote hosts the user added, in the tree's order

    def __post_init__(self) -> None:
        low, high = REFRESH_RANGE
        if not low <= self.refresh_interval_s <= high:
            raise ValueError(f"refresh_interval_s must be between {low} and {high} seconds")
        ids = [host.id for host in self.hosts]
        duplicate = next((i for i in ids if ids.count(i) > 1), "")
        if duplicate:
            raise ValueError(f"the host {duplicate} is listed twice")

    def host(self, connection_id: str) -> HostConfig | None:
        """The remote host with this connection id, if the user added it."""
        return next((h for h in self.hosts if h.id == connection_id), None)

    def with_host(self, host: HostConfig, replacing: str = "") -> Settings:
        """A copy with `host` added, or put in the place of the host `replacing` (an id)."""
        old = replacing or host.id
        hosts = list(self.hosts)
        index = next((i for i, h in enumerate(hosts) if h.id == old), len(hosts))
        hosts[index:index + 1] = [host]
        return self.replace(hosts=tuple(hosts))

    def without_host(self, connection_id: str) -> Settings:
        """A copy without that host."""
        return self.replace(hosts=tuple(h for h in self.hosts if h.id != connection_id))

    def library(self) -> Path:
        """The folder QEMU machines live in."""
        return Path(self.library_dir).expanduser() if self.library_dir else paths.machines_dir()

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def settings_from_data(data: object) -> Settings:
    """Settings from parsed JSON: unknown keys ignored, wrong types refused."""
    if not isinstance(data, dict):
        raise ValueError("the settings file must hold a JSON object")
    known = {f.name: f.type for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key == "hosts":
            if not isinstance(value, list):
                raise ValueError("hosts must be a list")
            values[key] = _hosts(value)
        elif key == "refresh_interval_s":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            values[key] = float(value)
        elif known[key] in ("bool", bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            values[key] = value
        elif isinstance(value, str):
            values[key] = value
        else:
            raise ValueError(f"{key} must be text")
    return Settings(**values)


def _hosts(items: list[object]) -> tuple[HostConfig, ...]:
    """The hosts that read well; a broken or repeated entry is skipped with a warning, so one
    bad line does not throw away every other setting."""
    hosts: dict[str, HostConfig] = {}
    for item in items:
        try:
            host = host_from_data(item)
        except ValueError as error:
            log.warning("ignoring a host in the settings file: %s", error)
            continue
        hosts.setdefault(host.id, host)
    return tuple(hosts.values())


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing or broken file gives defaults and a logged warning, no crash."""
    path = path or paths.config_file()
    try:
        return settings_from_data(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, RecursionError) as error:
        # RecursionError: thousands of nested brackets; the app must still start.
        log.warning("ignoring unreadable settings file %s: %s", path, type(error).__name__
                    if isinstance(error, RecursionError) else error)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write settings atomically."""
    path = path or paths.config_file()
    paths.atomic_write_text(path, json.dumps(dataclasses.asdict(settings), indent=2) + "\n")
