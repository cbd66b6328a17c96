"""The Help menu's actions: the documentation and About (version, Qt, Python, state folder)."""

from __future__ import annotations

import html
import platform
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMainWindow, QMessageBox

from desktopvm import __version__
from desktopvm.paths import atomic_write_text, state_root
from desktopvm.ui.icons import icon

SOURCE_README = Path(__file__).resolve().parents[2] / "README.md"
DISTRIBUTION = "desktopvm"


def docs_location() -> Path | None:
    """The README beside this copy's source (a checkout or an editable install); for an
    installed copy, the README it was installed with (the package metadata's description),
    written to the state folder so a viewer can open it. None when neither is there."""
    if SOURCE_README.is_file():
        return SOURCE_README
    # No web address is known for the project (no repository URL yet), so the fallback is the
    # text that ships in every wheel rather than a link.
    import importlib.metadata  # here: it pulls in the email package, not needed at start-up

    try:
        meta = importlib.metadata.metadata(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    text = str(getattr(meta, "get_payload", lambda: "")() or "")
    if not text.strip():
        return None
    target = state_root() / "docs" / "README.md"
    try:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
    except OSError:
        return None
    return target


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
    # Where the documentation is, as a link and in words (a path to find it by hand).
    missing = window.tr("The documentation is not installed with this copy.")
    docs = (f'<p><a href="{QUrl.fromLocalFile(str(location)).toString()}">'
            f'{window.tr("Documentation")}</a>: {html.escape(str(location))}</p>'
            if location else f"<p>{missing}</p>")
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
