"""A set's spec fitted to a restore target (desktopvm.model.porting), blockers refused."""

from __future__ import annotations

from dataclasses import dataclass

from desktopvm.model import Capabilities, MachineSpec
from desktopvm.model.porting import fit
from desktopvm.model.problems import error
from desktopvm.protocol import InvalidSpec


@dataclass(frozen=True)
class Fitted:
    """The spec the target takes and the changes made to it, in words ("what: before → after")."""

    spec: MachineSpec
    changes: tuple[str, ...] = ()


# The names backends give in Capabilities.backend, by the kind a backup set records.
_DISPLAY_NAMES = {"qemu": "QEMU", "virtualbox": "VirtualBox", "hyperv": "Hyper-V",
                  "vmware": "VMware Workstation", "esxi": "VMware ESXi"}


def fit_to(spec: MachineSpec, target: Capabilities, *, source_kind: str = "") -> Fitted:
    """`spec` as `target` can take it; InvalidSpec naming each blocker when it cannot.

    Disks may move (buses, order: the boot disk first); each keeps its `path`, which is how
    `restore` tells them apart. `source_kind` is the backend the set was made on: a bus that
    is VirtIO on the target but was not there (VirtualBox's SCSI restored into QEMU, whose
    SCSI is virtio-scsi) then goes to SATA, so a guest without VirtIO drivers still boots.
    """
    # fit() asks the source only which of its buses are VirtIO devices, by its name; the
    # backend the set came from may not be reachable now, so its name is all it gets.
    source = Capabilities(backend=_DISPLAY_NAMES[source_kind]) \
        if source_kind in _DISPLAY_NAMES else None
    fitting = fit(spec, target, source=source)
    if fitting.blockers:
        raise InvalidSpec([error("machine", blocker) for blocker in fitting.blockers])
    if len(fitting.spec.all_disks()) != len(spec.all_disks()):
        raise InvalidSpec([error("storage", f"{target.backend} would take "
                                 f"{len(fitting.spec.all_disks())} of the machine's "
                                 f"{len(spec.all_disks())} disks")])
    return Fitted(fitting.spec, tuple(f"{c.what}: {c.before} → {c.after} ({c.reason})"
                                      for c in fitting.changes))
