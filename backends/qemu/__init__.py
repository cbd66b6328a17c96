"""The QEMU backend: real VMs on any machine with QEMU (KVM, WHPX or HVF when usable, else TCG).

Each machine is a folder in the library (`<library>/<id>/`) holding its spec file, disks,
UEFI variable store, TPM state and snapshot records. QEMU runs detached, so machines outlive
the app; any process reconnects through the machine's QMP socket. This `__init__` stays
light: the registry imports it to ask `detect()` before anything heavy is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings

if TYPE_CHECKING:
    from backends.qemu.backend import QemuBackend


def detect(settings: Settings) -> ProbeResult:
    """Is QEMU installed? (No process is started; `probe()` on the backend runs it.)"""
    from backends.qemu.process import find_qemu, install_hint

    if find_qemu(settings.qemu_binary) is None:
        return ProbeResult("qemu", False, reason="qemu-system-x86_64 is not installed",
                           install_hint=install_hint())
    return ProbeResult("qemu", True)


def open_backend(settings: Settings) -> QemuBackend:
    """The QEMU backend for this settings' library."""
    from backends.qemu.backend import QemuBackend

    return QemuBackend(settings)
