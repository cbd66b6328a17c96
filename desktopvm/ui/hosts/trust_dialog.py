"""Trust a host's certificate once (pinned for that host, as SSH does), or refuse it."""

from __future__ import annotations

import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktopvm.printable import printable
from desktopvm.protocol import CertificateFacts

WARNING_COLOR = "#b00020"


def parse_time(text: str) -> datetime.datetime | None:
    """An ISO 8601 time as an aware UTC datetime (None when it does not parse)."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:  # CertificateFacts' times are UTC
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def show_time(text: str) -> str:
    """'2027-01-31 12:00 UTC', or the text as given when it is not a time."""
    moment = parse_time(text)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else printable(text)


def validity_problem(facts: CertificateFacts, now: datetime.datetime | None = None) -> str:
    """'expired', 'not yet valid', or '' for a certificate within its dates."""
    now = now or datetime.datetime.now(datetime.UTC)
    until, since = parse_time(facts.not_after), parse_time(facts.not_before)
    if until is not None and now > until:
        return "expired"
    if since is not None and now < since:
        return "not yet valid"
    return ""


def fingerprint_lines(facts: CertificateFacts) -> str:
    """The colon form in two lines of 16 bytes, so it can be read aloud and compared."""
    pairs = facts.colon_fingerprint().split(":")
    return "\n".join(":".join(pairs[i:i + 16]) for i in range(0, len(pairs), 16))


def _value(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # a certificate's names are data, not markup
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    return label


class TrustDialog(QDialog):
    """Shows a certificate and asks; accepted means "pin it for this host". The default
    button and Escape are Cancel. With `changed`, trusting needs a confirming tick too."""

    def __init__(self, facts: CertificateFacts, changed: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trust-dialog")
        self.facts, self.changed = facts, changed
        host = printable(facts.host)
        self.setWindowTitle(self.tr("Certificate changed") if changed
                            else self.tr("Trust this certificate?"))
        self.setMinimumWidth(560)
        if changed:
            heading = self.tr("The certificate of %1 has changed since you trusted it")
            explanation = self.tr(
                "This can mean the host got a new certificate (renewed, or WinRM set up again) "
                "— or that someone is intercepting the connection to read your password and "
                "commands. DesktopVM refuses the new certificate until you decide. Ask the "
                "host's administrator whether it was replaced, and compare the fingerprint "
                "below with the one they see, before you trust it.")
        else:
            heading = self.tr("This computer does not trust the certificate of %1")
            explanation = self.tr(
                "No certificate authority this computer knows (nor the CA file, if you gave "
                "one) vouches for it. Hosts often use a self-signed certificate. Before you "
                "trust it, compare the fingerprint below with the one the host's "
                "administrator sees on the host.")
        self.heading = _value(heading.replace("%1", host), "trust-heading")
        self.heading.setStyleSheet("font-size: 13pt; font-weight: 600;"
                                   + (f" color: {WARNING_COLOR};" if changed else ""))
        self.explanation = _value(explanation, "trust-explanation")
        form = self._details(facts)
        self.meaning = _value(self.tr(
            "Trusting pins this certificate for %1 only, as SSH remembers a host key: "
            "DesktopVM connects while the host shows exactly this certificate, and refuses a "
            "different one later. Nothing is added to this computer's certificate store, and "
            "no other host is affected.").replace("%1", host), "trust-meaning")
        self.meaning.setStyleSheet("color: #4b5563;")
        self._lay_out(form, changed)

    def _details(self, facts: CertificateFacts) -> QFormLayout:
        host = printable(facts.host)
        issuer = printable(facts.issuer)
        if facts.issuer == facts.subject:
            issuer += self.tr(" (self-signed)")
        problem = validity_problem(facts)
        form = QFormLayout()
        form.addRow(self.tr("Host:"), _value(host, "trust-host"))
        form.addRow(self.tr("Subject:"), _value(printable(facts.subject), "trust-subject"))
        form.addRow(self.tr("Issued by:"), _value(issuer, "trust-issuer"))
        self.valid_from = _value(show_time(facts.not_before), "trust-valid-from")
        self.valid_until = _value(show_time(facts.not_after), "trust-valid-until")
        if problem == "not yet valid":
            self.valid_from.setText(self.valid_from.text() + self.tr(" — not yet valid"))
            self.valid_from.setStyleSheet(f"color: {WARNING_COLOR}; font-weight: 600;")
        elif problem == "expired":
            self.valid_until.setText(self.valid_until.text() + self.tr(" — expired"))
            self.valid_until.setStyleSheet(f"color: {WARNING_COLOR}; font-weight: 600;")
        form.addRow(self.tr("Valid from:"), self.valid_from)
        form.addRow(self.tr("Valid until:"), self.valid_until)
        self.fingerprint = _value(fingerprint_lines(facts), "trust-fingerprint")
        self.fingerprint.setStyleSheet("font-family: monospace;")
        self.fingerprint.setAccessibleName(self.tr("SHA-256 fingerprint"))
        form.addRow(self.tr("SHA-256\nfingerprint:"), self.fingerprint)
        return form

    def _lay_out(self, form: QFormLayout, changed: bool) -> None:
        self.confirmation: QCheckBox | None = None
        buttons = QDialogButtonBox()
        self.trust_button = buttons.addButton(self.tr("Trust this certificate"),
                                              QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.trust_button.setObjectName("trust-button")
        self.trust_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)  # Enter must never trust by accident
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.explanation)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addSpacing(6)
        layout.addWidget(self.meaning)
        if changed:
            self.confirmation = QCheckBox(self.tr(
                "I checked the fingerprint: the host really has a new certificate"))
            self.confirmation.setObjectName("trust-confirmation")
            self.trust_button.setEnabled(False)
            self.confirmation.toggled.connect(self.trust_button.setEnabled)
            layout.addWidget(self.confirmation)
        layout.addWidget(buttons)
        self.cancel_button.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter means Cancel wherever the focus is: Qt hands Enter to the default button
        only while a button has the focus (on the fingerprint it did nothing), and trusting
        must be a deliberate click (or Space on the Trust button)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            self.reject()
            return
        super().keyPressEvent(event)

    def accept(self) -> None:
        """Trust only through the enabled button (a changed certificate needs the tick)."""
        if self.confirmation is not None and not self.confirmation.isChecked():
            return
        super().accept()


def ask_trust(parent: QWidget | None, facts: CertificateFacts, changed: bool = False) -> bool:
    """Ask whether to trust (pin) a certificate; True only when the user chose to trust it.

    Modal: it runs a nested event loop (QDialog.exec), so the application keeps painting and
    its jobs keep reporting while the question is open. The caller pins `facts.sha256` for
    that host (HostConfig.replace(pinned_sha256=...)) and saves the settings.
    """
    dialog = TrustDialog(facts, changed, parent)
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()
