"""`IdentityEditor` (the machine's name and guest OS) and `NotesEditor` (free-form notes)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import Capabilities, LiveChange, MachineSpec, catalog
from desktopvm.model.catalog import OsFamily
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.widgets import optional_icon

FAMILY_ORDER = (OsFamily.WINDOWS, OsFamily.LINUX, OsFamily.BSD, OsFamily.OTHER)


class OsComboBox(QComboBox):
    """The catalog's operating systems, grouped under family headings that cannot be chosen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMaxVisibleItems(20)
        names = {OsFamily.WINDOWS: self.tr("Windows"), OsFamily.LINUX: self.tr("Linux"),
                 OsFamily.BSD: self.tr("BSD"), OsFamily.OTHER: self.tr("Other")}
        model = self.model()
        assert isinstance(model, QStandardItemModel)
        entries = catalog().entries
        for family in FAMILY_ORDER:
            members = [e for e in entries if e.family is family]
            if not members:
                continue
            self.addItem(names[family])
            heading = model.item(self.count() - 1)
            heading.setEnabled(False)
            heading.setSelectable(False)
            font = QFont(heading.font())
            font.setBold(True)
            heading.setFont(font)
            family_icon = optional_icon(f"os-{family.value}")
            # Without an icon, indent the names so they still read as under their heading.
            indent = "" if not family_icon.isNull() else "    "
            for entry in members:
                self.addItem(family_icon, indent + entry.name, entry.id)

    def os_id(self) -> str:
        """The chosen OS id."""
        chosen: str | None = self.currentData()
        return chosen or "other"

    def set_os_id(self, os_id: str) -> None:
        """Select `os_id` (an id missing from the catalog is shown as it is)."""
        index = self.findData(os_id)
        if index < 0:
            self.addItem(os_id, os_id)
            index = self.count() - 1
        self.setCurrentIndex(index)


class IdentityEditor(SpecEditor):
    """Name and guest OS.

    Signals:
        os_changed(str)  -- the user chose another guest OS
    """

    os_changed = Signal(str)
    scope = FieldScope(("name", "os"))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.name = QLineEdit()
        self.name.setObjectName("name")
        self.name.setAccessibleName(self.tr("Name"))
        self.name.setPlaceholderText(self.tr("A name to find the machine by"))
        if capabilities.max_name_length:
            self.name.setMaxLength(capabilities.max_name_length + 1)  # one over: validate says so
        self.os = OsComboBox()
        self.os.setObjectName("guest-os")
        self.os.setAccessibleName(self.tr("Guest operating system"))
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        # Alt+A, not Alt+N: in the wizard Alt+N is Next (QWizard's "&Next >").
        self.form.addRow(self.tr("N&ame:"), self.name)
        self.form.addRow(self.tr("&Guest OS:"), self.os)
        self.name.textChanged.connect(self._user_changed)
        self.os.currentIndexChanged.connect(self._os_chosen)

    def _load(self, spec: MachineSpec) -> None:
        if spec.name != self.name.text():  # keep the cursor where the user is typing
            self.name.setText(spec.name)
        self.os.set_os_id(spec.os)

    def _os_chosen(self) -> None:
        if not self._loading:
            self.os_changed.emit(self.os.os_id())
        self._user_changed()

    def _refresh(self) -> None:
        self.offer(self.name, True, "", LiveChange.NAME)
        self.offer(self.os, True, "")

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return spec.model_copy(update={"name": self.name.text(), "os": self.os.os_id()})


class NotesEditor(SpecEditor):
    """Free-form notes about the machine."""

    scope = FieldScope(("notes",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("notes")
        self.notes.setAccessibleName(self.tr("Notes"))
        self.notes.setPlaceholderText(self.tr("What this machine is for, password hints, "
                                              "anything worth remembering…"))
        self.notes.setTabChangesFocus(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notes)
        self.notes.textChanged.connect(self._user_changed)

    def _load(self, spec: MachineSpec) -> None:
        self.notes.setPlainText(spec.notes)

    def _refresh(self) -> None:
        self.offer(self.notes, True, "", LiveChange.NOTES)

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return spec.model_copy(update={"notes": self.notes.toPlainText()})
