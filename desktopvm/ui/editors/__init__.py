"""Reusable hardware editors shared by the New VM wizard and the settings dialog."""

from desktopvm.ui.editors.base import EVERYTHING, FieldScope, SpecEditor
from desktopvm.ui.editors.boot_order_editor import BootOrderEditor
from desktopvm.ui.editors.disk_editor import DiskEditor, DiskMode
from desktopvm.ui.editors.display_editor import DisplayEditor
from desktopvm.ui.editors.firmware_editor import FirmwareEditor
from desktopvm.ui.editors.identity_editor import IdentityEditor, NotesEditor, OsComboBox
from desktopvm.ui.editors.network_editor import NetworkEditor
from desktopvm.ui.editors.optical_editor import OpticalEditor
from desktopvm.ui.editors.problems_view import ProblemsView
from desktopvm.ui.editors.resources_editor import ResourcesEditor
from desktopvm.ui.editors.serial_editor import SerialEditor
from desktopvm.ui.editors.storage_editor import AddDiskDialog, StorageEditor
from desktopvm.ui.editors.usb_editor import UsbEditor

__all__ = [
    "EVERYTHING",
    "AddDiskDialog",
    "BootOrderEditor",
    "DiskEditor",
    "DiskMode",
    "DisplayEditor",
    "FieldScope",
    "FirmwareEditor",
    "IdentityEditor",
    "NetworkEditor",
    "NotesEditor",
    "OpticalEditor",
    "OsComboBox",
    "ProblemsView",
    "ResourcesEditor",
    "SerialEditor",
    "SpecEditor",
    "StorageEditor",
    "UsbEditor",
]
