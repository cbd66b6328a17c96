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


def fit_to(spec: MachineSpec, target: Capabilities) -> Fitted:
    """`spec` as `target` can take it; InvalidSpec naming each blocker when it cannot.

    Disks may move (buses, order: the boot disk first); each keeps its `path`, which is how
    `restore` tells them apart.
    """
    fitting = fit(spec, target)
    if fitting.blockers:
        raise InvalidSpec([error("machine", blocker) for blocker in fitting.blockers])
    if len(fitting.spec.all_disks()) != len(spec.all_disks()):
        raise InvalidSpec([error("storage", f"{target.backend} would take "
                                 f"{len(fitting.spec.all_disks())} of the machine's "
                                 f"{len(spec.all_disks())} disks")])
    return Fitted(fitting.spec, tuple(f"{c.what}: {c.before} → {c.after} ({c.reason})"
                                      for c in fitting.changes))
