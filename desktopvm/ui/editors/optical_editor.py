"""`OpticalEditor`: the ISO image in an optical drive, or an empty drive; Eject where offered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from desktopvm.model import Capabilities, LiveChange, MachineSpec
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.storage_layout import first_optical, set_iso, with_first_iso
from desktopvm.ui.editors.widgets import PathField, caption

if TYPE_CHECKING:
    from desktopvm.ui.host_iso_dialog import HostIsoDialog, HostIsos


class OpticalEditor(SpecEditor):
    """An ISO path with Browse…; empty means an empty drive.

    `slot` (controller index, drive index) names the drive; None means the machine's first
    optical drive, added when an ISO is chosen and the machine has none. `eject` adds an
    Eject button (the settings dialog's; the wizard has nothing to eject). On a host that
    keeps ISOs (ESXi), offer_host_isos() adds "On the host…": a list of the ISOs on its
    datastores, one of which the drive then reads in place. The disc is
    changed live where the backend can (`LiveChange.OPTICAL_MEDIA`); otherwise, while the
    machine runs, the field is greyed and a line under it says why.
    """

    scope = FieldScope(("storage[].optical",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 slot: tuple[int, int] | None = None, parent: QWidget | None = None, *,
                 eject: bool = False) -> None:
        super().__init__(capabilities, host_info, parent)
        self.slot = slot
        self.iso = PathField(self.tr("Choose an ISO image"),
                             self.tr("Disc images (*.iso *.img);;All files (*)"))
        self.iso.setObjectName("iso")
        self.iso.edit.setObjectName("iso-path")
        self.iso.edit.setAccessibleName(self.tr("ISO image"))
        self.iso.edit.setPlaceholderText(self.tr("Empty drive"))
        self.eject = QPushButton(self.tr("&Eject"))
        self.eject.setObjectName("eject")
        self.eject.setAccessibleName(self.tr("Eject the disc"))
        self.eject.setVisible(eject)
        self.on_host = QPushButton(self.tr("On the &host…"))
        self.on_host.setObjectName("iso-on-host")
        self.on_host.setAccessibleName(self.tr("Choose an ISO image already on the host"))
        self.on_host.hide()
        self.host_isos: HostIsos | None = None
        self.host_dialog: HostIsoDialog | None = None
        self.hint = caption(self.tr("A disc image (.iso) to start from, such as an operating "
                                    "system installer. Leave it empty for an empty drive."))
        self.locked_hint = caption()
        self.locked_hint.setObjectName("optical-locked")
        self.locked_hint.hide()
        row = QHBoxLayout()
        row.addWidget(self.iso, 1)
        row.addWidget(self.on_host)
        row.addWidget(self.eject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.hint)
        layout.addWidget(self.locked_hint)
        self.iso.path_changed.connect(self._user_changed)
        self.eject.clicked.connect(lambda: self.iso.set_path(""))
        self.on_host.clicked.connect(self._browse_host)

    def offer_host_isos(self, source: HostIsos | None) -> None:
        """Offer "On the host…" for the ISOs `source` lists (None: this computer's only)."""
        self.host_isos = source
        self.on_host.setVisible(source is not None)
        self.hint.setText(self.tr(
            "A disc image (.iso) to start from, such as an operating system installer: Browse… "
            "picks one on this computer (it is sent to the host), On the host… one already "
            "there. Leave it empty for an empty drive.") if source is not None else
            self.tr("A disc image (.iso) to start from, such as an operating system installer. "
                    "Leave it empty for an empty drive."))

    def _browse_host(self) -> None:
        from desktopvm.ui.host_iso_dialog import HostIsoDialog  # only when asked for

        if self.host_isos is None:
            return
        self.host_dialog = HostIsoDialog(self.host_isos, self)
        self.host_dialog.chosen.connect(self.iso.set_path)
        self.host_dialog.open()  # window-modal, not blocking: the list is read in a job

    def _load(self, spec: MachineSpec) -> None:
        if self.slot is None:
            found = first_optical(spec)
            self.iso.set_path(found[2].iso if found else "")
        else:
            controller, drive = self.slot
            self.iso.set_path(spec.storage[controller].optical[drive].iso)

    def _refresh(self) -> None:
        live = LiveChange.OPTICAL_MEDIA
        self.offer(self.iso, True, "", live)
        self.offer(self.on_host, True, "", live)
        self.offer(self.eject, bool(self.path()), self.tr("The drive is empty."), live)
        locked = not self.editable(live)
        self.locked_hint.setText(self.locked_reason(live) if locked else "")
        self.locked_hint.setVisible(locked)

    def path(self) -> str:
        """The ISO path as typed ('' for an empty drive)."""
        return self.iso.path()

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        if self.slot is None:
            return with_first_iso(spec, self.path(), self.capabilities)
        return set_iso(spec, self.slot[0], self.slot[1], self.path())
