"""What the details pane shows, read in a job: the machine, and which of its ISO files are gone.

The file check blocks (an ISO on a network share can take seconds to answer), so it runs in
the details job beside get_machine, never on the GUI thread. Free of the model (pydantic):
the main window imports this module before its first paint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from desktopvm.model import MachineSpec
    from desktopvm.protocol import MachineInfo, MachineSummary
    from desktopvm.registry import Registry


class Details(NamedTuple):
    """One machine as the details pane shows it."""

    info: MachineInfo
    missing: frozenset[str] = frozenset()  # ISO paths this computer does not have as files
    first_boot: str = ""  # what the next start boots instead of the disks, once (an installer)


def missing_isos(spec: MachineSpec) -> frozenset[str]:
    """The ISO paths of `spec` that are not files here (blocks: call it in a job).

    The same test as the model's rule that refuses a start ("The ISO file … does not exist").
    """
    return frozenset(drive.iso for controller in spec.storage for drive in controller.optical
                     if drive.iso and not Path(drive.iso).expanduser().is_file())


def read_details(registry: Registry, machine: MachineSummary) -> Details:
    """In a job: the machine's details and, for a machine on this computer, its missing ISOs.
    Another host's paths are that host's: this computer cannot tell whether they exist."""
    backend = registry.open(machine.backend)
    info = backend.get_machine(machine.id)
    local = machine.host == "localhost"
    # A backend that boots an installer's kernel once (seeds.InstallerBooting: QEMU) says so.
    installer_boot = getattr(backend, "installer_boot", None)
    first_boot = installer_boot(machine.id) if callable(installer_boot) else ""
    return Details(info, missing_isos(info.spec) if local else frozenset(), str(first_boot))
