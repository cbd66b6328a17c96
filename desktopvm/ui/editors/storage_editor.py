"""`StorageEditor`: every controller's disks and optical drives; add or detach disks, swap ISOs."""

from __future__ import annotations

from pathlib import PurePath

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import Capabilities, MachineSpec, validate
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.disk_editor import DiskEditor
from desktopvm.ui.editors.labels import controller_name
from desktopvm.ui.editors.optical_editor import OpticalEditor
from desktopvm.ui.editors.problems_view import ProblemsView
from desktopvm.ui.editors.storage_layout import add_disk, detach_disk
from desktopvm.ui.editors.widgets import caption, format_bytes

SlotRole = Qt.ItemDataRole.UserRole + 1  # ("disk" | "optical", controller index, index)


class AddDiskDialog(QDialog):
    """Asks for a disk to add (new or existing file) with the wizard's disk editor."""

    def __init__(self, spec: MachineSpec, capabilities: Capabilities,
                 host_info: HostInfo | None, check_paths: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("add-disk-dialog")
        self.setWindowTitle(self.tr("Add a disk"))
        self.setMinimumWidth(460)
        self._spec = spec
        self._check_paths = check_paths
        self.editor = DiskEditor(capabilities, host_info, allow_none=False)
        self.editor.set_spec(spec.model_copy(update={"storage": ()}))
        self.editor.touched = True  # the defaults shown are the user's choice once accepted
        self.problems = ProblemsView([DiskEditor.scope])
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("Add"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.editor.changed.connect(self._check)
        self._check()

    def result_spec(self) -> MachineSpec:
        """The spec with the disk added on a free port."""
        disk = self.editor.current_disk()
        if disk is None:
            return self._spec
        return add_disk(self._spec, disk, self.editor.controller_kind(),
                        self.editor.capabilities)

    def _check(self) -> None:
        problems = self.editor.own_problems()
        if not problems:
            problems = validate(self.result_spec(), self.editor.capabilities,
                                check_paths=self._check_paths)
        self.problems.show_problems(problems)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not self.problems.has_errors)


class StorageEditor(SpecEditor):
    """A tree of controllers and their devices, with the selected optical drive's ISO below."""

    scope = FieldScope(("storage",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 check_paths: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.check_paths = check_paths
        self._spec: MachineSpec | None = None
        self.add_dialog: AddDiskDialog | None = None
        self.tree = QTreeWidget()
        self.tree.setObjectName("storage-tree")
        self.tree.setAccessibleName(self.tr("Storage devices"))
        self.tree.setHeaderLabels([self.tr("Device"), self.tr("Contents")])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 200)
        self.add_button = QPushButton(self.tr("Add disk…"))
        self.add_button.setObjectName("add-disk")
        self.detach_button = QPushButton(self.tr("Detach disk"))
        self.detach_button.setObjectName("detach-disk")
        self.detach_button.setAccessibleName(self.tr("Detach the selected disk"))
        self.optical: OpticalEditor | None = None
        # What the selected device holds, under its own heading.
        self.details_box = QGroupBox()
        self.details_box.setObjectName("storage-details")
        self.details = QVBoxLayout(self.details_box)
        self.detail_caption = caption()
        self.details.addWidget(self.detail_caption)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.detach_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.details_box)

        self.tree.currentItemChanged.connect(self._show_selected)
        self.add_button.clicked.connect(self._ask_for_disk)
        self.detach_button.clicked.connect(self._detach)

    def _load(self, spec: MachineSpec) -> None:
        self._spec = spec
        self._fill_tree()

    def _fill_tree(self, select: tuple[str, int, int] | None = None) -> None:
        assert self._spec is not None
        self.tree.clear()
        for ci, controller in enumerate(self._spec.storage):
            # The name only when it says more than the bus ("VIRTIO" under "VirtIO" does not).
            named = controller.name if controller.name.upper() != controller.kind.value.upper() \
                else ""
            top = QTreeWidgetItem([self.tr("%s controller") % controller_name(controller.kind),
                                   named])
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.tree.addTopLevelItem(top)
            for di, disk in enumerate(controller.disks):
                if disk.existing:
                    contents = PurePath(disk.path).name or disk.path
                else:
                    contents = self.tr("New %s %s disk, created on OK") % (
                        format_bytes(disk.size_bytes), disk.format.value.upper())
                item = QTreeWidgetItem([self.tr("Disk (port %d)") % disk.port, contents])
                item.setToolTip(1, disk.path)
                item.setData(0, SlotRole, ("disk", ci, di))
                top.addChild(item)
            for oi, drive in enumerate(controller.optical):
                contents = PurePath(drive.iso).name if drive.iso else self.tr("Empty")
                item = QTreeWidgetItem([self.tr("Optical drive (port %d)") % drive.port,
                                        contents])
                item.setToolTip(1, drive.iso)
                item.setData(0, SlotRole, ("optical", ci, oi))
                top.addChild(item)
        self.tree.expandAll()
        items = self._device_items()
        # Swapping the ISO is the most common storage edit: start on the first optical drive.
        optical = [i for i in items if (self._slot_of(i) or ("",))[0] == "optical"]
        fallback = (optical or items)[0] if items else None
        chosen = next((i for i in items if self._slot_of(i) == select), fallback)
        if chosen is not None:
            self.tree.setCurrentItem(chosen)
        self._show_selected()

    def _device_items(self) -> list[QTreeWidgetItem]:
        items = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top is not None:
                children = (top.child(j) for j in range(top.childCount()))
                items += [child for child in children if child is not None]
        return items

    @staticmethod
    def _slot_of(item: QTreeWidgetItem | None) -> tuple[str, int, int] | None:
        data = item.data(0, SlotRole) if item is not None else None
        if not data:
            return None
        kind, controller, index = data
        return str(kind), int(controller), int(index)

    def selected_slot(self) -> tuple[str, int, int] | None:
        """("disk" | "optical", controller index, index) of the selected device."""
        return self._slot_of(self.tree.currentItem())

    def _show_selected(self) -> None:
        if self.optical is not None:
            self.optical.hide()
            self.details.removeWidget(self.optical)
            self.optical.deleteLater()
            self.optical = None
        slot = self.selected_slot()
        item = self.tree.currentItem()
        self.details_box.setTitle(item.text(0) if item is not None and slot else "")
        self.details_box.setVisible(slot is not None)
        self.detail_caption.setText("")
        self.detail_caption.hide()
        if slot is not None and slot[0] == "optical" and self._spec is not None:
            self.optical = OpticalEditor(self.capabilities, self.host_info, (slot[1], slot[2]))
            self.optical.set_spec(self._spec)
            self.optical.set_state(self._state)
            self.optical.changed.connect(self._iso_changed)
            self.details.addWidget(self.optical)
        elif slot is not None and self._spec is not None:
            disk = self._spec.storage[slot[1]].disks[slot[2]]
            where = disk.path or self.tr("the machine's folder")
            self.detail_caption.setText(self.tr("File: %s. Detaching a disk keeps its file.")
                                        % where)
            self.detail_caption.show()
        self._refresh()

    def _iso_changed(self) -> None:
        if self.optical is None or self._spec is None:
            return
        self._spec = self.optical.apply(self._spec)
        slot = self.selected_slot()
        item = self.tree.currentItem()
        if item is not None and slot is not None:
            iso = self.optical.path()
            item.setText(1, PurePath(iso).name if iso else self.tr("Empty"))
        self._user_changed()

    def _ask_for_disk(self) -> None:
        if self._spec is None:
            return
        # open(), not exec(): a nested event loop would let a job finish under our feet.
        self.add_dialog = AddDiskDialog(self._spec, self.capabilities, self.host_info,
                                        self.check_paths, self)
        self.add_dialog.accepted.connect(self._disk_added)
        self.add_dialog.open()

    def _disk_added(self) -> None:
        if self.add_dialog is None:
            return
        self._spec = self.add_dialog.result_spec()
        self.add_dialog.deleteLater()
        self.add_dialog = None
        self._fill_tree()
        self._user_changed()

    def _detach(self) -> None:
        slot = self.selected_slot()
        if slot is None or slot[0] != "disk" or self._spec is None:
            return
        self._spec = detach_disk(self._spec, slot[1], slot[2])
        self._fill_tree()
        self._user_changed()

    def _refresh(self) -> None:
        slot = self.selected_slot()
        self.offer(self.add_button, True, "")
        self.offer(self.detach_button, slot is not None and slot[0] == "disk",
                   self.tr("Select a disk to detach; its file is kept."))
        if self.optical is not None:
            self.optical.set_state(self._state)
        self.tree.setEnabled(True)

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return spec if self._spec is None else spec.model_copy(
            update={"storage": self._spec.storage})

