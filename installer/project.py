"""What the installers need to know about DesktopVM: names, version, runtime requirements, paths."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_NAME = "DesktopVM"
PUBLISHER = "The DesktopVM developers"
PACKAGE = "desktopvm"
DESCRIPTION = "One desktop app for all your virtual machines: VirtualBox, Hyper-V and QEMU"
HOMEPAGE = "https://example.invalid/desktopvm"
CACHE = Path.home() / ".cache" / "desktopvm-installer"
# Extras the frozen app carries (remote Hyper-V over WinRM).
BUNDLED_EXTRAS = ("winrm", "esxi")


def version() -> str:
    """The version from the installed package metadata (the source's `__version__` as fallback)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        text = (REPO / PACKAGE / "__init__.py").read_text("utf-8")
        match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
        if match is None:
            raise RuntimeError("no __version__ in desktopvm/__init__.py") from None
        return match.group(1)


def runtime_requirements(extras: tuple[str, ...] = BUNDLED_EXTRAS) -> list[str]:
    """The package's run-time requirements (plus `extras`), markers kept for the target pip."""
    requirements: list[str] = []
    for line in importlib.metadata.requires(PACKAGE) or []:
        requirement, _, marker = line.partition(";")
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extra is None:
            requirements.append(line.strip())
        elif extra.group(1) in extras:
            requirements.append(requirement.strip())
    return requirements
