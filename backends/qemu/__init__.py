"""The QEMU backend: real VMs on Linux and macOS with QEMU (KVM or HVF when usable, else TCG).

Each machine is a folder in the library (`<library>/<id>/`) holding its spec file, disks,
UEFI variable store, TPM state and snapshot records. QEMU runs detached, so machines outlive
the app; any process reconnects through the machine's QMP socket. This `__init__` stays
light: the registry imports it to ask `detect()` before anything heavy is loaded.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings

if TYPE_CHECKING:
    from backends.qemu.backend import QemuBackend
    from desktopvm.connections import Check


#: Why the QEMU backend is not offered on Windows (yet): it relies on Unix sockets for QMP,
#: VNC, serial and migration, and on QEMU's -daemonize, which Windows builds lack.
WINDOWS_REASON = ("The QEMU backend does not run on Windows yet (it needs Unix sockets and "
                  "QEMU's -daemonize); use Hyper-V or VirtualBox there")


def detect(settings: Settings) -> ProbeResult:
    """Is QEMU installed? (No process is started; `probe()` on the backend runs it.)"""
    from backends.qemu.process import find_qemu, install_hint

    if sys.platform == "win32":
        return ProbeResult("qemu", False, reason=WINDOWS_REASON)
    if find_qemu(settings.qemu_binary) is None:
        return ProbeResult("qemu", False, reason="qemu-system-x86_64 is not installed",
                           install_hint=install_hint())
    return ProbeResult("qemu", True)


def open_backend(settings: Settings) -> QemuBackend:
    """The QEMU backend for this settings' library."""
    from backends.qemu.backend import QemuBackend

    return QemuBackend(settings)


def doctor_checks(settings: Settings, backend: object = None) -> list[Check]:
    """`desktopvm-cli doctor`: QEMU on this computer, each finding with its fix."""
    from backends.qemu import doctor

    return doctor.run(settings)
