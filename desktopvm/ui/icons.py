"""Icons from resources/icons (SVG, so they stay sharp at any scale), loaded once each."""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtGui import QIcon

from desktopvm.paths import resources_dir

# Every icon the UI uses; tests check each has its file.
NAMES = (
    "app", "new", "start", "shutdown", "poweroff", "pause", "resume", "save-state", "reset",
    "console", "snapshot", "restore", "clone", "export", "import", "delete", "settings",
    "refresh", "cancel", "preferences", "state-running", "state-off", "state-paused",
    "state-saved", "state-aborted", "state-busy", "state-unknown", "backend-qemu",
    "backend-virtualbox", "backend-hyperv", "host", "error", "os-windows", "os-linux",
    "os-bsd", "os-other", "disk", "network", "cpu", "memory",
)


@functools.cache
def icon(name: str, fallback: str = "os-other") -> QIcon:
    """The named icon; `fallback` for names without a file (e.g. a backend from a plug-in)."""
    path = _folder() / f"{name}.svg"
    if not path.is_file():
        path = _folder() / f"{fallback}.svg"
    return QIcon(str(path))


@functools.cache
def _folder() -> Path:
    """Found once: the toolbar alone asks for a dozen icons before the first paint."""
    return resources_dir() / "icons"
