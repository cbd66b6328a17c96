"""The wizard's CPU and memory page, bounded by the backend and the host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.model import Capabilities
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors import ResourcesEditor, SpecEditor
from desktopvm.ui.wizard.spec_page import SpecPage

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class ResourcesPage(SpecPage):
    """Processors and memory."""

    def __init__(self, wizard: NewVmWizard) -> None:
        super().__init__(wizard, self.tr("Processors and memory"), self.tr(
            "How much of this computer the machine may use while it runs."))

    def make_editors(self, capabilities: Capabilities,
                     host_info: HostInfo | None) -> list[SpecEditor]:
        editor = ResourcesEditor(capabilities, host_info)
        self.editor_area.addWidget(editor)
        return [editor]
