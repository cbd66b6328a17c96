"""Finds the PowerShell to run: DESKTOPVM_POWERSHELL, the settings, else powershell.exe or pwsh."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

OVERRIDE_ENV = "DESKTOPVM_POWERSHELL"


def find_powershell(configured: str = "") -> str | None:
    """The executable to start, or None.

    Windows PowerShell 5.1 comes first (it is on every Hyper-V host and its ConvertFrom-Json
    never turns strings into dates); pwsh is the fallback. Off Windows only an explicit
    override counts (tests and doubles set DESKTOPVM_POWERSHELL).
    """
    override = os.environ.get(OVERRIDE_ENV) or configured
    if override:
        found = shutil.which(override)
        if found:
            return found
        return override if Path(override).is_file() else None
    if sys.platform != "win32":
        return None
    system_root = Path(os.environ.get("SYSTEMROOT", r"C:\Windows"))
    candidates = [shutil.which("powershell.exe"),
                  str(system_root / "System32" / "WindowsPowerShell" / "v1.0" / "powershell.exe"),
                  shutil.which("pwsh.exe")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def install_hint() -> str:
    """How to get a usable Hyper-V here."""
    if sys.platform != "win32":
        return ("Hyper-V runs on Windows. Manage a Windows host remotely over WinRM, or set "
                f"{OVERRIDE_ENV} to a PowerShell that can reach one.")
    return ("Turn on Hyper-V and its PowerShell module: Enable-WindowsOptionalFeature -Online "
            "-FeatureName Microsoft-Hyper-V-All, then restart Windows.")
