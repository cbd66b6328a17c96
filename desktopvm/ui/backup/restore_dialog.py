"""`RestoreDialog`: a backup set back as a new machine on any connection, or over the original."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.backup import BackupSet
from desktopvm.backup.over import FILE_KINDS
from desktopvm.connections import kind_of
from desktopvm.printable import printable
from desktopvm.protocol import MachineSummary
from desktopvm.protocol.states import STOPPED
from desktopvm.ui.backup.labels import plain_label
from desktopvm.ui.backup.name_field import NameField
from desktopvm.ui.dialogs import confirm
from desktopvm.ui.facts import BackendFacts


class RestoreDialog(QDialog):
    """"As a new machine" (the default: nothing existing is touched) on the connection chosen,
    its name checked against that connection's machines; or "over the original" when the
    machine the set was made of still exists and is off — which asks again before it is done.
    `accepted` fires only when everything needed has been said yes to."""

    def __init__(self, backup: BackupSet, choices: list[BackendFacts], default: str,
                 taken: Callable[[BackendFacts], list[str]], parent: QWidget | None = None, *,
                 original: MachineSummary | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("restore-dialog")
        self.backup, self.choices, self.taken, self.original = backup, choices, taken, original
        self.setWindowTitle(self.tr("Restore %1").replace("%1", printable(backup.machine_name)))
        self.setMinimumWidth(500)
        when = backup.created.astimezone().strftime("%Y-%m-%d %H:%M")
        about = plain_label(self.tr("The %1 backup of %2 made %3 on %4.")
                            .replace("%1", backup.kind)
                            .replace("%2", printable(backup.machine_name)).replace("%3", when)
                            .replace("%4", printable(backup.source) or "?"), "restore-about")
        self.as_new = QRadioButton(self.tr("As a new machine"))
        self.as_new.setObjectName("restore-as-new")
        self.as_new.setChecked(True)
        self.over = QRadioButton()
        self.over.setObjectName("restore-over")
        group = QButtonGroup(self)
        group.addButton(self.as_new)
        group.addButton(self.over)
        self.connection = QComboBox()
        self.connection.setObjectName("restore-connection")
        self.connection.setAccessibleName(self.tr("Where"))
        for facts in choices:
            self.connection.addItem(facts.display_name, facts.name)
        self.connection.setCurrentIndex(max(0, self.connection.findData(default)))
        self.name = NameField(backup.machine_name)
        # The original's snapshots, once a job has read them (None: not known yet).
        self.snapshots: int | None = None
        self.over_note = plain_label(name="restore-over-note")
        self._over_text()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton(self.tr("Restore"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setObjectName("restore-ok")
        self.ok.clicked.connect(self._restore)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.as_new)
        form.addRow(self.tr("Where:"), self.connection)
        form.addRow(self.tr("Name:"), self.name)
        form.addRow(self.over)
        form.addRow(self.over_note)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.connection.currentIndexChanged.connect(self._check)
        self.as_new.toggled.connect(self._check)
        self.name.checked.connect(lambda _: self._update_ok())
        self._check()

    def _over_text(self) -> None:
        original = self.original
        if original is None:
            self.over.setText(self.tr("Over the original machine"))
            reason = self.tr("The machine this backup was made of is not there any more.")
        else:
            self.over.setText(self.tr("Over the original: %1").replace(
                "%1", printable(original.name)))
            reason = self._cannot_restore_over(original)
        self.over.setEnabled(original is not None and not reason)
        if reason and self.over.isChecked():
            self.as_new.setChecked(True)
        self.over.setToolTip(reason)
        self.over_note.setText(reason or self.tr(
            "Its disks and settings become those of the backup. The current disks are kept "
            "until the restore has succeeded."))

    def set_snapshots(self, count: object) -> None:
        """The original's snapshot count, read by a job: with any, it cannot be restored over
        (they would name disks the restore replaces)."""
        self.snapshots = count if isinstance(count, int) else None
        self._over_text()
        self._check()

    def _cannot_restore_over(self, original: MachineSummary) -> str:
        """Why restore_over would refuse the machine, "" if it can go ahead: the same rules
        (desktopvm.backup.over): a backend whose disks are files it can swap, the machine off,
        no snapshots (known once `set_snapshots` is called; restore_over checks again)."""
        kind = kind_of(original.backend)
        if kind not in FILE_KINDS:
            where = next((f.display_name for f in self.choices if f.name == original.backend),
                         kind)
            return self.tr("%1 machines cannot be restored in place: only QEMU keeps a "
                           "machine's disks as files DesktopVM can swap. Restore the backup as "
                           "a new machine instead.").replace("%1", printable(where))
        if original.state not in STOPPED:
            return self.tr("%1 is %2: shut it down first.").replace(
                "%1", printable(original.name)).replace("%2", original.state.value)
        if self.snapshots:
            return self.tr("%1 has snapshots, which would name disks the restore replaces: "
                           "delete them first, or restore the backup as a new machine.").replace(
                "%1", printable(original.name))
        return ""

    def chosen(self) -> BackendFacts | None:
        """The connection chosen for a new machine."""
        index = self.connection.currentIndex()
        return self.choices[index] if 0 <= index < len(self.choices) else None

    def chosen_name(self) -> str:
        return self.name.text()

    def _check(self) -> None:
        new = self.as_new.isChecked()
        self.connection.setEnabled(new)
        self.name.setEnabled(new)
        facts = self.chosen()
        if facts is not None:
            self.name.against(facts.capabilities, self.taken(facts))
        self._update_ok()

    def _update_ok(self) -> None:
        if self.as_new.isChecked():
            self.ok.setEnabled(self.chosen() is not None and self.name.valid)
        else:
            self.ok.setEnabled(self.over.isEnabled())

    def _restore(self) -> None:
        if self.as_new.isChecked():
            self.accept()
            return
        original = self.original
        assert original is not None  # the choice is enabled only then
        confirm(self, self.tr("Restore over %1").replace("%1", printable(original.name)),
                self.tr("Replace %1 with the backup of %2? Its disks and settings become those "
                        "of the backup; what changed since then is lost (its current disks "
                        "are kept until the restore has succeeded).")
                .replace("%1", printable(original.name))
                .replace("%2", self.backup.created.astimezone().strftime("%Y-%m-%d %H:%M")),
                self.tr("Restore over it"), self.accept)
