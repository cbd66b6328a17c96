"""`FirmwareEditor`: BIOS or UEFI, Secure Boot and its key template, TPM 2.0."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import (
    Capabilities,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    SecureBootTemplate,
    catalog,
)
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.labels import firmware_name, template_hint, template_name
from desktopvm.ui.editors.widgets import caption, chosen_enum, note


class FirmwareEditor(SpecEditor):
    """Firmware choices offered from capabilities; what cannot be had says why, in place."""

    scope = FieldScope(("firmware",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        backend = capabilities.backend
        self.requirements = note()
        self.requirements.setObjectName("os-requirements")
        self.uefi = QRadioButton(firmware_name(Firmware.UEFI))
        self.uefi.setObjectName("firmware-uefi")
        self.bios = QRadioButton(firmware_name(Firmware.BIOS))
        self.bios.setObjectName("firmware-bios")
        self._kinds = QButtonGroup(self)
        for button, kind in ((self.uefi, Firmware.UEFI), (self.bios, Firmware.BIOS)):
            self._kinds.addButton(button)
            button.setAccessibleName(self.tr("Firmware: %s") % firmware_name(kind))
        self.secure_boot = QCheckBox(self.tr("Enable Secure Boot"))
        self.secure_boot.setObjectName("secure-boot")
        self.secure_boot.setAccessibleName(self.tr("Secure Boot"))
        self.secure_boot_reason = caption()
        self.secure_boot_reason.setObjectName("secure-boot-reason")
        self.template = QComboBox()
        self.template.setObjectName("secure-boot-template")
        self.template.setAccessibleName(self.tr("Secure Boot key template"))
        self.template.addItem(self.tr("Default of %s") % backend, None)
        for template in sorted(capabilities.secure_boot_templates, key=str):
            self.template.addItem(template_name(template), template)
        self.template_hint = caption()
        self.tpm = QCheckBox(self.tr("Add a TPM 2.0 (Trusted Platform Module)"))
        self.tpm.setObjectName("tpm")
        self.tpm.setAccessibleName(self.tr("TPM 2.0"))
        self.tpm_reason = caption(self._tpm_reason())
        self.tpm_reason.setObjectName("tpm-reason")
        self._secure_boot_wanted = False
        self._lay_out()
        self._kinds.buttonToggled.connect(self._kind_toggled)
        self.secure_boot.toggled.connect(self._user_changed)
        self.template.currentIndexChanged.connect(self._user_changed)
        self.tpm.toggled.connect(self._user_changed)

    def _lay_out(self) -> None:
        kinds = QHBoxLayout()
        kinds.addWidget(self.uefi)
        kinds.addWidget(self.bios)
        kinds.addStretch(1)
        form = self._form = QFormLayout()
        form.addRow(self.tr("Firmware:"), kinds)
        form.addRow("", caption(self.tr("UEFI is what current systems expect; choose BIOS for "
                                        "old ones or installers that do not boot with UEFI.")))
        form.addRow(self.tr("Secure Boot:"), self.secure_boot)
        form.addRow("", self.secure_boot_reason)
        if self.capabilities.secure_boot_templates:
            form.addRow(self.tr("Trusted keys:"), self.template)
            form.addRow("", self.template_hint)
        form.addRow(self.tr("TPM:"), self.tpm)
        form.addRow("", self.tpm_reason)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.requirements)
        layout.addLayout(form)
        layout.addStretch(1)

    def _tpm_reason(self) -> str:
        caps = self.capabilities
        if caps.tpm:
            return ""
        reason = caps.tpm_unavailable_reason or self.tr("%s has no TPM 2.0 on this host.") \
            % caps.backend
        return self.tr("Not available: %s") % reason

    def _load(self, spec: MachineSpec) -> None:
        firmware = spec.firmware
        (self.uefi if firmware.kind is Firmware.UEFI else self.bios).setChecked(True)
        self.secure_boot.setChecked(firmware.secure_boot)
        self._secure_boot_wanted = firmware.secure_boot
        template = firmware.secure_boot_template
        if template is not None and self.template.findData(template) < 0:
            self.template.addItem(template_name(template), template)  # shown, so not lost
        self.template.setCurrentIndex(max(0, self.template.findData(template)))
        self.tpm.setChecked(firmware.tpm)
        self.set_guest_os(spec.os)

    def set_guest_os(self, os_id: str) -> None:
        """Explain what the guest OS insists on (Windows 11: UEFI, Secure Boot, TPM)."""
        entry = catalog().get(os_id)
        needs = []
        if entry is not None:
            if entry.requires.firmware is not None:
                needs.append(self.tr("%s firmware") % firmware_name(entry.requires.firmware))
            if entry.requires.secure_boot:
                needs.append(self.tr("Secure Boot"))
            if entry.requires.tpm:
                needs.append(self.tr("a TPM 2.0"))
        if entry is None or not needs:
            self.requirements.hide()
            return
        joined = needs[0] if len(needs) == 1 else self.tr("%s and %s") % (", ".join(needs[:-1]),
                                                                           needs[-1])
        self.requirements.setText(self.tr("%s requires %s; its installer refuses to run "
                                          "without them.") % (entry.name, joined))
        self.requirements.show()

    def _kind_toggled(self, _button: QAbstractButton, checked: bool) -> None:
        if not checked:  # the other button's toggle follows: act once per choice
            return
        # Secure Boot exists only under UEFI: put it aside on BIOS and bring it back on UEFI.
        if not self._loading:
            if self.bios.isChecked():
                self._secure_boot_wanted = self.secure_boot.isChecked()
                self.secure_boot.setChecked(False)
            elif self.uefi.isChecked() and self.capabilities.secure_boot:
                self.secure_boot.setChecked(self._secure_boot_wanted)
        self._user_changed()

    def _refresh(self) -> None:
        caps = self.capabilities
        for button, kind in ((self.uefi, Firmware.UEFI), (self.bios, Firmware.BIOS)):
            self.offer(button, kind in caps.firmware or button.isChecked(),
                        self.tr("%s cannot use %s firmware.") % (caps.backend, kind.value.upper()))
        uefi = self.uefi.isChecked()
        if not uefi:
            reason = self.tr("Secure Boot needs UEFI firmware.")
        elif not caps.secure_boot:
            reason = self.tr("%s cannot do Secure Boot here.") % caps.backend
        else:
            reason = ""
        # A checked box stays enabled so a setting the backend cannot honour can be removed.
        self.offer(self.secure_boot, not reason or self.secure_boot.isChecked(), reason)
        self.secure_boot_reason.setText(reason)
        # Whole rows, so a hidden caption leaves no gap behind.
        self._form.setRowVisible(self.secure_boot_reason, bool(reason))
        self.offer(self.template, self.secure_boot.isChecked(),
                    self.tr("Choose the keys after enabling Secure Boot."))
        self.template_hint.setText(template_hint(chosen_enum(self.template, SecureBootTemplate)))
        self.offer(self.tpm, caps.tpm or self.tpm.isChecked(), self._tpm_reason())
        self._form.setRowVisible(self.tpm_reason, not caps.tpm)

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        uefi = self.uefi.isChecked()
        secure_boot = uefi and self.secure_boot.isChecked()
        template = chosen_enum(self.template, SecureBootTemplate) if secure_boot else None
        firmware = FirmwareSpec(kind=Firmware.UEFI if uefi else Firmware.BIOS,
                                secure_boot=secure_boot, secure_boot_template=template,
                                tpm=self.tpm.isChecked())
        return spec.model_copy(update={"firmware": firmware})
