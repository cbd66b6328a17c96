"""The README's backup screenshots (docs/screenshots.py calls these with its running window):
the Back up dialog, the Backups window over real sets, and the Copy to… mapping report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from desktopvm.ui.main_window import MainWindow

Shot = Callable[["QWidget", str], None]
WaitUntil = Callable[[Callable[[], bool], float], None]


def backup_shots(window: MainWindow, machines: tuple[str, str], home: Path, shot: Shot,
                 wait_until: WaitUntil) -> None:
    """Back up the stopped machine twice (full, then incremental) and the running one, through
    the app's own jobs; show the dialog for the running machine and the Backups window.
    `machines`: (the running machine's id, the stopped one's)."""
    running, stopped = machines
    from desktopvm.jobs import JobState
    from desktopvm.ui.backup.backup_dialog import BackUpDialog, remember_folder
    from desktopvm.ui.backup.backups_window import BackupsWindow

    folder = home / "Backups"
    folder.mkdir(exist_ok=True)
    remember_folder(str(folder))
    for machine_id in (stopped, running, stopped):
        window.select(("localhost", "qemu", machine_id))

        def selected(wanted: str = machine_id) -> bool:
            current = window.current_machine()
            return current is not None and current.id == wanted
        wait_until(selected, 30)
        window.machine_actions["backup"].trigger()
        dialog = next(d for d in window.operations.open_dialogs if isinstance(d, BackUpDialog))
        dialog.ok.click()
        wait_until(lambda: not [j for j in window.runner.active() if not j.background], 300)
        failed = [j for j in window.runner.jobs if j.state is JobState.FAILED]
        assert not failed, failed[0].error

    window.select(("localhost", "qemu", running))
    window.machine_actions["backup"].trigger()
    dialog = next(d for d in window.operations.open_dialogs if isinstance(d, BackUpDialog))
    dialog.schedule.setChecked(True)
    dialog.retention.keep_last.setValue(7)
    dialog.retention.weekly.setValue(4)
    wait_until(lambda: not dialog.last_run.isHidden(), 30)  # read in a job
    dialog.adjustSize()
    shot(dialog, "backup-dialog")
    dialog.reject()

    backups = window.backups.show_backups()
    assert isinstance(backups, BackupsWindow)
    wait_until(lambda: backups.table.topLevelItemCount() == 3, 60)
    backups.select(backups.sets[-1].id)
    job = backups.verify_selected()
    assert job is not None
    wait_until(lambda: job.state.is_done, 120)
    backups.resize(880, 300)
    shot(backups, "backups-window")
    backups.close()


def copy_report(window: MainWindow, machine_id: str, target: str, shot: Shot,
                wait_until: WaitUntil) -> None:
    """Copy to… of a QEMU machine onto `target` (a connected host): the report, nothing done."""
    from desktopvm.ui.backup.transfer_dialog import TransferDialog

    window.select(("localhost", "qemu", machine_id))
    wait_until(window.machine_actions["copy_to"].isEnabled, 30)
    window.machine_actions["copy_to"].trigger()
    dialog = next(d for d in window.operations.open_dialogs if isinstance(d, TransferDialog))
    dialog.target.setCurrentIndex(dialog.target.findData(target))
    wait_until(lambda: dialog.fitting is not None, 60)
    dialog.resize(860, 330)
    shot(dialog, "copy-to-report")
    dialog.reject()
