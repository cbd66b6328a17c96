"""The QEMU backend: real VMs on Linux and macOS with QEMU (KVM or HVF when usable, else TCG).

Each machine is a folder in the library (`<library>/<id>/`) holding its spec file, disks,
UEFI variable store, TPM state and snapshot records. QEMU runs detached, so machines outlive
the app; any process reconnects through the machine's QMP socket. This `__init__` stays
light: the registry imports it to ask `detect()` before anything heavy is loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
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
    from backends.qemu.qemu_img import find_qemu_img

    if sys.platform == "win32":
        return ProbeResult("qemu", False, reason=WINDOWS_REASON)
    # Every missing piece at once (not the binary now and qemu-img after the user fixed it),
    # and "off PATH" told from "not installed": the fix differs.
    missing: list[str] = []
    off_path: list[str] = []
    settable: list[str] = []  # what Preferences can point at, for the hint
    binary = find_qemu(settings.qemu_binary)
    if binary is None:
        if settings.qemu_binary:
            missing.append(f"the QEMU binary set in Preferences, {settings.qemu_binary}, was "
                           "not found")
        elif _place("qemu-system-x86_64", missing, off_path):
            settable.append("the QEMU binary")
    if not find_qemu_img(settings.qemu_img_path, binary or ""):
        if settings.qemu_img_path:
            missing.append(f"the qemu-img set in Preferences, {settings.qemu_img_path}, was "
                           "not found")
        # On macOS the qemu-img door looks in Homebrew's and MacPorts' folders itself.
        elif _place("qemu-img", missing, off_path, usual_is_fine=sys.platform == "darwin"):
            settable.append("qemu-img")
    if not missing:
        return ProbeResult("qemu", True)
    hint = install_hint() if any(m.endswith("is not installed") for m in missing) else ""
    if off_path:
        hint = "; ".join(h for h in (
            f"add {' and '.join(sorted(set(off_path)))} to PATH, or set "
            f"{' and '.join(settable)} in Preferences", hint) if h)
    return ProbeResult("qemu", False, reason="; ".join(missing), install_hint=hint)


# Where QEMU is installed when PATH does not say so: Fedora's qemu-kvm, Homebrew and MacPorts
# (apps started from Finder lack their PATH), /usr/local builds, snaps.
_USUAL_FOLDERS = ("/usr/bin", "/usr/local/bin", "/usr/libexec", "/opt/homebrew/bin",
                  "/opt/local/bin", "/snap/bin")


def _place(tool: str, missing: list[str], off_path: list[str], *,
           usual_is_fine: bool = False) -> bool:
    """Say whether `tool` is off PATH (found in a usual folder) or not installed; True when
    it is off PATH (Preferences can point at it)."""
    folder = next((f for f in _USUAL_FOLDERS if (Path(f) / tool).is_file()), "")
    if folder and usual_is_fine:
        return False
    if folder:
        missing.append(f"{tool} is installed in {folder}, which is not on PATH")
        off_path.append(folder)
        return True
    missing.append(f"{tool} is not installed")
    return False


def open_backend(settings: Settings) -> QemuBackend:
    """The QEMU backend for this settings' library."""
    from backends.qemu.backend import QemuBackend

    return QemuBackend(settings)


def doctor_checks(settings: Settings, backend: object = None) -> list[Check]:
    """`desktopvm-cli doctor`: QEMU on this computer, each finding with its fix."""
    from backends.qemu import doctor

    return doctor.run(settings)
