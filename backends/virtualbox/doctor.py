"""VirtualBox checks for `desktopvm-cli doctor`: VBoxManage, version, kernel driver, pack, space."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from backends.virtualbox.capabilities import (
    EXTPACK_MISSING,
    HostFacts,
    extension_packs,
    oracle_pack_usable,
)
from backends.virtualbox.lifecycle import NO_DRIVER
from backends.virtualbox.vboxmanage import VBoxManage, install_hint
from backends.virtualbox.versions import NEWEST_KNOWN, dialect_for
from desktopvm.connections import Check
from desktopvm.protocol import BackendError

GIB = 1024**3
LOW_SPACE_BYTES = 20 * GIB


def driver_fix(platform: str = sys.platform) -> str:
    """How to get vboxdrv loaded, per OS (the warning VBoxManage prints says the same)."""
    if platform.startswith("linux"):
        return ("Run `sudo /sbin/vboxconfig` (it builds and loads vboxdrv; install your kernel's "
                "headers first). With Secure Boot on, the module must be signed: enrol the key "
                "with `sudo mokutil --import` and restart, or load it after signing")
    if platform == "darwin":
        return ("Allow Oracle's system software in System Settings > Privacy & Security, then "
                "restart")
    return "Repair or reinstall VirtualBox as administrator, then restart"


def run(vbox: VBoxManage) -> list[Check]:
    """The checks, stopping early only where nothing further can be asked."""
    if not vbox.executable:
        return [Check("VBoxManage", False, "not found", install_hint())]
    checks = [Check("VBoxManage", True, vbox.executable)]
    try:
        version = vbox.version()
        dialect = dialect_for(version)
    except BackendError as error:
        return [*checks, Check("VirtualBox version", False, error.summary,
                               getattr(error, "install_hint", "") or install_hint())]
    newer = version.series > NEWEST_KNOWN
    checks.append(Check("VirtualBox version", True, f"{version}" + (
        f" (newer than {NEWEST_KNOWN[0]}.{NEWEST_KNOWN[1]}, which DesktopVM was tested with; "
        "it is spoken to as that)" if newer else "")))
    checks.append(Check("Kernel driver (vboxdrv)", not vbox.driver_warning,
                        "loaded" if not vbox.driver_warning else
                        f"{NO_DRIVER}. VBoxManage says: {vbox.driver_warning.strip()}",
                        "" if not vbox.driver_warning else driver_fix()))
    try:
        packs = vbox.run(["list", "extpacks"]).stdout
        facts = HostFacts.from_outputs(vbox.run(["list", "hostinfo"]).stdout,
                                       vbox.run(["list", "systemproperties"]).stdout)
    except BackendError as error:
        return [*checks, Check("VirtualBox service", False, error.summary,
                               "Restart the computer; if it persists, reinstall VirtualBox")]
    checks.append(_extension_pack(packs, str(version), dialect.usb2_nvme_builtin))
    checks.append(_space(facts.default_machine_folder))
    return checks


def _extension_pack(output: str, version: str, builtin: bool) -> Check:
    installed = [p for p in extension_packs(output) if "Extension Pack" in p.get("Name", "")]
    usable = oracle_pack_usable(output)
    if builtin:
        mismatch = [p for p in installed if p.get("Version") and p.get("Version") != version]
        if mismatch:
            return Check("Extension Pack", False, f"{mismatch[0]['Version']} installed, "
                         f"VirtualBox is {version}", "Install the Extension Pack of the same "
                         "version (VBoxManage extpack install --replace <file>), or remove it: "
                         "7.0 and later need it only for VRDP, disk encryption and webcams")
        return Check("Extension Pack", True, "not needed: USB 2.0/3.0 and NVMe are built into "
                     "VirtualBox 7" + (" (installed too)" if usable else ""))
    if usable:
        return Check("Extension Pack", True, "installed: USB 2.0/3.0 and NVMe available")
    why = next((p.get("Why unusable", "") for p in installed if p.get("Why unusable")), "")
    return Check("Extension Pack", False, ("installed but unusable: " + why) if installed
                 else "not installed: USB 1.1 only and no NVMe", EXTPACK_MISSING)


def _space(folder: str) -> Check:
    if not folder:
        return Check("Default machine folder", True, "not reported by VirtualBox")
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the folder is created with the first machine
    try:
        free = shutil.disk_usage(probe).free
    except OSError as error:
        return Check("Default machine folder", False, f"{folder}: {error}",
                     "Choose a folder that exists in VirtualBox's Preferences > General")
    detail = f"{folder}: {free / GIB:.1f} GiB free"
    return Check("Default machine folder", free >= LOW_SPACE_BYTES, detail,
                 "" if free >= LOW_SPACE_BYTES else "Free space there, or choose another "
                 "folder (VBoxManage setproperty machinefolder <folder>)")
