"""Where VMware is installed, which product and version, and its per-user files (no processes).

research/vmware.md §A.2 and §A.3:

- Windows: `HKLM\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMware Workstation` values
  `InstallPath` and `ProductVersion` (Vagrant opens the key with WOW64_32KEY; Packer tries the
  WOW6432Node key, then the plain one); the `Core` value of `…\\VMware, Inc.` names the product
  ("VMware Workstation" / "VMware Player"); fallbacks `%ProgramFiles(x86)%` and
  `%ProgramFiles%\\VMware\\VMware Workstation`; `vmware-vmx.exe` in `x64\\`.
- Linux: `/usr/bin/vmrun`, `/usr/bin/vmware-vdiskmanager`, `/usr/lib/vmware/bin/vmware-vmx`
  (its `-v` prints the version on stderr); `/etc/vmware/config` holds `product.name`,
  `product.version`, `product.buildNumber` (fixture vmware_ws17_linux_etc_vmware_config.txt).
- macOS: `/Applications/VMware Fusion.app/Contents/Library/{vmrun,vmware-vdiskmanager,
  vmware-vmx}` and `-T fusion`.
- The library: `%APPDATA%\\VMware\\inventory.vmls` / `~/.vmware/inventory.vmls` / Fusion's
  `~/Library/Application Support/VMware Fusion/vmInventory`; Player has none (its default
  folder and MRU list instead); preferences `preferences.ini` / `~/.vmware/preferences` /
  `~/Library/Preferences/VMware Fusion/preferences`; default VM folders
  `Documents\\Virtual Machines`, `~/vmware`, `~/Virtual Machines.localized`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from backends.vmware.vmx import VmxDocument, VmxError

ENV_VMRUN = "DESKTOPVM_VMRUN"  # a vmrun to use instead of searching (tests, odd installs)
FUSION_LIBRARY = Path("/Applications/VMware Fusion.app/Contents/Library")
_VERSION = re.compile(r"VMware (Workstation|Player|Fusion)[^\d]*(\d+\.\d+\.\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Installation:
    """One VMware product on this computer and the files DesktopVM reads."""

    product: str  # "ws", "fusion" or "player": vmrun's -T
    vmrun: str
    vdiskmanager: str = ""
    vmware_vmx: str = ""
    version: str = ""  # "17.6.2"; "" until known
    inventory: Path | None = None  # None for Player (no library)
    preferences: Path | None = None
    default_folder: Path = field(default_factory=Path.home)
    windows: bool = sys.platform == "win32"
    why_not: str = ""  # why it is not usable, when it is not

    @property
    def display_product(self) -> str:
        return {"ws": "VMware Workstation", "fusion": "VMware Fusion",
                "player": "VMware Workstation Player"}[self.product]


def user_files(product: str, home: Path | None = None, platform: str = sys.platform
               ) -> tuple[Path | None, Path, Path]:
    """(inventory, preferences, default VM folder) of the current user for `product`."""
    home = home or Path.home()
    if platform == "darwin":
        inventory: Path | None = home / "Library/Application Support/VMware Fusion/vmInventory"
        return (inventory, home / "Library/Preferences/VMware Fusion/preferences",
                home / "Virtual Machines.localized")
    if platform == "win32":
        appdata = Path(os.environ.get("APPDATA", str(home / "AppData/Roaming"))) / "VMware"
        inventory = appdata / "inventory.vmls"
        prefs, folder = appdata / "preferences.ini", home / "Documents" / "Virtual Machines"
    else:
        inventory = home / ".vmware" / "inventory.vmls"
        prefs, folder = home / ".vmware" / "preferences", home / "vmware"
    return (None if product == "player" else inventory), prefs, folder


def version_from_text(text: str) -> tuple[str, str]:
    """(product word, version) from `vmware-vmx -v` / `vmware -v` output, or ("", "")."""
    match = _VERSION.search(text)
    return (match.group(1).lower(), match.group(2)) if match else ("", "")


def linux_config(path: Path = Path("/etc/vmware/config")) -> tuple[str, str]:
    """(product name, version) from /etc/vmware/config, or ("", "")."""
    try:
        document = VmxDocument.read(path)
    except (OSError, VmxError):
        return "", ""
    return document.get("product.name"), document.get("product.version")


def _windows_registry() -> tuple[str, str, str]:
    """(InstallPath, ProductVersion, Core) from the WOW6432Node key, then the plain one."""
    if sys.platform != "win32":
        return "", "", ""
    import winreg

    install, version, core = "", "", ""
    for base in (r"SOFTWARE\WOW6432Node\VMware, Inc.", r"SOFTWARE\VMware, Inc."):
        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, base) as key:
                core = core or str(winreg.QueryValueEx(key, "Core")[0])
        except OSError:
            pass
        for product in ("VMware Workstation", "VMware Player"):
            try:
                with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, base + "\\" + product) as key:
                    install = install or str(winreg.QueryValueEx(key, "InstallPath")[0])
                    version = version or str(winreg.QueryValueEx(key, "ProductVersion")[0])
            except OSError:
                continue
    return install, version, core


def _installation(product: str, vmrun: str, folder: Path, vmx: Path, version: str,  # noqa: PLR0917
                  home: Path | None, platform: str) -> Installation:
    inventory, prefs, default = user_files(product, home, platform)
    vdisk = folder / ("vmware-vdiskmanager.exe" if platform == "win32" else "vmware-vdiskmanager")
    return Installation(product, vmrun, str(vdisk) if vdisk.is_file() else "",
                        str(vmx) if vmx.is_file() else "", version, inventory, prefs, default,
                        windows=platform == "win32")


def find_installation(home: Path | None = None, vmrun: str = "") -> Installation | None:
    """The VMware product here, or None. `vmrun` (Preferences) or `$DESKTOPVM_VMRUN` names a
    vmrun to use (its folder holds vmware-vdiskmanager; `$DESKTOPVM_VMRUN_TYPE` its -T,
    default ws)."""
    explicit = vmrun or os.environ.get(ENV_VMRUN, "")
    if explicit:
        path = Path(explicit)
        product = os.environ.get("DESKTOPVM_VMRUN_TYPE", "ws")
        return _installation(product, str(path), path.parent, path.parent / "vmware-vmx", "",
                             home, sys.platform)
    if sys.platform == "darwin":
        vmrun = FUSION_LIBRARY / "vmrun"
        return _installation("fusion", str(vmrun), FUSION_LIBRARY, FUSION_LIBRARY / "vmware-vmx",
                             "", home, "darwin") if vmrun.is_file() else None
    if sys.platform == "win32":
        install, version, core = _windows_registry()
        folders = [install] if install else []
        for variable in ("ProgramFiles(x86)", "ProgramFiles"):
            if os.environ.get(variable):
                folders.append(str(Path(os.environ[variable]) / "VMware" / "VMware Workstation"))
        for folder in map(Path, folders):
            if (folder / "vmrun.exe").is_file():
                product = "player" if "player" in core.lower() else "ws"
                return _installation(product, str(folder / "vmrun.exe"), folder,
                                     folder / "x64" / "vmware-vmx.exe", version, home, "win32")
        return None
    vmrun_path = shutil.which("vmrun") or ("/usr/bin/vmrun" if Path("/usr/bin/vmrun").is_file()
                                           else "")
    if not vmrun_path:
        return None
    name, version = linux_config()
    product = "player" if "player" in name.lower() else "ws"
    return _installation(product, vmrun_path, Path(vmrun_path).parent,
                         Path("/usr/lib/vmware/bin/vmware-vmx"), version, home, sys.platform)


NO_LICENCE_FROM = (17, 6, 2)  # Packer: "17.6.2 removed the license key requirement"


def licence_problem(installation: Installation, etc: Path = Path("/etc/vmware")) -> str:
    """Why this Workstation may refuse to run machines for want of a licence ("" if none).

    Before 17.6.2 a licence key was needed (for commercial use from 17.6.1); on Linux Packer
    looks for `/etc/vmware/license-ws-*` (driver_workstation_unix.go; research §A.1). Other
    platforms and Player are not checked here.
    """
    if installation.product != "ws" or installation.windows or sys.platform == "darwin":
        return ""
    try:
        version = tuple(int(p) for p in installation.version.split(".")[:3])
    except ValueError:
        return ""
    if not installation.version or version >= NO_LICENCE_FROM:
        return ""
    if any(etc.glob("license-ws-*")):
        return ""
    return (f"VMware Workstation {installation.version} has no licence here (no "
            f"{etc}/license-ws-* file): versions before 17.6.2 need one; 17.6.2 and later "
            "are free for every use")


def install_hint() -> str:
    """How to get VMware here."""
    if sys.platform == "darwin":
        return "Install VMware Fusion from Broadcom's support portal"
    return ("Install VMware Workstation Pro (free for every use since 17.6.2) from Broadcom's "
            "support portal")
