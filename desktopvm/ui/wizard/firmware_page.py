"""The wizard's firmware page: BIOS or UEFI, Secure Boot and TPM, with what the OS needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.model import Capabilities
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors import FieldScope, FirmwareEditor, SpecEditor
from desktopvm.ui.wizard.spec_page import SpecPage

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class FirmwarePage(SpecPage):
    """Firmware choices; the guest OS's unmet needs show here as warnings, not as blocks."""

    def __init__(self, wizard: NewVmWizard) -> None:
        # "os" problems say what the guest OS needs and lacks (Windows 11 without a TPM).
        super().__init__(wizard, self.tr("Firmware and security"), self.tr(
            "How the machine starts, and the security devices its system may ask for."),
            extra_scopes=(FieldScope(("os",)),))

    def make_editors(self, capabilities: Capabilities,
                     host_info: HostInfo | None) -> list[SpecEditor]:
        editor = FirmwareEditor(capabilities, host_info)
        self.editor_area.addWidget(editor)
        return [editor]
