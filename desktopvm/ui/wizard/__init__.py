"""The New VM wizard: one module per page, sharing the hardware editors with settings."""

from desktopvm.ui.wizard.wizard import NewVmWizard, PageId

__all__ = ["NewVmWizard", "PageId"]
