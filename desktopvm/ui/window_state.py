"""The main window's size, dock and toolbar, splitter, columns and sort, kept between runs.

They live in `window.ini` in the state root (`$DESKTOPVM_HOME`), beside config.json, as Qt's
own opaque blobs: they are the window's business, not preferences a person edits.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter, QTreeView

from desktopvm.paths import state_root

VERSION = 1  # the layout of what is saved; another number means: start from the defaults


def _store() -> QSettings:
    return QSettings(str(state_root() / "window.ini"), QSettings.Format.IniFormat)


def save(window: QMainWindow, splitter: QSplitter, tree: QTreeView) -> None:
    """Remember the window's geometry and layout."""
    store = _store()
    store.setValue("version", VERSION)
    store.setValue("geometry", window.saveGeometry())
    store.setValue("state", window.saveState(VERSION))
    store.setValue("splitter", splitter.saveState())
    store.setValue("columns", tree.header().saveState())
    store.sync()


def restore(window: QMainWindow, splitter: QSplitter, tree: QTreeView) -> bool:
    """Restore what `save` kept; False (and the defaults stay) when nothing usable was kept."""
    store = _store()
    if store.value("version") not in (VERSION, str(VERSION)):
        return False
    restored = False
    for key, apply in (("geometry", window.restoreGeometry),
                       ("state", lambda blob: window.restoreState(blob, VERSION)),
                       ("splitter", splitter.restoreState)):
        blob = store.value(key)
        if isinstance(blob, QByteArray) and not blob.isEmpty():
            restored = bool(apply(blob)) or restored
    columns = store.value("columns")
    header: QHeaderView = tree.header()
    if isinstance(columns, QByteArray) and header.restoreState(columns):
        # The header keeps the sort indicator; the view sorts only when told.
        tree.sortByColumn(header.sortIndicatorSection(),
                          Qt.SortOrder(header.sortIndicatorOrder()))
        restored = True
    return restored
