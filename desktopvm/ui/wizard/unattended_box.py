"""The wizard's "Unattended install" box: user name, password and host name for the seed.

Shown only for an OS DesktopVM has answer files for, on a backend that can take a seed disc
(one on this computer, or ESXi, which uploads it to the datastore: seeds.refusal). The
password lives in this widget and in the creation job's closure only: never in the settings,
the spec or a log (docs/install-media.md, "Where the password goes").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QLineEdit, QWidget

from desktopvm import seeds
from desktopvm.connections import is_remote, kind_of
from desktopvm.media.unattended import (
    AnswerError,
    Answers,
    Kind,
    SeedPlan,
    check,
    kind_for,
    plan_seed,
)
from desktopvm.media.unattended.debian import how_found
from desktopvm.model import Firmware, MachineSpec, Problem, Severity, catalog

FIELD = "unattended"


class UnattendedBox(QGroupBox):
    """A checkable group: checked, Create writes a seed disc that answers the installer."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("&Unattended install"), parent)
        self.setObjectName("unattended-box")
        self.setCheckable(True)
        self.setChecked(False)
        self.user = QLineEdit()
        self.user.setObjectName("unattended-user")
        self.password = QLineEdit()
        self.password.setObjectName("unattended-password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.hostname = QLineEdit()
        self.hostname.setObjectName("unattended-hostname")
        self.hostname.setPlaceholderText(self.tr("made from the user name"))
        self.note = QLabel()
        self.note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(self.tr("User name:"), self.user)
        form.addRow(self.tr("Password:"), self.password)
        form.addRow(self.tr("Host name:"), self.hostname)
        form.addRow(self.note)
        for edit in (self.user, self.password, self.hostname):
            edit.textChanged.connect(self.changed)
        self.toggled.connect(lambda _on: self.changed.emit())
        self.os_id = ""

    def show_for(self, os_id: str, local: bool, backend_kind: str = "") -> None:
        """Show the box when `os_id` has an unattended install and the backend can take a
        seed (`backend_kind`: its connection id; every backend here, and ESXi, which uploads
        it: seeds.refusal); for Debian, say whether that backend makes its installer read the
        answers. `local` is kept for callers that know no connection id."""
        entry = catalog().get(os_id)
        kind = kind_for(entry) if entry is not None else None
        self.os_id = os_id
        takes = not seeds.refusal(backend_kind) if backend_kind else local
        self.setVisible(kind is not None and takes)
        remote = is_remote(backend_kind)
        backend_kind = kind_of(backend_kind)
        if kind is not None:
            self.note.setText(self.tr(
                "Create writes a small second disc that answers the %s installer; DesktopVM "
                "takes it out once the machine has run and is off again. The password is "
                "kept only on that disc (hashed, except for Windows).") % (
                    entry.name if entry else os_id)
                + (" " + self.tr("The disc is sent to the host's datastore with the "
                                 "machine and deleted there too.") if remote else "")
                + (" " + how_found(backend_kind) if kind is Kind.DEBIAN else ""))

    def wanted(self) -> bool:
        """Whether Create should make a seed."""
        return self.isChecked() and not self.isHidden()  # hidden: not offered for this OS

    def answers(self) -> Answers:
        """The answers typed."""
        return Answers(user=self.user.text().strip(), password=self.password.text(),
                       hostname=self.hostname.text().strip())

    def problems(self) -> list[Problem]:
        """An answer the installer cannot take, in words (blocks Create)."""
        if not self.wanted():
            return []
        entry = catalog().get(self.os_id)
        try:
            check(self.answers(), kind_for(entry) if entry else None)
        except AnswerError as error:
            return [Problem(field=FIELD, severity=Severity.ERROR, message=str(error))]
        return []

    def planner(self) -> Callable[[MachineSpec, str], SeedPlan | None]:
        """For the creation job: the answers as they are now (read here, on the GUI thread;
        the job never touches the widgets), planned into a seed when the job runs."""
        if not self.wanted():
            return lambda _spec, _backend_kind: None
        answers = self.answers()

        def plan(spec: MachineSpec, backend_kind: str) -> SeedPlan | None:
            entry = catalog().get(spec.os)
            if entry is None:
                return None
            return plan_seed(entry, answers, uefi=spec.firmware.kind is Firmware.UEFI,
                             backend_kind=kind_of(backend_kind),
                             instance_id=f"desktopvm-{uuid.uuid4()}")
        return plan
