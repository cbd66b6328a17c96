"""Backup sets: back up a machine to a folder, list, verify, prune and restore them (issue #20).

A set is a folder holding the machine's spec, an OVF descriptor, its disks as qcow2 (only the
changed blocks in an incremental set; or, when asked, whole in the hypervisor's own format),
the notes, the firmware state, the snapshot tree and SHA256SUMS; see
docs/backup.md for the layout and what proved each operation.
"""

from desktopvm.backup.checking import list_backups, verify
from desktopvm.backup.making import back_up
from desktopvm.backup.over import restore_over
from desktopvm.backup.restoring import restore
from desktopvm.backup.retention import Retention, prune
from desktopvm.backup.setfile import BackupDamaged, BackupSet, DiskEntry, machine_key

__all__ = [
    "BackupDamaged",
    "BackupSet",
    "DiskEntry",
    "Retention",
    "back_up",
    "list_backups",
    "machine_key",
    "prune",
    "restore",
    "restore_over",
    "verify",
]
