"""`BootOrderEditor`: which devices the firmware tries, in which order; keyboard reorderable."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import BootDevice, Capabilities, MachineSpec, Problem, Severity
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.labels import BOOT_DEVICE_ORDER, boot_device_name, ordered
from desktopvm.ui.editors.widgets import caption

DeviceRole = Qt.ItemDataRole.UserRole + 1


class ReorderList(QListWidget):
    """A list whose current row moves with Alt+Up / Alt+Down (Space ticks it, as usual).

    Signals:
        move_requested(int)  -- -1 up, +1 down
    """

    move_requested = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        alt = event.modifiers() & Qt.KeyboardModifier.AltModifier
        if alt and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.move_requested.emit(-1 if event.key() == Qt.Key.Key_Up else 1)
            event.accept()
            return
        super().keyPressEvent(event)


class BootOrderEditor(SpecEditor):
    """Every device the backend can boot from, ticked when the firmware tries it, in order.

    Ticked devices come first, in the spec's order; the others follow unticked. A loaded
    device the backend cannot boot from stays listed (loading never changes the spec) and
    validation says so.
    """

    scope = FieldScope(("boot_order",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.devices = ReorderList()
        self.devices.setObjectName("boot-devices")
        self.devices.setAccessibleName(self.tr("Boot order"))
        self.devices.setAccessibleDescription(self.tr(
            "Space turns a device on or off; Alt+Up and Alt+Down move it."))
        self.up_button = QPushButton(self.tr("Move &up"))
        self.up_button.setObjectName("boot-up")
        self.up_button.setAccessibleName(self.tr("Move the selected device up"))
        self.down_button = QPushButton(self.tr("Move do&wn"))
        self.down_button.setObjectName("boot-down")
        self.down_button.setAccessibleName(self.tr("Move the selected device down"))
        self.hint = caption(self.tr(
            "The firmware tries the ticked devices from the top and starts the first that "
            "holds a system. Space ticks the selected device; Alt+Up and Alt+Down move it."))
        buttons = QVBoxLayout()
        buttons.addWidget(self.up_button)
        buttons.addWidget(self.down_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.devices, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.hint)
        self.devices.itemChanged.connect(self._item_changed)
        self.devices.currentRowChanged.connect(self._refresh)
        self.devices.move_requested.connect(self.move_selected)
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button.clicked.connect(lambda: self.move_selected(1))

    def _load(self, spec: MachineSpec) -> None:
        self.devices.blockSignals(True)
        self.devices.clear()
        order = list(dict.fromkeys(spec.boot_order))
        rest = ordered(set(self.capabilities.boot_devices) - set(order), BOOT_DEVICE_ORDER)
        for device in [*order, *rest]:
            item = QListWidgetItem(boot_device_name(device))
            item.setData(DeviceRole, device.value)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if device in order
                               else Qt.CheckState.Unchecked)
            if device not in self.capabilities.boot_devices:
                item.setToolTip(self.tr("%s cannot boot from this device.")
                                % self.capabilities.backend)
            self.devices.addItem(item)
        self.devices.blockSignals(False)
        self.devices.setCurrentRow(0)
        # As tall as its rows: a handful of devices need no scrolling box of empty space.
        rows = sum(self.devices.sizeHintForRow(r) for r in range(self.devices.count()))
        self.devices.setFixedHeight(rows + 2 * self.devices.frameWidth() + 4)

    def order(self) -> tuple[BootDevice, ...]:
        """The ticked devices, top first."""
        items = (self.devices.item(row) for row in range(self.devices.count()))
        return tuple(BootDevice(item.data(DeviceRole)) for item in items
                     if item is not None and item.checkState() == Qt.CheckState.Checked)

    def move_selected(self, step: int) -> None:
        """Move the selected device `step` rows (-1 up, +1 down), keeping it selected."""
        row = self.devices.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.devices.count() or not self.editable(None):
            return
        self.devices.blockSignals(True)
        item = self.devices.takeItem(row)
        self.devices.insertItem(target, item)
        self.devices.blockSignals(False)
        self.devices.setCurrentRow(target)
        self._user_changed()

    def _item_changed(self, _item: QListWidgetItem) -> None:
        self._user_changed()

    def _refresh(self) -> None:
        row = self.devices.currentRow()
        self.offer(self.devices, True, "")
        self.offer(self.up_button, row > 0, self.tr("The selected device is already first."))
        self.offer(self.down_button, 0 <= row < self.devices.count() - 1,
                   self.tr("The selected device is already last."))

    def own_problems(self) -> list[Problem]:
        """A machine that may boot from nothing cannot start a system."""
        if self.touched and not self.order():
            return [Problem(field="boot_order", severity=Severity.ERROR, message=self.tr(
                "Tick at least one device to boot from."))]
        return []

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return spec.model_copy(update={"boot_order": self.order()})
