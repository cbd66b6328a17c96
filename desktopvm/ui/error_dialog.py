"""Error dialogs: a one-line summary, the details behind a button, and always a log line."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from desktopvm.printable import printable, printable_lines
from desktopvm.protocol import BackendError

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


def describe(error: BaseException) -> tuple[str, str]:
    """(summary, details) of any exception: BackendErrors carry both; bugs get a traceback."""
    if isinstance(error, BackendError):
        return error.summary, error.details
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return f"Unexpected error: {error}", details


def show_error(parent: QWidget | None, title: str, error: BaseException | str,
               details: str = "") -> QMessageBox:
    """Log the error and show it window-modally without blocking the event loop."""
    # Imported here: making QMessageBox's enums is a cost the first paint need not pay.
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    if isinstance(error, BaseException):
        summary, details = describe(error)
    else:
        summary = error
    # Titles and messages may carry names (a refused one too): logged and shown escaped.
    title, summary, details = printable(title), printable(summary), printable_lines(details)
    log.error("%s: %s%s", title, summary, f"\n{details}" if details else "")
    box = QMessageBox(QMessageBox.Icon.Critical, title, summary, QMessageBox.StandardButton.Ok,
                      parent)
    box.setObjectName("error-dialog")
    box.setTextFormat(Qt.TextFormat.PlainText)
    if details:
        box.setDetailedText(details)
    box.setAccessibleName(title)
    box.open()
    return box


def show_missing_iso(parent: QWidget | None, title: str, error: BaseException,
                     on_eject: Callable[[], object], on_choose: Callable[[], object]
                     ) -> QMessageBox:
    """Start refused for a missing ISO: the cause, and "Eject and start" / "Choose another…"
    (Cancel is the default: nothing changes)."""
    from PySide6.QtWidgets import QMessageBox

    box = show_error(parent, title, error)
    box.setObjectName("missing-iso-dialog")
    box.setStandardButtons(QMessageBox.StandardButton.Cancel)
    eject = box.addButton(box.tr("Eject and start"), QMessageBox.ButtonRole.AcceptRole)
    eject.setObjectName("eject-and-start")
    choose = box.addButton(box.tr("Choose another…"), QMessageBox.ButtonRole.ActionRole)
    choose.setObjectName("choose-another-iso")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.buttonClicked.connect(lambda button: on_eject() if button is eject else
                              on_choose() if button is choose else None)
    return box
