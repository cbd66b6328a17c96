"""`RunNotice`: the status bar says when a scheduled backup failed while the app was closed."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel

from desktopvm.printable import printable
from desktopvm.protocol import CancelToken, Progress
from desktopvm.schedule import runs

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox

    from desktopvm.jobs import Job, JobRunner

RECHECK_MS = 10 * 60 * 1000  # a scheduled run may fail while the app is open too


def when(run: runs.Run) -> str:
    """'Fri 4 Dec 03:00' in local time."""
    moment = run.ended_at.astimezone()
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}"


class RunNotice(QLabel):
    """A permanent status-bar label, hidden until a failed scheduled run is found.

    The run log is read in a background job (never on the GUI thread), at start and every ten
    minutes. "Dismiss" notes that the user saw the failures up to the newest one shown, so a
    failure after it is news again; a later successful run of the machine clears it too.
    """

    def __init__(self, runner: JobRunner) -> None:
        super().__init__()
        self.setObjectName("backup-run-notice")
        self.runner = runner
        self.failures: list[runs.Run] = []
        self.setTextFormat(Qt.TextFormat.RichText)
        self.linkActivated.connect(self._link)
        self.setVisible(False)
        self.timer = QTimer(self)
        self.timer.setInterval(RECHECK_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()
        QTimer.singleShot(0, self.check)

    def check(self) -> Job:
        """Read the run log in a background job; show what failed."""
        def read(_progress: Progress, _cancel: CancelToken) -> list[runs.Run]:
            return runs.unseen_failures()

        job = self.runner.submit(self.tr("Read the backup runs"), read, background=True)
        job.succeeded.connect(self.show_failures)
        return job

    def show_failures(self, failures: object) -> None:
        assert isinstance(failures, list)
        self.failures = failures
        self.setVisible(bool(failures))
        if not failures:
            return
        newest = failures[0]
        if len(failures) == 1:
            text = self.tr("⚠ The scheduled backup of %1 failed (%2)") \
                .replace("%1", escape(printable(newest.machine))).replace("%2", when(newest))
        else:
            text = self.tr("⚠ %1 scheduled backups failed, the last %2") \
                .replace("%1", str(len(failures))).replace("%2", when(newest))
        self.setText(f"{text} — <a href='details'>{self.tr('Details')}</a> · "
                     f"<a href='dismiss'>{self.tr('Dismiss')}</a>")
        self.setToolTip(printable(newest.line))

    def _link(self, link: str) -> None:
        if link == "details":
            self.show_details()
        else:
            self.dismiss()

    def show_details(self) -> QMessageBox:
        from PySide6.QtWidgets import QMessageBox  # not at start-up: only when asked for

        lines = [f"{printable(run.machine)} into {printable(run.destination)}, {when(run)}:\n"
                 f"    {printable(run.line)}" for run in self.failures]
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Scheduled backups that failed"),
                          "\n\n".join(lines), QMessageBox.StandardButton.Close, self.window())
        box.setInformativeText(self.tr("Back the machine up now from its Back up… dialog, or "
                                       "fix the cause (a folder on a drive that is not "
                                       "connected, a host that is off) before the next run."))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def dismiss(self) -> None:
        """Seen: hidden now, and not shown again for these runs (noted in a job)."""
        if not self.failures:
            return
        newest = self.failures[0].ended_at
        self.failures = []
        self.setVisible(False)

        def note(_progress: Progress, _cancel: CancelToken) -> None:
            runs.mark_seen(newest)

        self.runner.submit(self.tr("Note the backup runs as seen"), note, background=True)
