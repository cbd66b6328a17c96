"""`NetworkEditor`: the machine's network adapters (one in the wizard, all in settings)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import (
    Capabilities,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    Problem,
    catalog,
)
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.adapter_editor import AdapterEditor, mac_problem
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.labels import ATTACHMENT_ORDER, attachment_short_name, ordered


class NetworkEditor(SpecEditor):
    """Adapters of a machine.

    With `multiple` a list of adapters with Add and Remove sits beside the adapter's
    settings; without, one adapter and a box to have none at all.
    """

    scope = FieldScope(("network",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 multiple: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.multiple = multiple
        self._os = "other"
        self._adapters: list[NetworkAdapter] = []
        self._mac_texts: list[str] = []
        self.adapter_editor = AdapterEditor(self)
        self.connected = QCheckBox(self.tr("Connect the machine to a network"))
        self.connected.setObjectName("network-connected")
        self.adapters = QListWidget()
        self.adapters.setObjectName("adapters")
        self.adapters.setAccessibleName(self.tr("Network adapters"))
        self.add_button = QPushButton(self.tr("Add adapter"))
        self.add_button.setObjectName("add-adapter")
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.setObjectName("remove-adapter")
        self.remove_button.setAccessibleName(self.tr("Remove the selected adapter"))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if multiple:
            self.connected.hide()
            side = QVBoxLayout()
            side.addWidget(self.adapters, 1)
            buttons = QHBoxLayout()
            buttons.addWidget(self.add_button)
            buttons.addWidget(self.remove_button)
            side.addLayout(buttons)
            self.adapters.setMaximumWidth(220)
            row = QHBoxLayout()
            row.addLayout(side)
            row.addWidget(self.adapter_editor, 1)
            layout.addLayout(row, 1)
        else:
            for widget in (self.adapters, self.add_button, self.remove_button):
                widget.hide()
            layout.addWidget(self.connected)
            layout.addSpacing(8)
            layout.addWidget(self.adapter_editor)
            layout.addStretch(1)

        self.adapter_editor.changed.connect(self._adapter_edited)
        self.adapters.currentRowChanged.connect(self._show_adapter)
        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.connected.toggled.connect(self._connected_toggled)

    def _load(self, spec: MachineSpec) -> None:
        self._os = spec.os
        self._adapters = list(spec.network)
        self._mac_texts = [a.mac for a in self._adapters]
        self.connected.setChecked(bool(self._adapters))
        self._fill_list()
        self.adapters.setCurrentRow(0 if self._adapters else -1)
        self._show_adapter(0 if self._adapters else -1)

    def _fill_list(self) -> None:
        current = self.adapters.currentRow()
        self.adapters.blockSignals(True)
        self.adapters.clear()
        for index, adapter in enumerate(self._adapters):
            self.adapters.addItem(self.adapter_title(index, adapter))
        self.adapters.setCurrentRow(min(current, len(self._adapters) - 1))
        self.adapters.blockSignals(False)

    def adapter_title(self, index: int, adapter: NetworkAdapter) -> str:
        """'Adapter 1: NAT', 'Adapter 2: Bridged (eth0)'."""
        what = attachment_short_name(adapter.attachment)
        if adapter.network:
            what = f"{what} ({adapter.network})"
        return self.tr("Adapter %d: %s") % (index + 1, what)

    def _show_adapter(self, row: int) -> None:
        if 0 <= row < len(self._adapters):
            self.adapter_editor.set_adapter(self._adapters[row], self._mac_texts[row])
        self._refresh()

    def _current_row(self) -> int:
        return self.adapters.currentRow() if self.multiple else 0

    def _adapter_edited(self) -> None:
        row = self._current_row()
        if 0 <= row < len(self._adapters):
            self._adapters[row] = self.adapter_editor.adapter()
            self._mac_texts[row] = self.adapter_editor.mac_text()
            item = self.adapters.item(row)
            if item is not None:
                item.setText(self.adapter_title(row, self._adapters[row]))
        self._user_changed()

    def new_adapter(self) -> NetworkAdapter:
        """A fresh adapter: NAT when the backend has it, with the guest's preferred card."""
        caps = self.capabilities
        attachment = next(iter(ordered(caps.network_attachments, ATTACHMENT_ORDER)),
                          NetworkAttachment.NONE)
        entry = catalog().get(self._os)
        preferred = [m for m in (entry.nic_models if entry else ()) if m in caps.nic_models]
        adapter = NetworkAdapter(attachment=attachment,
                                 model=preferred[0] if preferred else None)
        # The first host network of a named attachment, so the new adapter is complete.
        host = self.host_info
        names = [n.name for n in (host.networks if host else ()) if n.attachment == attachment]
        return adapter.model_copy(update={"network": names[0]}) if names else adapter

    def _add(self) -> None:
        self._adapters.append(self.new_adapter())
        self._mac_texts.append("")
        self._fill_list()
        self.adapters.setCurrentRow(len(self._adapters) - 1)
        self._user_changed()

    def _remove(self) -> None:
        row = self.adapters.currentRow()
        if 0 <= row < len(self._adapters):
            del self._adapters[row]
            del self._mac_texts[row]
            self._fill_list()
            self._show_adapter(self.adapters.currentRow())
            self._user_changed()

    def _connected_toggled(self, on: bool) -> None:
        if self._loading:
            return
        if on and not self._adapters:
            self._adapters, self._mac_texts = [self.new_adapter()], [""]
            self._show_adapter(0)
        elif not on:
            self._adapters, self._mac_texts = [], []
        self._user_changed()

    def _refresh(self) -> None:
        caps = self.capabilities
        has_adapter = 0 <= self._current_row() < len(self._adapters)
        self.adapter_editor.setVisible(has_adapter or not self.multiple)
        if has_adapter:
            self.adapter_editor.setEnabled(True)
            self.adapter_editor.refresh()
        else:
            self.adapter_editor.setEnabled(False)
        self.offer(self.connected, True, "")
        self.offer(self.add_button, len(self._adapters) < caps.max_network_adapters,
                   self.tr("%s allows at most %d adapters.")
                   % (caps.backend, caps.max_network_adapters))
        self.offer(self.remove_button, has_adapter, self.tr("Select an adapter first."))

    def set_guest_os(self, os_id: str) -> None:
        """New adapters get the card this guest prefers."""
        self._os = os_id

    def own_problems(self) -> list[Problem]:
        """Typed MAC addresses that are not MAC addresses."""
        return [p for i, text in enumerate(self._mac_texts) for p in mac_problem(i, text)]

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return spec.model_copy(update={"network": tuple(self._adapters)})
