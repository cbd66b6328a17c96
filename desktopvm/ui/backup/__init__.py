"""Back up, restore, copy and move machines: the dialogs and the Backups window (issue #20)."""
