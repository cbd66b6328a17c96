"""`DiskEditor`: a new disk (size, format, bus), an existing disk file, or no disk."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import (
    Capabilities,
    ControllerKind,
    Disk,
    DiskFormat,
    MachineSpec,
    Problem,
    Severity,
    catalog,
)
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.labels import (
    CONTROLLER_ORDER,
    FORMAT_ORDER,
    controller_hint,
    controller_name,
    disk_format_name,
    ordered,
)
from desktopvm.ui.editors.storage_layout import first_disk, format_from_path, with_first_disk
from desktopvm.ui.editors.widgets import PathField, caption, chosen_enum

GIB = 1024**3
DISK_FILTER = "*.qcow2 *.vdi *.vhdx *.vhd *.vmdk *.img *.raw"


class DiskMode(StrEnum):
    """What the machine's disk will be."""

    NEW = "new"
    EXISTING = "existing"
    NONE = "none"


class DiskEditor(SpecEditor):
    """Chooses the machine's first disk; `allow_none` offers "no disk" as well."""

    scope = FieldScope(("storage",), exclude=("storage[].optical",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 allow_none: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        caps = capabilities
        self._new_path = ""
        self.mode_new = QRadioButton(self.tr("Create a new disk"))
        self.mode_existing = QRadioButton(self.tr("Use an existing disk file"))
        self.mode_none = QRadioButton(self.tr("No disk"))
        self._modes = QButtonGroup(self)
        for button, mode in ((self.mode_new, DiskMode.NEW),
                             (self.mode_existing, DiskMode.EXISTING),
                             (self.mode_none, DiskMode.NONE)):
            button.setObjectName(f"disk-mode-{mode.value}")
            self._modes.addButton(button)
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("disk-size")
        self.size_spin.setAccessibleName(self.tr("Disk size in GiB"))
        self.size_spin.setSuffix(self.tr(" GiB"))
        self.size_spin.setRange(1, max(1, caps.max_disk_bytes // GIB))
        self.size_spin.setMaximumWidth(180)
        self.format = QComboBox()
        self.format.setObjectName("disk-format")
        self.format.setAccessibleName(self.tr("Disk format"))
        for disk_format in ordered(caps.disk_formats, FORMAT_ORDER):
            self.format.addItem(disk_format_name(disk_format), disk_format)
        self.path = PathField(self.tr("Choose a disk image"),
                              self.tr("Disk images (%s);;All files (*)") % DISK_FILTER)
        self.path.setObjectName("disk-path")
        self.path.edit.setObjectName("disk-path-edit")
        self.path.edit.setAccessibleName(self.tr("Disk file"))
        self.path.edit.setPlaceholderText(self.tr("Path of a disk image file"))
        self.detected = caption()
        self.detected.setObjectName("disk-detected-format")
        self.controller = QComboBox()
        self.controller.setObjectName("disk-controller")
        self.controller.setAccessibleName(self.tr("Disk controller"))
        for kind in ordered(caps.controller_kinds, CONTROLLER_ORDER):
            self.controller.addItem(controller_name(kind), kind)
        self.controller_hint = caption()
        self._allow_none = allow_none
        self._lay_out()

        self._modes.buttonToggled.connect(self._user_changed)
        self.size_spin.valueChanged.connect(self._user_changed)
        self.format.currentIndexChanged.connect(self._user_changed)
        self.path.path_changed.connect(self._user_changed)
        self.controller.currentIndexChanged.connect(self._user_changed)

    def _lay_out(self) -> None:
        new_form = self._new_form = QFormLayout()
        new_form.setContentsMargins(24, 0, 0, 8)
        new_form.addRow(self.tr("Size:"), self.size_spin)
        new_form.addRow(self.tr("Format:"), self.format)
        new_form.addRow("", caption(self.tr("The file grows as the guest writes to it, up to "
                                            "this size; it is kept in the machine's folder.")))
        existing_form = self._existing_form = QFormLayout()
        existing_form.setContentsMargins(24, 0, 0, 8)
        existing_form.addRow(self.tr("File:"), self.path)
        existing_form.addRow("", self.detected)
        self.checked_hint = caption(self.tr(
            "The file is used where it is, not copied. Before it is attached, its headers are "
            "read and checked: a disk that refers to other files (a backing file, extents, a "
            "parent disk) is refused."))
        self.checked_hint.setObjectName("disk-checked-hint")
        existing_form.addRow("", self.checked_hint)
        bus_form = QFormLayout()
        bus_form.addRow(self.tr("Attach to:"), self.controller)
        bus_form.addRow("", self.controller_hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.mode_new)
        layout.addLayout(new_form)
        layout.addWidget(self.mode_existing)
        layout.addLayout(existing_form)
        if self._allow_none:
            layout.addWidget(self.mode_none)
            none_hint = caption(self.tr("You can add a disk later in the machine's settings."))
            none_hint.setContentsMargins(24, 0, 0, 8)
            layout.addWidget(none_hint)
        else:
            self.mode_none.hide()
        layout.addLayout(bus_form)
        layout.addStretch(1)

    def only_existing(self) -> None:
        """Offer an existing disk file alone (Attach disk file…: no new disk, no "none")."""
        self.mode_existing.setChecked(True)
        self.mode_existing.hide()  # a choice of one is no choice
        self.mode_new.hide()
        self.mode_none.hide()
        for row in range(self._new_form.rowCount()):
            self._new_form.setRowVisible(row, False)

    def mode(self) -> DiskMode:
        """Which of new / existing / none is chosen."""
        if self.mode_existing.isChecked():
            return DiskMode.EXISTING
        if self.mode_none.isChecked():
            return DiskMode.NONE
        return DiskMode.NEW

    def _select(self, combo: QComboBox, value: object, label: str) -> None:
        if combo.findData(value) < 0:
            combo.addItem(label, value)  # kept visible so loading never changes the spec
        combo.setCurrentIndex(combo.findData(value))

    def _load(self, spec: MachineSpec) -> None:
        entry = catalog().get(spec.os)
        found = first_disk(spec)
        if found is None:
            (self.mode_none if self._allow_none else self.mode_new).setChecked(True)
            self.size_spin.setValue(entry.disk_gib if entry else 32)
            buses = [k for k in (entry.disk_buses if entry else ()) if k in
                     self.capabilities.controller_kinds]
            if buses:
                self._select(self.controller, buses[0], controller_name(buses[0]))
            self._new_path = ""
            return
        controller_index, _, disk = found
        kind = spec.storage[controller_index].kind
        self._select(self.controller, kind, controller_name(kind))
        self._select(self.format, disk.format, disk_format_name(disk.format))
        if disk.existing:
            self.mode_existing.setChecked(True)
            self.path.set_path(disk.path)
        else:
            self.mode_new.setChecked(True)
            self._new_path = disk.path
            self.size_spin.setValue(max(1, -(-disk.size_bytes // GIB)))

    def _refresh(self) -> None:
        mode = self.mode()
        for button in (self.mode_new, self.mode_existing, self.mode_none):
            self.offer(button, True, "")
        for widget in (self.size_spin, self.format):
            self.offer(widget, mode is DiskMode.NEW, self.tr("Only for a new disk."))
        self.offer(self.path, mode is DiskMode.EXISTING, self.tr("Only for an existing disk."))
        self.offer(self.controller, mode is not DiskMode.NONE, self.tr("There is no disk."))
        kind = chosen_enum(self.controller, ControllerKind)
        self.controller_hint.setText(controller_hint(kind) if kind else "")
        detected = format_from_path(self.path.path())
        self.detected.setText(self.tr("Format: %s") % disk_format_name(detected)
                              if detected and self.path.path() else "")
        self._existing_form.setRowVisible(
            self.detected, mode is DiskMode.EXISTING and bool(self.detected.text()))

    def controller_kind(self) -> ControllerKind:
        """The bus the disk goes on."""
        kind = chosen_enum(self.controller, ControllerKind)
        return kind or ControllerKind.SATA

    def current_disk(self) -> Disk | None:
        """The disk as chosen (None for no disk)."""
        mode = self.mode()
        if mode is DiskMode.NONE:
            return None
        if mode is DiskMode.EXISTING:
            path = self.path.path()
            disk_format = format_from_path(path) or DiskFormat.RAW
            return Disk(path=path, format=disk_format, existing=True)
        chosen = chosen_enum(self.format, DiskFormat)
        return Disk(path=self._new_path, format=chosen or DiskFormat.QCOW2,
                    size_bytes=self.size_spin.value() * GIB)

    def own_problems(self) -> list[Problem]:
        """An existing disk needs a file, and a file name that tells its format."""
        if self.mode() is not DiskMode.EXISTING:
            return []
        path = self.path.path()
        if not path:
            return [Problem(field="storage", severity=Severity.ERROR,
                            message=self.tr("Choose the disk file to attach."))]
        if format_from_path(path) is None:
            return [Problem(field="storage", severity=Severity.ERROR, message=self.tr(
                "Cannot tell the format of %s from its name; disk images end in .qcow2, .vdi, "
                ".vhdx, .vhd, .vmdk or .img.") % path)]
        return []

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return with_first_disk(spec, self.current_disk(), self.controller_kind(),
                               self.capabilities)
