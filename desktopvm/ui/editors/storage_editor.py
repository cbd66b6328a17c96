"""`StorageEditor`: every controller's disks and optical drives; add, attach, detach and grow
disks; change or eject ISOs."""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import Capabilities, Disk, MachineSpec, Problem, Severity, validate
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.disk_details import DiskDetails, grow_problem
from desktopvm.ui.editors.disk_editor import DiskEditor
from desktopvm.ui.editors.labels import controller_name
from desktopvm.ui.editors.optical_editor import OpticalEditor
from desktopvm.ui.editors.problems_view import ProblemsView
from desktopvm.ui.editors.storage_layout import add_disk, detach_disk
from desktopvm.ui.editors.widgets import format_bytes
from desktopvm.ui.path_facts import PathFacts

if TYPE_CHECKING:
    from desktopvm.ui.host_iso_dialog import HostIsos

SlotRole = Qt.ItemDataRole.UserRole + 1  # ("disk" | "optical", controller index, index)


class AddDiskDialog(QDialog):
    """Asks for a disk to add (new or existing file) with the wizard's disk editor."""

    def __init__(self, spec: MachineSpec, capabilities: Capabilities,
                 host_info: HostInfo | None, check_paths: bool,
                 parent: QWidget | None = None, *, existing: bool = False,
                 path_facts: PathFacts | None = None, start_dir: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("add-disk-dialog")
        self.setWindowTitle(self.tr("Attach a disk file") if existing else self.tr("Add a disk"))
        self.setMinimumWidth(460)
        self._spec = spec
        self._check_paths = check_paths
        self._path_facts = path_facts  # answers about files, from workers (None: ask here)
        self.editor = DiskEditor(capabilities, host_info, allow_none=False)
        self.editor.set_spec(spec.model_copy(update={"storage": ()}))
        if existing:
            self.editor.only_existing()
        self.editor.path.start_dir = start_dir
        self.editor.touched = True  # the defaults shown are the user's choice once accepted
        self.problems = ProblemsView([DiskEditor.scope])
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(
            self.tr("Attach") if existing else self.tr("Add"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.editor.changed.connect(self._check)
        if path_facts is not None:
            path_facts.changed.connect(self._check)
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
                                check_paths=self._check_paths, path_facts=(
                                    self._path_facts.lookup if self._path_facts else None))
        self.problems.show_problems(problems)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not self.problems.has_errors)


class StorageEditor(SpecEditor):
    """A tree of controllers and their devices, with the selected device's details below.

    An optical drive shows its ISO (changed or ejected live where the backend can); a disk
    shows its file, format and size, and grows to a new size on OK (never shrinks). The
    current sizes come from `set_disk_sizes` (the settings dialog reads them off the GUI
    thread); until then a disk's recorded size stands in.
    """

    scope = FieldScope(("storage",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 check_paths: bool = True, parent: QWidget | None = None,
                 path_facts: PathFacts | None = None, *,
                 host_isos: HostIsos | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.check_paths = check_paths
        self.path_facts = path_facts
        # Where Attach disk file… starts looking: the folder of the machines' folders, where
        # the disks a Delete kept are (settings_dialog.py sets it for machines on this computer).
        self.disk_folder = ""
        # The ISOs on the host, for "On the host…" beside a drive's ISO (ESXi connections).
        self.host_isos = host_isos
        self._spec: MachineSpec | None = None
        self._sizes: dict[str, int] = {}  # path -> current virtual size in bytes
        self._unreadable: dict[str, str] = {}  # path -> why its size could not be read
        self._grow: dict[str, int] = {}  # path -> the size the user chose, in bytes
        self._attached: set[str] = set()  # files of the disks the machine had on loading
        self.add_dialog: AddDiskDialog | None = None
        self.detach_question: QMessageBox | None = None
        self.tree = QTreeWidget()
        self.tree.setObjectName("storage-tree")
        self.tree.setAccessibleName(self.tr("Storage devices"))
        self.tree.setHeaderLabels([self.tr("Device"), self.tr("Contents")])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 200)
        self.add_button = QPushButton(self.tr("Add disk…"))
        self.add_button.setObjectName("add-disk")
        self.attach_button = QPushButton(self.tr("Attach disk file…"))
        self.attach_button.setObjectName("attach-disk")
        self.attach_button.setAccessibleName(self.tr("Attach an existing disk file"))
        self.detach_button = QPushButton(self.tr("Detach disk…"))
        self.detach_button.setObjectName("detach-disk")
        self.detach_button.setAccessibleName(self.tr("Detach the selected disk"))
        self.optical: OpticalEditor | None = None
        # What the selected device holds, under its own heading.
        self.details_box = QGroupBox()
        self.details_box.setObjectName("storage-details")
        self.details = QVBoxLayout(self.details_box)
        self.disk_details = DiskDetails()
        self.details.addWidget(self.disk_details)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.attach_button)
        buttons.addWidget(self.detach_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.details_box)

        self.tree.currentItemChanged.connect(self._show_selected)
        self.add_button.clicked.connect(lambda: self._ask_for_disk(existing=False))
        self.attach_button.clicked.connect(lambda: self._ask_for_disk(existing=True))
        self.detach_button.clicked.connect(self._ask_to_detach)
        self.disk_details.size_chosen.connect(self._size_chosen)

    # -- sizes ------------------------------------------------------------------------------
    def disk_paths(self) -> list[str]:
        """Files of the disks that exist now, whose sizes `set_disk_sizes` should bring."""
        spec = self._spec
        return [] if spec is None else [d.path for _, d in spec.all_disks()
                                        if d.existing and d.path]

    def set_disk_sizes(self, sizes: dict[str, int], unreadable: dict[str, str]) -> None:
        """The disks' current virtual sizes, and why some could not be read."""
        for path, size in sizes.items():
            self._sizes[path] = size
            self._unreadable.pop(path, None)
        for path, reason in unreadable.items():
            self._unreadable[path] = reason
            self._sizes.pop(path, None)
        for item in self._device_items():
            slot = self._slot_of(item)
            if slot is not None and slot[0] == "disk" and self._spec is not None:
                item.setText(1, self._disk_text(self._spec.storage[slot[1]].disks[slot[2]]))
        slot = self.selected_slot()
        if slot is not None and slot[0] == "disk":  # an ISO being typed is left alone
            self._show_selected()

    def current_size(self, disk: Disk) -> int | None:
        """A disk's current size as read, else as recorded; None when neither is known."""
        size = self._sizes.get(disk.path)
        if size is None and disk.path not in self._unreadable and disk.size_bytes > 0:
            size = disk.size_bytes
        return size

    def resizes(self) -> list[tuple[str, int]]:
        """(path, new size in bytes) of each attached disk the user grew."""
        spec = self._spec
        if spec is None or not self.touched:
            return []
        attached = {d.path: d for _, d in spec.all_disks() if d.existing}
        return [(path, size) for path, size in self._grow.items()
                if path in attached and size != self.current_size(attached[path])]

    def _size_chosen(self, size: int) -> None:
        slot = self.selected_slot()
        if slot is None or slot[0] != "disk" or self._spec is None:
            return
        path = self._spec.storage[slot[1]].disks[slot[2]].path
        if size:
            self._grow[path] = size
        else:
            self._grow.pop(path, None)
        self._label_disk(slot)
        self._user_changed()

    # -- the tree ---------------------------------------------------------------------------
    def _load(self, spec: MachineSpec) -> None:
        self._spec = spec
        self._grow.clear()
        self._attached = {d.path for _, d in spec.all_disks() if d.existing}
        self._fill_tree()

    def _disk_text(self, disk: Disk) -> str:
        if not disk.existing:
            return self.tr("New %s %s disk, created on OK") % (
                format_bytes(disk.size_bytes), disk.format.value.upper())
        name = PurePath(disk.path).name or disk.path
        if disk.path not in self._attached:
            return self.tr("%s, attached on OK") % name
        current, grow = self.current_size(disk), self._grow.get(disk.path)
        if grow is not None and current is not None and grow < current:
            return self.tr("%s, %s (cannot shrink to %s)") % (name, format_bytes(current),
                                                              format_bytes(grow))
        if grow is not None:
            return self.tr("%s, grows to %s on OK") % (name, format_bytes(grow))
        return name if current is None else f"{name}, {format_bytes(current)}"

    def _label_disk(self, slot: tuple[str, int, int]) -> None:
        item = self.tree.currentItem()
        if item is not None and self._spec is not None:
            item.setText(1, self._disk_text(self._spec.storage[slot[1]].disks[slot[2]]))

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
                item = QTreeWidgetItem([self.tr("Disk (port %d)") % disk.port,
                                        self._disk_text(disk)])
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

    def select(self, kind: str, index: int = 0) -> None:
        """Select the `index`-th disk or optical drive ("disk" | "optical") of the tree."""
        items = [i for i in self._device_items() if (self._slot_of(i) or ("",))[0] == kind]
        self.tree.setCurrentItem(items[index])

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
        self.disk_details.hide()
        if slot is not None and slot[0] == "optical" and self._spec is not None:
            self.optical = OpticalEditor(self.capabilities, self.host_info, (slot[1], slot[2]),
                                         eject=True)
            self.optical.offer_host_isos(self.host_isos)
            self.optical.set_spec(self._spec)
            self.optical.set_state(self._state)
            self.optical.changed.connect(self._iso_changed)
            self.details.addWidget(self.optical)
        elif slot is not None and self._spec is not None:
            disk = self._spec.storage[slot[1]].disks[slot[2]]
            self.disk_details.show_disk(disk, self.current_size(disk), self._grow.get(disk.path),
                                        self._unreadable.get(disk.path, ""),
                                        attaching=disk.path not in self._attached)
            self.disk_details.show()
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

    # -- add, attach, detach ----------------------------------------------------------------
    def _ask_for_disk(self, existing: bool) -> None:
        if self._spec is None:
            return
        # open(), not exec(): a nested event loop would let a job finish under our feet.
        self.add_dialog = AddDiskDialog(self._spec, self.capabilities, self.host_info,
                                        self.check_paths, self, existing=existing,
                                        path_facts=self.path_facts, start_dir=self.disk_folder)
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

    def _ask_to_detach(self) -> None:
        slot = self.selected_slot()
        if slot is None or slot[0] != "disk" or self._spec is None:
            return
        disk = self._spec.storage[slot[1]].disks[slot[2]]
        if not disk.existing:  # added in this dialog and not made yet: nothing to keep
            self._detach(slot)
            return
        box = self.detach_question = QMessageBox(
            QMessageBox.Icon.Question, self.tr("Detach disk"),
            self.tr("Detach %s from the machine?") % (PurePath(disk.path).name or disk.path),
            QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("detach-question")
        # Wide enough that a machine folder's path is not broken over three lines.
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 420px; }")
        box.setInformativeText(self.tr(
            "The file stays where it is, and detaching never deletes it; Attach disk file… "
            "puts it back.\n\n%s") % disk.path)
        detach = box.addButton(self.tr("Detach"), QMessageBox.ButtonRole.AcceptRole)
        detach.setObjectName("confirm-detach")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(
            lambda button: self._detach(slot) if button is detach else None)
        box.finished.connect(self._forget_question)
        box.open()

    def _forget_question(self) -> None:
        if self.detach_question is not None:
            self.detach_question.deleteLater()
            self.detach_question = None

    def _detach(self, slot: tuple[str, int, int]) -> None:
        if self._spec is None:
            return
        path = self._spec.storage[slot[1]].disks[slot[2]].path
        self._grow.pop(path, None)
        self._spec = detach_disk(self._spec, slot[1], slot[2])
        self._fill_tree()
        self._user_changed()

    # -- the editor -------------------------------------------------------------------------
    def _refresh(self) -> None:
        slot = self.selected_slot()
        self.offer(self.add_button, True, "")
        self.offer(self.attach_button, True, "")
        self.offer(self.detach_button, slot is not None and slot[0] == "disk",
                   self.tr("Select a disk to detach; its file is kept."))
        if self.optical is not None:
            self.optical.set_state(self._state)
        spin = self.disk_details.new_size
        unknown = self.tr("The disk's current size is not known yet, so it cannot grow.")
        path = self._selected_disk_path()
        if path in self._unreadable:
            unknown = self.tr("Cannot grow the disk: its size could not be read (%s).") \
                % self._unreadable[path]
        self.offer(spin, bool(spin.property("resizable")), unknown)
        self.tree.setEnabled(True)

    def _selected_disk_path(self) -> str:
        slot = self.selected_slot()
        if slot is None or slot[0] != "disk" or self._spec is None:
            return ""
        return self._spec.storage[slot[1]].disks[slot[2]].path

    def own_problems(self) -> list[Problem]:
        """A size to grow to that is smaller than the disk, or more than the backend allows."""
        if self._spec is None or not self.touched:
            return []
        problems = []
        for ci, controller in enumerate(self._spec.storage):
            for di, disk in enumerate(controller.disks):
                size, current = self._grow.get(disk.path), self.current_size(disk)
                if not disk.existing or size is None or current is None:
                    continue
                message = grow_problem(size, current, self.capabilities.max_disk_bytes,
                                       self.capabilities.backend)
                if message:
                    problems.append(Problem(field=f"storage[{ci}].disks[{di}].size_bytes",
                                            severity=Severity.ERROR, message=message))
        return problems

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        if self._spec is None:
            return spec
        # A grown disk records its new size, so the details show it without a re-read.
        storage = tuple(controller.model_copy(update={"disks": tuple(
            d.model_copy(update={"size_bytes": self._grow[d.path]})
            if d.existing and d.path in self._grow else d for d in controller.disks)})
            for controller in self._spec.storage)
        return spec.model_copy(update={"storage": storage})
