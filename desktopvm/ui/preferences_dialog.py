"""Preferences: library folder, tool paths, QEMU acceleration, refresh interval, appearance,
backend status."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktopvm.settings import Settings, save_settings
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.theme import THEMES

ACCELERATORS = ("", "kvm", "tcg", "whpx", "hvf")


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
        self.library = QLineEdit(settings.library_dir)
        self.library.setPlaceholderText(str(settings.library()))
        self.qemu = QLineEdit(settings.qemu_binary)
        self.qemu.setPlaceholderText("qemu-system-x86_64")
        self.accel = QComboBox()
        for name in ACCELERATORS:
            self.accel.addItem(name or self.tr("Best available"), name)
        self.accel.setCurrentIndex(max(0, ACCELERATORS.index(settings.qemu_accel)
                                       if settings.qemu_accel in ACCELERATORS else 0))
        self.vboxmanage = QLineEdit(settings.vboxmanage_path)
        self.vboxmanage.setPlaceholderText(self.tr("found automatically"))
        self.theme = QComboBox()
        self.theme.setObjectName("theme")
        for value, shown in zip(THEMES, (self.tr("As the system (light or dark)"),
                                         self.tr("Light"), self.tr("Dark")), strict=True):
            self.theme.addItem(shown, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        self.refresh = QDoubleSpinBox()
        self.refresh.setRange(1, 3600)
        self.refresh.setSuffix(" s")
        self.refresh.setValue(settings.refresh_interval_s)
        form = QFormLayout()
        form.addRow(self.tr("Machine library folder:"), self.library)
        form.addRow(self.tr("QEMU binary:"), self.qemu)
        form.addRow(self.tr("QEMU acceleration:"), self.accel)
        form.addRow(self.tr("VBoxManage:"), self.vboxmanage)
        form.addRow(self.tr("Refresh every:"), self.refresh)
        form.addRow(self.tr("Appearance:"), self.theme)
        status = QGroupBox(self.tr("Hypervisors on this computer"))
        status_layout = QVBoxLayout(status)
        for fact in facts:
            text = f"<b>{fact.display_name}</b>: "
            if fact.available:
                text += self.tr("available") + (f" ({fact.probe.version})"
                                                if fact.probe.version else "")
            else:
                text += fact.probe.reason
                if fact.probe.install_hint:
                    text += f"<br><small>{fact.probe.install_hint}</small>"
            label = QLabel(text)
            label.setWordWrap(True)
            status_layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(status)
        layout.addWidget(buttons)

    def edited(self) -> Settings:
        """The settings as edited."""
        return self.settings.replace(**{
            "library_dir": self.library.text().strip(),
            "qemu_binary": self.qemu.text().strip(),
            "qemu_accel": self.accel.currentData(),
            "vboxmanage_path": self.vboxmanage.text().strip(),
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
