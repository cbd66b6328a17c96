"""Which groups of the tree the user folded, kept in window.ini between runs.

Beside window_state's blobs, under their own key: a list of connection ids ("qemu",
"hyperv@hv01.lab.example"), so a host folded once stays folded next time.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from desktopvm.paths import state_root

KEY = "collapsed_connections"


def _store() -> QSettings:
    return QSettings(str(state_root() / "window.ini"), QSettings.Format.IniFormat)


def collapsed() -> set[str]:
    """The connection ids folded when the window last closed."""
    value = _store().value(KEY)
    if isinstance(value, str):  # QSettings gives a one-item list back as a string
        value = [value]
    return {str(item) for item in value} if isinstance(value, list) else set()


def save_collapsed(connections: set[str]) -> None:
    """Remember the folded connection ids."""
    store = _store()
    store.setValue(KEY, sorted(connections))
    store.sync()
