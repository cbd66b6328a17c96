"""Copy and move machines between backends and hosts: a backup restored with a fitted spec.

`plan_copy` is the report shown before anything happens (desktopvm.model.porting); `copy_to`
backs the machine up into a scratch folder, restores it onto the target with the fitted
spec, checks the new machine as the target reports it and removes the scratch; `move_to`
does the same and deletes the source only once the copy is checked. See docs/backup.md.
"""

from desktopvm.transfer.copying import copy_to, move_to
from desktopvm.transfer.planning import CopyMismatch, plan_copy

__all__ = ["CopyMismatch", "copy_to", "move_to", "plan_copy"]
