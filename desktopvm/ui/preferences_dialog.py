"""Preferences: library folder, tool paths, QEMU acceleration, refresh interval, appearance,
backend status."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.settings import Settings, save_settings
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.theme import THEMES

ACCELERATORS = ("", "kvm", "tcg", "whpx", "hvf")


class SecondsBox(QDoubleSpinBox):
    """Seconds as people write them: "5 s", and "2.5 s" only when the value has a fraction."""

    def textFromValue(self, value: float) -> str:
        locale = self.locale()
        text = locale.toString(value, "f", self.decimals())
        if not self.isGroupSeparatorShown():  # as QDoubleSpinBox's own: "3600", not "3,600"
            text = text.replace(locale.groupSeparator(), "")
        point = locale.decimalPoint()
        return text.rstrip("0").rstrip(point) if point in text else text


class PreferencesDialog(QDialog):
    """Edits Settings; emits `saved(Settings)` after writing them."""

    saved = Signal(object)

    def __init__(self, settings: Settings, facts: list[BackendFacts],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferences")
        self.setWindowTitle(self.tr("Preferences"))
        self.setMinimumWidth(620)
        self.settings = settings
        # The file dialog is the only blocking prompt: tests replace it.
        self.ask_program: Callable[[str], str] = self._ask_program
        self.library = QLineEdit(settings.library_dir)
        self.library.setPlaceholderText(str(settings.library()))
        self.qemu = QLineEdit(settings.qemu_binary)
        self.qemu.setPlaceholderText("qemu-system-x86_64")
        self.qemu_img = QLineEdit(settings.qemu_img_path)
        self.qemu_img.setPlaceholderText(self.tr("found automatically (also beside the QEMU "
                                                 "binary)"))
        self.accel = QComboBox()
        for name in ACCELERATORS:
            self.accel.addItem(name or self.tr("Best available"), name)
        self.accel.setCurrentIndex(max(0, ACCELERATORS.index(settings.qemu_accel)
                                       if settings.qemu_accel in ACCELERATORS else 0))
        self.vboxmanage = QLineEdit(settings.vboxmanage_path)
        self.vboxmanage.setPlaceholderText(self.tr("found automatically"))
        self.powershell = QLineEdit(settings.powershell_path)
        self.powershell.setPlaceholderText("powershell.exe / pwsh")
        self.vmrun = QLineEdit(settings.vmrun_path)
        self.vmrun.setPlaceholderText(self.tr("found automatically"))
        self.theme = QComboBox()
        self.theme.setObjectName("theme")
        for value, shown in zip(THEMES, (self.tr("As the system (light or dark)"),
                                         self.tr("Light"), self.tr("Dark")), strict=True):
            self.theme.addItem(shown, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        self.refresh = SecondsBox()
        self.refresh.setObjectName("refresh-interval")
        self.refresh.setRange(1, 3600)
        self.refresh.setSuffix(" s")
        self.refresh.setValue(settings.refresh_interval_s)
        form = QFormLayout()
        form.addRow(self.tr("Machine library folder:"), self.library)
        form.addRow(self.tr("QEMU binary:"), self._browsable(self.qemu, "qemu"))
        form.addRow(self.tr("qemu-img:"), self._browsable(self.qemu_img, "qemu-img"))
        form.addRow(self.tr("QEMU acceleration:"), self.accel)
        form.addRow(self.tr("VBoxManage:"), self._browsable(self.vboxmanage, "vboxmanage"))
        form.addRow(self.tr("PowerShell (Hyper-V):"),
                    self._browsable(self.powershell, "powershell"))
        form.addRow(self.tr("vmrun (VMware):"), self._browsable(self.vmrun, "vmrun"))
        form.addRow(self.tr("Refresh every:"), self.refresh)
        form.addRow(self.tr("Appearance:"), self.theme)
        status = self._status_box(facts)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(status)
        layout.addWidget(buttons)

    def _status_box(self, facts: list[BackendFacts]) -> QGroupBox:
        """Each hypervisor here: available (version), or why not and the fix."""
        status = QGroupBox(self.tr("Hypervisors on this computer"))
        status_layout = QVBoxLayout(status)
        for fact in facts:
            text = f"<b>{html.escape(fact.display_name)}</b>: "
            if fact.available:
                text += self.tr("available") + (f" ({html.escape(fact.probe.version)})"
                                                if fact.probe.version else "")
            else:
                # paths in reasons may hold < and &: escaped for the rich-text label
                text += html.escape(fact.probe.reason)
                if fact.probe.install_hint:
                    text += f"<br><small>{html.escape(fact.probe.install_hint)}</small>"
            label = QLabel(text)
            label.setWordWrap(True)
            status_layout.addWidget(label)
        return status

    def _browsable(self, field: QLineEdit, name: str) -> QWidget:
        """The field with a Browse… button that fills it with a chosen program."""
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(field, 1)
        button = QPushButton(self.tr("Browse…"))
        button.setObjectName(f"browse-{name}")
        button.setAccessibleName(self.tr("Choose the program"))

        def browse() -> None:
            path = self.ask_program(field.text())
            if path:
                field.setText(path)
        button.clicked.connect(browse)
        layout.addWidget(button)
        return row

    def _ask_program(self, current: str) -> str:
        from PySide6.QtWidgets import QFileDialog

        return QFileDialog.getOpenFileName(self, self.tr("Choose the program"), current)[0]

    def edited(self) -> Settings:
        """The settings as edited."""
        return self.settings.replace(**{
            "library_dir": self.library.text().strip(),
            "qemu_binary": self.qemu.text().strip(),
            "qemu_img_path": self.qemu_img.text().strip(),
            "qemu_accel": self.accel.currentData(),
            "vboxmanage_path": self.vboxmanage.text().strip(),
            "powershell_path": self.powershell.text().strip(),
            "vmrun_path": self.vmrun.text().strip(),
            "refresh_interval_s": self.refresh.value(),
            "theme": self.theme.currentData(),
        })

    def _save(self) -> None:
        settings = self.edited()
        try:
            save_settings(settings)
        except OSError as error:
            show_error(self, self.tr("Preferences"), self.tr("Could not save the preferences"),
                       str(error))
            return
        self.saved.emit(settings)
        self.accept()
