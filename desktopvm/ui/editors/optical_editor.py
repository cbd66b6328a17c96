"""`OpticalEditor`: the ISO image in an optical drive, or an empty drive."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from desktopvm.model import Capabilities, LiveChange, MachineSpec
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.storage_layout import first_optical, set_iso, with_first_iso
from desktopvm.ui.editors.widgets import PathField, caption


class OpticalEditor(SpecEditor):
    """An ISO path with Browse…; empty means an empty drive.

    `slot` (controller index, drive index) names the drive; None means the machine's first
    optical drive, added when an ISO is chosen and the machine has none.
    """

    scope = FieldScope(("storage[].optical",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 slot: tuple[int, int] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.slot = slot
        self.iso = PathField(self.tr("Choose an ISO image"),
                             self.tr("Disc images (*.iso *.img);;All files (*)"))
        self.iso.setObjectName("iso")
        self.iso.edit.setObjectName("iso-path")
        self.iso.edit.setAccessibleName(self.tr("ISO image"))
        self.iso.edit.setPlaceholderText(self.tr("Empty drive"))
        self.hint = caption(self.tr("A disc image (.iso) to start from, such as an operating "
                                    "system installer. Leave it empty for an empty drive."))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.iso)
        layout.addWidget(self.hint)
        self.iso.path_changed.connect(self._user_changed)

    def _load(self, spec: MachineSpec) -> None:
        if self.slot is None:
            found = first_optical(spec)
            self.iso.set_path(found[2].iso if found else "")
        else:
            controller, drive = self.slot
            self.iso.set_path(spec.storage[controller].optical[drive].iso)

    def _refresh(self) -> None:
        self.offer(self.iso, True, "", LiveChange.OPTICAL_MEDIA)

    def path(self) -> str:
        """The ISO path as typed ('' for an empty drive)."""
        return self.iso.path()

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        if self.slot is None:
            return with_first_iso(spec, self.path(), self.capabilities)
        return set_iso(spec, self.slot[0], self.slot[1], self.path())
