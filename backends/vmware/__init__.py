"""The VMware Workstation / Fusion / Player backend: vmrun, the .vmx files, vmware-vdiskmanager.

Every VMware process starts in `vmrun.py`; the .vmx is read and written losslessly by
`vmx.py`; `locate.py` finds the product. This `__init__` stays light: the registry imports it
to ask `detect()` before anything heavy is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings

if TYPE_CHECKING:
    from backends.vmware.backend import VMwareBackend


def detect(settings: Settings) -> ProbeResult:
    """Is vmrun here, which product and version? (No process is started.)"""
    from backends.vmware.locate import find_installation, install_hint

    if settings.vmrun_path and not Path(settings.vmrun_path).is_file():
        return ProbeResult("vmware", False, reason=f"The vmrun set in Preferences, "
                           f"{settings.vmrun_path}, does not exist",
                           install_hint="Correct it in Preferences, or clear it to search the "
                                        "usual places")
    found = find_installation(vmrun=settings.vmrun_path)
    if found is None or not found.vmrun:
        return ProbeResult("vmware", False, reason="VMware's vmrun was not found",
                           install_hint=install_hint())
    version = f"{found.display_product} {found.version}".strip()
    return ProbeResult("vmware", True, version=version)


def open_backend(settings: Settings) -> VMwareBackend:
    """The VMware backend."""
    from backends.vmware.backend import VMwareBackend
    from backends.vmware.locate import find_installation

    return VMwareBackend(settings, installation=find_installation(vmrun=settings.vmrun_path))
