"""The Help menu's actions: the documentation and About (version, Qt, Python, state folder)."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMainWindow, QMessageBox

from desktopvm import __version__
from desktopvm.paths import state_root
from desktopvm.ui.icons import icon


def docs_location() -> Path | None:
    """The README beside this copy's source (a checkout or an editable install), if there."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    return readme if readme.is_file() else None


def show_docs(window: QMainWindow) -> None:
    """Open the documentation in the desktop's viewer, or say it is not installed."""
    location = docs_location()
    if location is None:
        window.statusBar().showMessage(window.tr("The documentation is not installed with "
                                                 "this copy of DesktopVM"))
        return
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(location)))


def show_about(window: QMainWindow) -> QMessageBox:
    """About DesktopVM, window-modal and non-blocking."""
    from PySide6 import __version__ as pyside_version

    location = docs_location()
    link = QUrl.fromLocalFile(str(location)).toString() if location else ""
    docs = f'<p><a href="{link}">{window.tr("Documentation")}</a></p>' if link else ""
    blurb = window.tr("One desktop app for the virtual machines of QEMU, VirtualBox and Hyper-V.")
    folder = str(state_root()).replace("&", "&amp;").replace("<", "&lt;")
    text = (f"<h3>DesktopVM {__version__}</h3><p>{blurb}</p>"
            f"<p>Qt {pyside_version} · Python {platform.python_version()}<br>"
            f"{window.tr('State folder')}: {folder}</p>{docs}")
    box = QMessageBox(QMessageBox.Icon.NoIcon, window.tr("About DesktopVM"), text,
                      QMessageBox.StandardButton.Close, window)
    box.setObjectName("about-dialog")
    box.setIconPixmap(icon("app").pixmap(64, 64))
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    box.open()
    return box
