"""`UsbEditor`: the USB controller's generation (or none) and the tablet pointer."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import Capabilities, MachineSpec, UsbSpec, UsbVersion
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.labels import usb_version_name
from desktopvm.ui.editors.widgets import caption

# Newest first: what current guests want at the top.
VERSIONS: tuple[UsbVersion | None, ...] = (UsbVersion.USB3, UsbVersion.USB2, UsbVersion.USB1,
                                           None)


class UsbEditor(SpecEditor):
    """One radio button per controller generation and "none"; the tablet needs a controller.

    Capabilities say whether a backend has USB at all and which generations (VirtualBox 6.1
    without its Extension Pack has USB 1.1 only); a generation the backend lacks is greyed
    with its reason, and a backend without USB offers "none" alone and says why.
    """

    scope = FieldScope(("usb",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self._versions = QButtonGroup(self)
        self.buttons: dict[UsbVersion | None, QRadioButton] = {}
        choices = QVBoxLayout()
        choices.setSpacing(2)
        for version in VERSIONS:
            button = QRadioButton(usb_version_name(version))
            button.setObjectName(f"usb-{version.value if version else 'none'}")
            self._versions.addButton(button)
            self.buttons[version] = button
            choices.addWidget(button)
        self.versions_hint = caption(self.tr(
            "USB 3.0 suits current guests and serves devices of every speed; choose USB 2.0 or "
            "1.1 for guests older than Windows 8 or Linux 3.x.") if capabilities.usb else
            self.tr("%s offers no USB controller here.") % capabilities.backend)
        self.versions_hint.setObjectName("usb-hint")
        self.tablet = QCheckBox(self.tr("USB tablet: the pointer follows the mouse without being "
                                        "captured"))
        self.tablet.setObjectName("usb-tablet")
        self.tablet.setAccessibleName(self.tr("USB tablet pointer"))
        self.tablet_hint = caption(self.tr("Turn it off only for guests without a tablet "
                                           "driver (the console then captures the pointer)."))
        form = QFormLayout()
        form.addRow(self.tr("Controller:"), choices)
        form.addRow("", self.versions_hint)
        form.addRow(self.tr("Pointer:"), self.tablet)
        form.addRow("", self.tablet_hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addStretch(1)
        self._tablet_wanted = True
        self._versions.buttonToggled.connect(self._version_toggled)
        self.tablet.toggled.connect(self._tablet_toggled)

    def version(self) -> UsbVersion | None:
        """The chosen controller generation (None: no USB controller)."""
        return next((v for v, b in self.buttons.items() if b.isChecked()), None)

    def _version_toggled(self, _button: object, checked: bool) -> None:
        if not checked:
            return
        # Without a controller there is no tablet; remember the wish for when one comes back.
        self.tablet.blockSignals(True)
        self.tablet.setChecked(self._tablet_wanted and self.version() is not None)
        self.tablet.blockSignals(False)
        self._user_changed()

    def _tablet_toggled(self, checked: bool) -> None:
        self._tablet_wanted = checked
        self._user_changed()

    def _load(self, spec: MachineSpec) -> None:
        usb = spec.usb
        # Without a controller the spec's tablet says nothing; the model's default stands.
        self._tablet_wanted = usb.tablet if usb.version is not None else UsbSpec().tablet
        self.buttons[usb.version].setChecked(True)
        self.tablet.setChecked(usb.tablet and usb.version is not None)

    def _refresh(self) -> None:
        caps = self.capabilities
        chosen = self.version()
        no_usb = self.tr("%s offers no USB controller here.") % caps.backend
        lacking = caps.usb_versions_reason or self.tr(
            "%s does not offer this USB controller here.") % caps.backend
        for version, button in self.buttons.items():
            # A loaded controller the backend lacks stays choosable only while chosen.
            if version is None or version is chosen:
                self.offer(button, True, no_usb)
            elif not caps.usb:
                self.offer(button, False, no_usb)
            else:
                self.offer(button, version in caps.usb_versions, lacking)
        self.offer(self.tablet, chosen is not None,
                   self.tr("The tablet is a USB device: choose a USB controller first."))

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        version = self.version()
        usb = UsbSpec(version=version, tablet=version is not None and self.tablet.isChecked())
        return spec.model_copy(update={"usb": usb})
