"""`AdapterEditor`: one network adapter's attachment, network, card model and MAC address."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from desktopvm.model import (
    LiveChange,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    Problem,
    Severity,
)
from desktopvm.ui.editors.base import SpecEditor
from desktopvm.ui.editors.labels import (
    ATTACHMENT_ORDER,
    NIC_ORDER,
    attachment_hint,
    attachment_name,
    network_field_label,
    nic_model_name,
    ordered,
)
from desktopvm.ui.editors.widgets import caption, chosen_enum

NAMED = {NetworkAttachment.BRIDGED, NetworkAttachment.SWITCH, NetworkAttachment.HOST_ONLY,
         NetworkAttachment.INTERNAL}
DEFAULT_INTERNAL_NETWORK = "intnet"


def parse_mac(text: str) -> str | None:
    """The MAC in the model's form (AA:BB:…), '' for automatic, None when it is not one."""
    if not text.strip():
        return ""
    try:
        return NetworkAdapter(mac=text.strip()).mac
    except ValueError:
        return None


class AdapterEditor(QWidget):
    """Edits one NetworkAdapter for an owning SpecEditor, which decides what is editable.

    Signals:
        changed()
    """

    changed = Signal()

    def __init__(self, owner: SpecEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.owner = owner
        caps = owner.capabilities
        self._original = NetworkAdapter()
        self._loading = False
        self.attachment = QComboBox()
        self.attachment.setObjectName("attachment")
        self.attachment.setAccessibleName(self.tr("Attached to"))
        for attachment in ordered(caps.network_attachments, ATTACHMENT_ORDER):
            self.attachment.addItem(attachment_name(attachment), attachment)
        self.attachment_hint = caption()
        self.network_label = QLabel()
        self.network = QComboBox()
        self.network.setObjectName("network-name")
        self.network.setEditable(True)
        self.network.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.network_label.setBuddy(self.network)
        self.model = QComboBox()
        self.model.setObjectName("nic-model")
        self.model.setAccessibleName(self.tr("Adapter type"))
        self.model.addItem(self.tr("Automatic (best for the guest)"), None)
        for nic in ordered(caps.nic_models, NIC_ORDER):
            self.model.addItem(nic_model_name(nic), nic)
        self.mac = QLineEdit()
        self.mac.setObjectName("mac")
        self.mac.setAccessibleName(self.tr("MAC address"))
        self.mac.setPlaceholderText(self.tr("Automatic"))
        self.mac.setClearButtonEnabled(True)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("Attached to:"), self.attachment)
        form.addRow("", self.attachment_hint)
        form.addRow(self.network_label, self.network)
        form.addRow(self.tr("Adapter type:"), self.model)
        form.addRow(self.tr("MAC address:"), self.mac)
        self._form = form

        self.attachment.currentIndexChanged.connect(self._attachment_changed)
        self.network.currentTextChanged.connect(self._emit)
        self.model.currentIndexChanged.connect(self._emit)
        self.mac.textChanged.connect(self._emit)

    def current_attachment(self) -> NetworkAttachment:
        """The attachment chosen."""
        chosen = chosen_enum(self.attachment, NetworkAttachment)
        return chosen or NetworkAttachment.NONE

    def set_adapter(self, adapter: NetworkAdapter, mac_text: str | None = None) -> None:
        """Show `adapter`; `mac_text` is what the user typed last if it was no valid MAC."""
        self._loading = True
        try:
            self._original = adapter
            if self.attachment.findData(adapter.attachment) < 0:
                self.attachment.addItem(attachment_name(adapter.attachment), adapter.attachment)
            self.attachment.setCurrentIndex(self.attachment.findData(adapter.attachment))
            self._fill_networks(adapter.network)
            if self.model.findData(adapter.model) < 0 and adapter.model is not None:
                self.model.addItem(nic_model_name(adapter.model), adapter.model)
            self.model.setCurrentIndex(max(0, self.model.findData(adapter.model)))
            self.mac.setText(adapter.mac if mac_text is None else mac_text)
        finally:
            self._loading = False
        self.refresh()

    def _fill_networks(self, current: str) -> None:
        """The host's networks for this attachment, with `current` selected (or typed)."""
        attachment = self.current_attachment()
        host = self.owner.host_info
        self.network.blockSignals(True)
        self.network.clear()
        for network in host.networks if host else ():
            if network.attachment == attachment.value:
                self.network.addItem(network.name, network.name)
                if network.description:
                    self.network.setItemData(self.network.count() - 1, network.description,
                                             Qt.ItemDataRole.ToolTipRole)
        self.network.setEditText(current)
        self.network.blockSignals(False)
        label = network_field_label(attachment)
        self.network_label.setText(label)
        self.network.setAccessibleName(label.rstrip(":"))
        placeholder = {
            NetworkAttachment.BRIDGED: self.tr("No host interface found: type its name"),
            NetworkAttachment.SWITCH: self.tr("No virtual switch found: type its name"),
        }.get(attachment, "")
        line = self.network.lineEdit()
        if line is not None:
            line.setPlaceholderText(placeholder)

    def _attachment_changed(self) -> None:
        if not self._loading:
            # A sensible network for the new attachment: the host's first, or "intnet".
            attachment = self.current_attachment()
            self._fill_networks("")
            if attachment in NAMED and self.network.count():
                self.network.setCurrentIndex(0)
            elif attachment is NetworkAttachment.INTERNAL:
                self.network.setEditText(DEFAULT_INTERNAL_NETWORK)
        self._emit()

    def _emit(self) -> None:
        if not self._loading:
            self.refresh()
            self.changed.emit()

    def refresh(self) -> None:
        """Enable what can change now and show what the attachment means."""
        attachment = self.current_attachment()
        self.attachment_hint.setText(attachment_hint(attachment))
        named = attachment in NAMED
        self._form.setRowVisible(self.network, named)
        offer = self.owner.offer
        offer(self.attachment, True, "", LiveChange.NETWORK_ATTACHMENT)
        offer(self.network, named, "", LiveChange.NETWORK_ATTACHMENT)
        offer(self.model, True, "")
        offer(self.mac, True, "")

    def mac_text(self) -> str:
        """The MAC address as typed."""
        return self.mac.text()

    def adapter(self) -> NetworkAdapter:
        """The adapter as shown (an unreadable MAC counts as automatic; see mac_problem)."""
        attachment = self.current_attachment()
        model = chosen_enum(self.model, NicModel)
        return self._original.model_copy(update={
            "attachment": attachment,
            "network": self.network.currentText().strip() if attachment in NAMED else "",
            "model": model,
            "mac": parse_mac(self.mac.text()) or "",
        })


def mac_problem(index: int, mac_text: str) -> list[Problem]:
    """An error for a typed MAC address that is not one."""
    if parse_mac(mac_text) is not None:
        return []
    return [Problem(field=f"network[{index}].mac", severity=Severity.ERROR, message=(
        QCoreApplication.translate("AdapterEditor", "%s is not a MAC address: write six pairs "
                                   "of hex digits, such as 52:54:00:12:34:56.")
        % mac_text.strip()))]
