"""The Hyper-V inventory: every VM in one request, one VM's details in another."""

from __future__ import annotations

from backends.hyperv import parsers
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner
from backends.hyperv.translate import machine_info
from desktopvm.protocol import MachineInfo, MachineSummary


def machines(runner: Runner, metadata: MetadataStore, connection: str) -> list[MachineSummary]:
    """Get-VM for all machines, with the guest OS ids DesktopVM remembers for them."""
    return parsers.inventory(runner.run(Call("list_vms")), runner.host, metadata.os_ids(),
                             backend=connection)


def machine(runner: Runner, metadata: MetadataStore, vm_id: str,
            connection: str) -> MachineInfo:
    """One machine's spec, snapshots and facts."""
    return machine_info(runner.details(vm_id), runner.host, metadata.os_ids().get(vm_id, ""),
                        backend=connection)
