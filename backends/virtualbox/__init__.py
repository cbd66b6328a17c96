"""The VirtualBox backend: VirtualBox 6.1 to 7.2 on Windows, Linux and macOS through VBoxManage.

Every VBoxManage process starts in `vboxmanage.py`; per-version differences live in
`versions.py`; parsers in `parse.py`; spec mapping in `translate.py` (reading), `plans.py` and
`changes.py` (writing). This `__init__` stays light: the registry imports it to ask `detect()`
before anything heavy is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings

if TYPE_CHECKING:
    from backends.virtualbox.backend import VirtualBoxBackend
    from desktopvm.connections import Check


def detect(settings: Settings) -> ProbeResult:
    """Is VBoxManage installed? (No process is started; `probe()` on the backend runs it.)"""
    from backends.virtualbox.vboxmanage import find_vboxmanage, install_hint

    if find_vboxmanage(settings.vboxmanage_path) is None:
        return ProbeResult("virtualbox", False, reason="VBoxManage was not found",
                           install_hint=install_hint())
    return ProbeResult("virtualbox", True)


def open_backend(settings: Settings) -> VirtualBoxBackend:
    """The VirtualBox backend."""
    from backends.virtualbox.backend import VirtualBoxBackend

    return VirtualBoxBackend(settings)


def doctor_checks(settings: Settings, backend: object = None) -> list[Check]:
    """`desktopvm-cli doctor`: VirtualBox on this computer, each finding with its fix."""
    from backends.virtualbox import doctor
    from backends.virtualbox.vboxmanage import VBoxManage, find_vboxmanage

    return doctor.run(VBoxManage(find_vboxmanage(settings.vboxmanage_path) or ""))
