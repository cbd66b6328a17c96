"""The wizard's disk page: a new disk, an existing disk file, or none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.model import Capabilities
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors import DiskEditor, SpecEditor
from desktopvm.ui.wizard.spec_page import SpecPage

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class DiskPage(SpecPage):
    """The machine's hard disk."""

    def __init__(self, wizard: NewVmWizard) -> None:
        super().__init__(wizard, self.tr("Hard disk"), self.tr(
            "Where the guest system will be installed and keep its files."))

    def make_editors(self, capabilities: Capabilities,
                     host_info: HostInfo | None) -> list[SpecEditor]:
        editor = DiskEditor(capabilities, host_info, allow_none=True)
        self.editor_area.addWidget(editor)
        return [editor]
