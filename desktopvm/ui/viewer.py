"""The app's one door to programs it starts itself: the hypervisor's own viewer, detached.

Detached on purpose: the viewer (vmconnect.exe, VirtualBoxVM) belongs to the user once it
opens. Closing a console window neither kills it nor waits for it, and nothing here runs on
or blocks the GUI thread beyond the start itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QProcess

log = logging.getLogger(__name__)


def start_viewer(argv: Sequence[str]) -> str:
    """Start `argv` detached; "" on success, else why it could not start (one line)."""
    if not argv:
        return "This machine has no native viewer"
    started, pid = QProcess.startDetached(argv[0], list(argv[1:]))
    if not started:
        return f"Could not start {argv[0]}: it is missing or cannot be run"
    log.info("started %s (pid %d)", argv[0], pid)
    return ""
