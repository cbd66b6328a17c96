"""The trust question: what it shows, that Cancel is the default, and the changed-certificate
warning that needs a confirming tick."""

from __future__ import annotations

import datetime

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from desktopvm.protocol import CertificateFacts
from desktopvm.ui.hosts.trust_dialog import TrustDialog, ask_trust, validity_problem

SHA = "0123456789abcdef" * 4


def facts(**changes: str) -> CertificateFacts:
    now = datetime.datetime.now(datetime.UTC)
    values = {"host": "hv01.lab.example", "sha256": SHA, "subject": "CN=hv01.lab.example",
              "issuer": "CN=hv01.lab.example",
              "not_before": (now - datetime.timedelta(days=1)).isoformat(),
              "not_after": (now + datetime.timedelta(days=365)).isoformat()}
    values.update(changes)
    return CertificateFacts(**values)


def test_it_shows_the_certificate_and_what_trusting_means(qtbot):
    dialog = TrustDialog(facts(issuer="CN=Lab CA"))
    qtbot.addWidget(dialog)
    shown = dialog.fingerprint.text()
    assert shown.replace("\n", ":") == facts().colon_fingerprint()
    assert shown.startswith("01:23:45:67:89:AB:CD:EF")
    assert "hv01.lab.example" in dialog.heading.text()
    texts = [label.text() for label in dialog.findChildren(type(dialog.heading))]
    assert "CN=hv01.lab.example" in texts and "CN=Lab CA" in texts
    assert "for hv01.lab.example only" in dialog.meaning.text()
    assert "refuses a different one later" in dialog.meaning.text()
    assert dialog.confirmation is None and dialog.trust_button.isEnabled()


def test_a_self_signed_certificate_says_so(qtbot):
    dialog = TrustDialog(facts())
    qtbot.addWidget(dialog)
    issuer = dialog.findChild(type(dialog.heading), "trust-issuer")
    assert issuer is not None
    assert issuer.text() == "CN=hv01.lab.example (self-signed)"


@pytest.mark.parametrize(("field", "shift", "problem"),
                         [("not_after", -2, "expired"), ("not_before", 2, "not yet valid")])
def test_dates_outside_the_validity_are_red(qtbot, field: str, shift: int, problem: str):
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=shift)
    certificate = facts(**{field: moment.isoformat()})
    assert validity_problem(certificate) == problem
    dialog = TrustDialog(certificate)
    qtbot.addWidget(dialog)
    label = dialog.valid_until if field == "not_after" else dialog.valid_from
    other = dialog.valid_from if field == "not_after" else dialog.valid_until
    assert label.text().endswith(problem)
    assert "#b00020" in label.styleSheet()
    assert "#b00020" not in other.styleSheet()


def test_certificate_text_is_shown_as_text_not_markup(qtbot):
    dialog = TrustDialog(facts(subject="<b>CN=evil</b>\u202e"))
    qtbot.addWidget(dialog)
    subject = dialog.findChild(type(dialog.heading), "trust-subject")
    assert subject is not None
    assert subject.textFormat() is Qt.TextFormat.PlainText
    assert subject.text() == "<b>CN=evil</b>\\u202e"


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Escape])
def test_enter_and_escape_refuse(qtbot, key: Qt.Key):
    dialog = TrustDialog(facts())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitActive(dialog)
    assert dialog.cancel_button.isDefault() and not dialog.trust_button.isDefault()
    # Wherever the focus goes (here: from a button to the fingerprint, which hands the
    # default back to the dialog's own default button), the key must not trust.
    dialog.cancel_button.setFocus()
    qtbot.waitUntil(dialog.cancel_button.hasFocus)
    dialog.fingerprint.setFocus()
    qtbot.waitUntil(dialog.fingerprint.hasFocus)
    with qtbot.waitSignal(dialog.rejected):
        qtbot.keyClick(dialog.fingerprint, key)
    assert dialog.result() == TrustDialog.DialogCode.Rejected


def _answer(qtbot, trust: bool, tick: bool = False) -> None:
    """Once ask_trust's dialog is up, tick the confirmation (if asked) and press a button."""
    def press() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, TrustDialog)
        if tick:
            assert dialog.confirmation is not None
            dialog.confirmation.setChecked(True)
        button = dialog.trust_button if trust else dialog.cancel_button
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    QTimer.singleShot(0, press)


@pytest.mark.parametrize("trust", [True, False])
def test_ask_trust_says_what_the_user_chose(qtbot, trust: bool):
    _answer(qtbot, trust)
    assert ask_trust(None, facts()) is trust


def test_a_changed_certificate_warns_and_needs_the_tick(qtbot):
    dialog = TrustDialog(facts(), changed=True)
    qtbot.addWidget(dialog)
    assert "has changed since you trusted it" in dialog.heading.text()
    assert "intercepting" in dialog.explanation.text()
    assert dialog.confirmation is not None
    assert not dialog.trust_button.isEnabled()
    dialog.show()
    with qtbot.assertNotEmitted(dialog.accepted):
        dialog.accept()  # even a programmatic accept needs the tick
    assert dialog.isVisible()
    dialog.confirmation.setChecked(True)
    assert dialog.trust_button.isEnabled()
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)


def test_ask_trust_on_a_changed_certificate_trusts_only_with_the_tick(qtbot):
    _answer(qtbot, trust=True, tick=True)
    assert ask_trust(None, facts(), changed=True) is True
    _answer(qtbot, trust=False, tick=True)
    assert ask_trust(None, facts(), changed=True) is False


def test_the_keyboard_can_still_trust_deliberately(qtbot):
    dialog = TrustDialog(facts())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitActive(dialog)
    dialog.trust_button.setFocus()
    qtbot.waitUntil(dialog.trust_button.hasFocus)
    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClick(dialog.trust_button, Qt.Key.Key_Space)
