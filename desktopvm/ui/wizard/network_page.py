"""The wizard's network page: what the machine's adapter plugs into."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.model import Capabilities
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors import NetworkEditor, SpecEditor
from desktopvm.ui.wizard.spec_page import SpecPage

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class NetworkPage(SpecPage):
    """One network adapter, its attachment chosen from the host's networks and switches."""

    def __init__(self, wizard: NewVmWizard) -> None:
        super().__init__(wizard, self.tr("Network"), self.tr(
            "How the machine reaches the network. More adapters can be added later in its "
            "settings."))

    def make_editors(self, capabilities: Capabilities,
                     host_info: HostInfo | None) -> list[SpecEditor]:
        editor = NetworkEditor(capabilities, host_info, multiple=False)
        self.editor_area.addWidget(editor)
        return [editor]
