"""`DiskDetails`: the selected disk's file, format and size, and a new size to grow it to."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QSpinBox, QWidget

from desktopvm.model import Disk
from desktopvm.ui.editors.widgets import caption, format_bytes

GIB = 1024**3
# The spin box goes past any backend's limit so that a size too big is refused in words
# (validation) rather than silently clamped; QSpinBox holds a 32-bit int.
SPIN_CEILING_GIB = 1 << 20  # 1 PiB


def ceil_gib(size_bytes: int) -> int:
    """Whole GiB that hold `size_bytes` (a 20.5 GiB disk shows as 21)."""
    return max(1, -(-size_bytes // GIB))


def grow_problem(new_bytes: int, current: int, max_bytes: int, backend: str) -> str:
    """Why growing a disk of `current` bytes to `new_bytes` cannot be done ('' if it can)."""
    if new_bytes < current:
        return (f"Disks only grow: {format_bytes(new_bytes)} is less than the disk's current "
                f"{format_bytes(current)}. To shrink one, shrink its partitions in the guest "
                "and copy them to a new, smaller disk.")
    if new_bytes > max_bytes:
        return f"{backend} allows at most {format_bytes(max_bytes)} per disk."
    return ""


class DiskDetails(QWidget):
    """What a disk is, and (for a disk that exists) a new size; the storage editor owns it.

    `show_disk` loads a disk with its current size in bytes (None while it is being read)
    and the size chosen earlier in this dialog, if any.

    Signals:
        size_chosen(int)  -- the user set a new size, in bytes
    """

    size_chosen = Signal(object)  # bytes pass 2 GiB: a Qt int holds 32 bits

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.file = QLabel()
        self.file.setObjectName("disk-file")
        self.file.setWordWrap(True)
        self.file.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_label = QLabel()
        self.format_label.setObjectName("disk-format-shown")
        self.current = QLabel()
        self.current.setObjectName("disk-current-size")
        self.new_size = QSpinBox()
        self.new_size.setObjectName("disk-new-size")
        self.new_size.setAccessibleName(self.tr("New disk size in GiB"))
        self.new_size.setSuffix(self.tr(" GiB"))
        self.new_size.setRange(1, SPIN_CEILING_GIB)
        self.new_size.setMaximumWidth(180)
        self.new_size.setKeyboardTracking(False)  # "1" on the way to "100" is no shrink
        self.hint = caption(self.tr(
            "Disks only grow. After growing, extend the partition inside the guest (Disk "
            "Management, GParted or growpart) to use the new space. Detaching keeps the "
            "file."))
        self.hint.setObjectName("disk-resize-hint")
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow(self.tr("File:"), self.file)
        self.form.addRow(self.tr("Format:"), self.format_label)
        self.form.addRow(self.tr("Size:"), self.current)
        self.form.addRow(self.tr("Grow to:"), self.new_size)
        self.form.addRow("", self.hint)
        self._start_gib = 0
        self.new_size.valueChanged.connect(self._edited)

    def show_disk(self, disk: Disk, current: int | None, chosen: int | None,
                  unreadable: str = "", attaching: bool = False) -> None:
        """Show `disk` (`current` bytes, None while unknown) with an earlier `chosen` size.

        `attaching`: an existing file attached in this dialog, checked and attached on OK; it
        can grow once it is part of the machine.
        """
        self.file.setText(disk.path or self.tr("A new file in the machine's folder"))
        self.format_label.setText(disk.format.value.upper())
        growable = disk.existing and not attaching
        if not disk.existing:
            self.current.setText(self.tr("%s, created on OK") % format_bytes(disk.size_bytes))
        elif attaching:
            self.current.setText(self.tr("Checked and attached on OK; it can grow after that."))
        elif current is None:
            self.current.setText(unreadable or self.tr("Reading the disk's size…"))
        else:
            self.current.setText(format_bytes(current))
        self.form.setRowVisible(self.new_size, growable)
        self.hint.setVisible(growable)
        self.new_size.blockSignals(True)
        self._start_gib = ceil_gib(current) if current is not None else 0
        self.new_size.setValue(ceil_gib(chosen) if chosen else max(1, self._start_gib))
        self.new_size.blockSignals(False)
        self.new_size.setProperty("resizable", growable and current is not None)

    def _edited(self, value: int) -> None:
        # Back at the size shown at first means "no resize", even for a 20.5 GiB disk.
        self.size_chosen.emit(0 if value == self._start_gib else value * GIB)
