"""`HostIsoDialog`: pick an ISO image already on a host's datastores (ESXi), read in a job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopvm.connections import kind_of
from desktopvm.jobs import Job, JobRunner
from desktopvm.printable import printable
from desktopvm.protocol import Backend, BackendError, CancelToken, OperationCancelled, Progress

#: The backends whose hosts keep ISOs the machines read in place (`[datastore] path`), with
#: list_datastores()/list_isos() beside the protocol (backends/esxi/backend.py).
KINDS = ("esxi",)


@dataclass(frozen=True)
class HostIsos:
    """How a dialog reads the ISOs of connection `connection`: a job on `runner` opens its
    backend with `open_backend` (never the GUI thread: it may log in first)."""

    connection: str
    runner: JobRunner
    open_backend: Callable[[str], Backend]

    @staticmethod
    def of(connection: str, runner: JobRunner,
           open_backend: Callable[[str], Backend]) -> HostIsos | None:
        """For a connection whose host keeps ISOs (ESXi, vCenter), else None (no button)."""
        return HostIsos(connection, runner, open_backend) if kind_of(connection) in KINDS \
            else None


def read_isos(backend: Any) -> list[tuple[str, int]]:
    """(datastore path, size) of every ISO on every datastore of the host, in path order.
    Runs in a job."""
    found: list[tuple[str, int]] = []
    for store in backend.list_datastores():
        found += [(f.path, f.size_bytes) for f in backend.list_isos(store.name)]
    return sorted(found, key=lambda f: f[0].lower())


def _size(size: int) -> str:
    """'650 MiB', '4.7 GiB', '4 KiB'."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}".replace(".0 ", " ")
    return f"{max(1, round(size / 1024))} KiB"


class HostIsoDialog(QDialog):
    """The ISO images on the host's datastores, listed by a job started when it opens;
    Choose (or a double-click) says which one through `chosen`.

    Signals:
        chosen(path: str)  -- "[datastore] folder/x.iso"
    """

    chosen = Signal(str)

    def __init__(self, source: HostIsos, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setObjectName("host-iso-dialog")
        self.setWindowTitle(self.tr("ISO images on the host"))
        self.status = QLabel(self.tr("Reading the host's datastores…"))
        self.status.setObjectName("host-iso-status")
        self.status.setWordWrap(True)
        self.list = QTreeWidget()
        self.list.setObjectName("host-isos")
        self.list.setAccessibleName(self.tr("ISO images on the host"))
        self.list.setHeaderLabels([self.tr("Image"), self.tr("Size")])
        self.list.setRootIsDecorated(False)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.list.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.choose = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.choose.setText(self.tr("&Choose"))
        self.choose.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.buttons)
        self.resize(560, 360)
        self.buttons.accepted.connect(self._choose)
        self.buttons.rejected.connect(self.reject)
        self.list.itemSelectionChanged.connect(
            lambda: self.choose.setEnabled(bool(self.list.selectedItems())))
        self.list.itemActivated.connect(lambda _item, _column: self._choose())
        self.job: Job = self._read()
        self.finished.connect(lambda _result: self.job.cancel())

    def _read(self) -> Job:
        connection, open_backend = self.source.connection, self.source.open_backend

        def work(_progress: Progress, cancel: CancelToken) -> list[tuple[str, int]]:
            backend = open_backend(connection)
            cancel.raise_if_cancelled()
            return read_isos(backend)

        job = self.source.runner.submit(self.tr("List the ISO images on %s") % connection,
                                        work, background=True)
        job.succeeded.connect(self._listed)
        job.failed.connect(self._failed)
        return job

    def _listed(self, isos: object) -> None:
        assert isinstance(isos, list)
        for path, size in isos:
            item = QTreeWidgetItem([printable(path), _size(size)])
            item.setData(0, Qt.ItemDataRole.UserRole, path)
            item.setToolTip(0, printable(path))
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.list.addTopLevelItem(item)
        if isos:
            self.status.setText(self.tr("Choose the disc the drive reads on the host; the "
                                        "file stays where it is."))
            self.list.show()
            self.list.setFocus()
        else:
            self.status.setText(self.tr("There are no ISO images on the host's datastores. "
                                        "Choose a file on this computer instead: it is "
                                        "uploaded when the settings are applied."))

    def _failed(self, error: object) -> None:
        if isinstance(error, OperationCancelled):
            return  # the dialog was closed: nobody is waiting for the list
        words = str(error) if isinstance(error, BackendError) else repr(error)
        self.status.setText(self.tr("The host's ISO images could not be read: %s")
                            % printable(words))

    def selected(self) -> str:
        """The datastore path of the image selected ('' for none)."""
        items = self.list.selectedItems()
        return str(items[0].data(0, Qt.ItemDataRole.UserRole)) if items else ""

    def _choose(self) -> None:
        path = self.selected()
        if not path:
            return
        self.chosen.emit(path)
        self.accept()
