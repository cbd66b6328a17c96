"""The Add/Edit host dialog: inline validation, Test connection off the GUI thread, the trust
question, and the password going to the keyring (a real keyrings.alt file keyring) only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keyring
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from desktopvm import credentials
from desktopvm.connections import Check, Diagnosis, HostConfig
from desktopvm.jobs import JobRunner
from desktopvm.protocol import BackendUnavailable, CertificateFacts
from desktopvm.settings import Settings, save_settings
from desktopvm.ui.hosts.host_dialog import HostDialog
from desktopvm.ui.hosts.trust_dialog import TrustDialog
from desktopvm.ui.widget_lists import top_level_widgets
from tests.keyring_fixture import TestKeyring, temporary_keyring

SECRET = "s3cret-Pa55 'x'"
SHA = "ab" * 32
CERT = CertificateFacts("hv01.lab.example", SHA, "CN=hv01", "CN=hv01",
                        "2026-01-01T00:00:00+00:00", "2099-01-01T00:00:00+00:00")
PASSED = (Check("DNS", True, "10.0.0.5"), Check("TCP", True, "port 5986 answers"),
          Check("Sign-in", True, "LAB\\admin"))
WINRM_OFF = (Check("DNS", True, "10.0.0.5"),
             Check("WinRM", False, "nothing listens on port 5986",
                   "On the host: `winrm quickconfig -transport:https`"))


@dataclass
class ScriptedRegistry:
    """Stands in for Registry.test_host: answers from a script, optionally held by a gate."""

    settings: Settings = field(default_factory=Settings)
    answers: list[object] = field(default_factory=list)  # Diagnosis or an exception to raise
    gate: threading.Event | None = None
    calls: list[tuple[HostConfig, str | None]] = field(default_factory=list)

    def test_host(self, host: HostConfig, password: str | None = None) -> Diagnosis:
        self.calls.append((host, password))
        if self.gate is not None:
            assert self.gate.wait(30)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Diagnosis)
        return Diagnosis(host.id, answer.checks, answer.certificate,
                         answer.certificate_trusted or (answer.certificate is not None
                                                        and host.pinned_sha256 == SHA))


@pytest.fixture
def keyring_file(tmp_path: Path) -> Iterator[TestKeyring]:
    """A real keyrings.alt file keyring in tmp, the active keyring for this test only."""
    with temporary_keyring(tmp_path / "keyring") as active:
        yield active


@pytest.fixture
def gate(runner: JobRunner) -> Iterator[threading.Event]:
    """Holds a ScriptedRegistry's test_host until set; set at the end whatever happened, so
    the runner's teardown never waits on it."""
    event = threading.Event()
    yield event
    event.set()


def diagnosis(checks: tuple[Check, ...], certificate: CertificateFacts | None = None,
              trusted: bool = False) -> Diagnosis:
    return Diagnosis("", checks, certificate, trusted)


def make_dialog(qtbot, registry: ScriptedRegistry, runner: JobRunner,
                host: HostConfig | None = None) -> HostDialog:
    dialog = HostDialog(registry, runner, None, host)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def form_host(dialog: HostDialog) -> HostConfig:
    host = dialog.host()
    assert host is not None
    return host


def asked(dialog: HostDialog) -> TrustDialog:
    trust = dialog.trust_dialog
    assert trust is not None
    return trust


def fill(qtbot, dialog: HostDialog, address: str = "hv01.lab.example",
         user: str = "LAB\\admin", password: str = "") -> None:
    dialog.address.clear()
    qtbot.keyClicks(dialog.address, address)
    dialog.username.setText(user)
    dialog.password.setText(password)


def test_a_bad_address_is_shown_under_the_field_and_ok_stays_off(qtbot, runner):
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    assert not dialog.ok.isEnabled()
    assert dialog.problems["address"].isHidden()  # an untouched empty form shows no error
    fill(qtbot, dialog, address="hv01 lab")
    assert not dialog.problems["address"].isHidden()
    assert "is not a host name or IP address" in dialog.problems["address"].text()
    assert not dialog.ok.isEnabled() and not dialog.test_button.isEnabled()
    dialog.address.setText("hv01.lab.example")
    assert dialog.problems["address"].isHidden()
    assert dialog.ok.isEnabled() and dialog.test_button.isEnabled()
    dialog.address.clear()
    assert dialog.problems["address"].text() == "Enter the host's name or IP address"
    assert not dialog.ok.isEnabled()


def test_basic_over_plain_http_is_refused_inline(qtbot, runner):
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    fill(qtbot, dialog)
    assert dialog.https.isChecked()  # HTTPS by default
    dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))
    assert dialog.ok.isEnabled()  # Basic over HTTPS is fine
    dialog.https.setChecked(False)
    assert not dialog.problems["https"].isHidden()
    assert "Basic sign-in over plain HTTP" in dialog.problems["https"].text()
    assert not dialog.ok.isEnabled()
    dialog.auth.setCurrentIndex(dialog.auth.findData("ntlm"))  # encrypts each message
    assert dialog.problems["https"].isHidden() and dialog.ok.isEnabled()
    assert dialog.host() == HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin",
                                       auth="ntlm", https=False)


def test_certificate_sign_in_is_refused_until_hosts_can_hold_a_client_certificate(qtbot,
                                                                                   runner):
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    fill(qtbot, dialog)
    dialog.auth.setCurrentIndex(dialog.auth.findData("certificate"))
    assert "needs a client certificate" in dialog.problems["auth"].text()
    assert not dialog.problems["auth"].isHidden() and not dialog.ok.isEnabled()
    assert not dialog.password.isEnabled()
    dialog.auth.setCurrentIndex(dialog.auth.findData("kerberos"))
    assert dialog.problems["auth"].isHidden() and dialog.ok.isEnabled()


def test_the_port_shows_the_transport_default(qtbot, runner):
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    fill(qtbot, dialog)
    assert dialog.port.value() == 0 and dialog.port.text() == "Default (5986)"
    dialog.https.setChecked(False)
    assert dialog.port.text() == "Default (5985)"
    dialog.port.setValue(5999)
    assert form_host(dialog).id == "hyperv@hv01.lab.example:5999"


def test_a_host_already_added_is_refused_in_add_mode_but_not_when_editing_it(qtbot, runner):
    existing = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
    registry = ScriptedRegistry(Settings(hosts=(existing,)))
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog, address="HV01.lab.example")
    assert "hyperv@hv01.lab.example is already one of your hosts" in \
        dialog.problems["address"].text()
    assert not dialog.ok.isEnabled()
    dialog.port.setValue(5999)  # another port is another connection
    assert dialog.ok.isEnabled()
    editing = make_dialog(qtbot, registry, runner, existing)
    assert editing.address.text() == "hv01.lab.example" and editing.ok.isEnabled()
    editing.label.setText("Lab server")
    assert editing.host() == existing.replace(label="Lab server")


def test_a_user_name_is_needed_except_for_kerberos(qtbot, runner):
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    fill(qtbot, dialog, user="")
    assert dialog.problems["username"].isHidden()  # not typed into yet
    qtbot.keyClicks(dialog.username, "a")
    qtbot.keyClick(dialog.username, Qt.Key.Key_Backspace)
    assert "needs a user name" in dialog.problems["username"].text()
    assert not dialog.ok.isEnabled()
    dialog.auth.setCurrentIndex(dialog.auth.findData("kerberos"))
    assert dialog.problems["username"].isHidden() and dialog.ok.isEnabled()


def test_esxi_is_https_only_and_signs_in_with_a_password(qtbot, runner):
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    assert dialog.form.isRowVisible(dialog.auth)
    dialog.https.setChecked(False)
    dialog.kind.setCurrentIndex(dialog.kind.findData("esxi"))
    assert dialog.https.isChecked() and not dialog.https.isEnabled()
    assert not dialog.form.isRowVisible(dialog.auth)  # no WinRM sign-in to choose
    assert dialog.port.text() == "Default (443)"
    fill(qtbot, dialog, address="vcenter.lab.example", user="")
    assert dialog.problems["username"].isHidden() and not dialog.ok.isEnabled()
    qtbot.keyClicks(dialog.username, "r")
    qtbot.keyClick(dialog.username, Qt.Key.Key_Backspace)
    assert "administrator@vsphere.local" in dialog.problems["username"].text()
    dialog.username.setText("root")
    assert form_host(dialog) == HostConfig("esxi", "vcenter.lab.example", username="root")
    dialog.kind.setCurrentIndex(dialog.kind.findData("hyperv"))
    assert dialog.https.isEnabled() and dialog.form.isRowVisible(dialog.auth)


def test_test_connection_shows_each_check_and_the_fix(qtbot, runner):
    registry = ScriptedRegistry(answers=[diagnosis(WINRM_OFF)])
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog, password=SECRET)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 2)
    marks = [(mark.text(), name.text(), detail.text()) for mark, name, detail in
             dialog.checks.rows]
    assert marks == [("✓", "DNS", "10.0.0.5"), ("✗", "WinRM", "nothing listens on port 5986")]
    fix = dialog.checks.fix
    assert fix is not None and "<code>winrm quickconfig -transport:https</code>" in fix.text()
    assert fix.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert registry.calls == [(dialog.host(), SECRET)]
    assert dialog.test_button.text() == "Test connection" and dialog.ok.isEnabled()


def test_the_dialog_keeps_running_while_the_test_waits(qtbot, runner, gate: threading.Event):
    registry = ScriptedRegistry(answers=[diagnosis(PASSED)], gate=gate)
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog)
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    dialog.start_test()
    qtbot.waitUntil(lambda: bool(registry.calls))  # the worker is inside test_host now
    start = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= start + 3)  # the GUI thread keeps turning
    assert dialog.test_button.text() == "Cancel test" and dialog.test_button.isEnabled()
    assert not dialog.progress.isHidden()
    assert not dialog.ok.isEnabled() and not dialog.address.isEnabled()
    gate.set()
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 3)
    assert dialog.progress.isHidden() and dialog.ok.isEnabled()
    timer.stop()


def test_a_cancelled_test_is_ignored_when_it_answers(qtbot, runner, gate: threading.Event):
    registry = ScriptedRegistry(answers=[diagnosis(PASSED)], gate=gate)
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog)
    dialog.start_test()
    job = dialog.test_job
    assert job is not None
    qtbot.waitUntil(lambda: bool(registry.calls))
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert dialog.test_button.text() == "Test connection" and dialog.ok.isEnabled()
    assert "Test stopped" in dialog.test_status.text()
    with qtbot.waitSignal(job.finished):
        gate.set()
    assert dialog.checks.rows == []


def test_a_test_that_cannot_run_says_why(qtbot, runner):
    registry = ScriptedRegistry(answers=[BackendUnavailable(
        "This build of DesktopVM cannot connect to hyperv hosts", install_hint="pip install")])
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog)
    dialog.start_test()
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 1)
    assert dialog.checks.rows[0][2].text() == \
        "This build of DesktopVM cannot connect to hyperv hosts"
    assert dialog.ok.isEnabled()


def _untrusted(registry: ScriptedRegistry) -> None:
    tls = Check("TLS", False, "certificate not trusted", "Trust it, or give the CA file")
    registry.answers[:] = [diagnosis((Check("DNS", True), tls), CERT), diagnosis(PASSED, CERT)]


def test_refusing_the_certificate_pins_nothing(qtbot, runner):
    registry = ScriptedRegistry()
    _untrusted(registry)
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog)
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.trust_dialog is not None and asked(dialog).isVisible())
    assert asked(dialog).facts == CERT and not asked(dialog).changed
    qtbot.mouseClick(asked(dialog).cancel_button, Qt.MouseButton.LeftButton)
    assert "did not trust the certificate" in dialog.checks.summary.text()
    assert form_host(dialog).pinned_sha256 == ""
    assert len(registry.calls) == 1


def test_trusting_the_certificate_pins_it_and_tests_again(qtbot, runner):
    registry = ScriptedRegistry()
    _untrusted(registry)
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog)
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.trust_dialog is not None and asked(dialog).isVisible())
    qtbot.mouseClick(asked(dialog).trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 3)
    assert [host.pinned_sha256 for host, _ in registry.calls] == ["", SHA]
    assert dialog.checks.summary.text().startswith("Connected")
    assert form_host(dialog).pinned_sha256 == SHA
    dialog.address.setText("hv02.lab.example")  # the pin belongs to the address it was for
    assert form_host(dialog).pinned_sha256 == ""


def test_a_changed_certificate_is_asked_about_as_changed(qtbot, runner):
    registry = ScriptedRegistry()
    _untrusted(registry)
    pinned = HostConfig("hyperv", "hv01.lab.example", username="u", pinned_sha256="cd" * 32)
    dialog = make_dialog(qtbot, ScriptedRegistry(Settings(hosts=(pinned,)),
                                                 answers=registry.answers), runner, pinned)
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.trust_dialog is not None and asked(dialog).isVisible())
    assert asked(dialog).changed and not asked(dialog).trust_button.isEnabled()
    qtbot.mouseClick(asked(dialog).cancel_button, Qt.MouseButton.LeftButton)
    assert form_host(dialog).pinned_sha256 == "cd" * 32


def press_ok(qtbot, dialog: HostDialog) -> HostConfig:
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    host = dialog.host()
    assert host is not None
    return host


def test_the_password_goes_to_the_keyring_only(qtbot, runner, keyring_file: TestKeyring,
                                               caplog, tmp_path: Path):
    registry = ScriptedRegistry(answers=[diagnosis(WINRM_OFF)])
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog, password=SECRET)
    dialog.start_test()
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 2)
    assert not keyring_file.path.exists()  # a failed test keeps nothing
    host = press_ok(qtbot, dialog)
    assert keyring.get_password(credentials.SERVICE, host.credential_key) == SECRET
    assert keyring_file.path.exists()  # the file keyring, not a mock, holds it
    save_settings(Settings(hosts=(host,)), tmp_path / "settings.json")
    assert host.address in (tmp_path / "settings.json").read_text(encoding="utf-8")
    assert SECRET not in (tmp_path / "settings.json").read_text(encoding="utf-8")
    assert SECRET not in repr(host.to_data()) and SECRET not in repr(host)
    assert SECRET not in caplog.text


def test_a_passing_test_keeps_nothing_until_ok(qtbot, runner, keyring_file: TestKeyring):
    registry = ScriptedRegistry(answers=[diagnosis(PASSED), diagnosis(PASSED)])
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog, password=SECRET)
    dialog.start_test()
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 3)
    qtbot.waitUntil(lambda: dialog.test_job is None)
    assert not credentials.has_password(form_host(dialog))  # Cancel now would leave nothing
    dialog.username.setText("LAB\\other")  # then changed: only the final key gets it
    host = press_ok(qtbot, dialog)
    assert credentials.password(host) == SECRET
    assert not credentials.has_password(host.replace(username="LAB\\admin"))


def test_cancel_after_a_passing_test_leaves_the_keyring_as_it_was(
        qtbot, runner, keyring_file: TestKeyring):
    kept = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
    credentials.store_password(kept, "the old one")
    registry = ScriptedRegistry(Settings(hosts=(kept,)), answers=[diagnosis(PASSED)])
    dialog = make_dialog(qtbot, registry, runner, kept)
    dialog.password.setText(SECRET)
    dialog.start_test()
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 3)
    qtbot.waitUntil(lambda: dialog.test_job is None)
    dialog.reject()
    assert credentials.password(kept) == "the old one"


def test_editing_with_an_empty_password_keeps_the_kept_one(qtbot, runner,
                                                           keyring_file: TestKeyring):
    kept = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
    credentials.store_password(kept, SECRET)
    dialog = make_dialog(qtbot, ScriptedRegistry(Settings(hosts=(kept,))), runner, kept)
    qtbot.waitUntil(dialog.forget.isEnabled)  # the keyring was asked on a worker
    assert dialog.password.text() == ""
    dialog.label.setText("Lab")
    assert press_ok(qtbot, dialog) == kept.replace(label="Lab")
    assert credentials.password(kept) == SECRET


def test_a_new_user_name_takes_the_kept_password_along(qtbot, runner,
                                                       keyring_file: TestKeyring):
    kept = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
    credentials.store_password(kept, SECRET)
    dialog = make_dialog(qtbot, ScriptedRegistry(Settings(hosts=(kept,))), runner, kept)
    dialog.username.setText("admin@lab.example")
    host = press_ok(qtbot, dialog)
    assert credentials.password(host) == SECRET
    assert not credentials.has_password(kept)


def test_a_new_user_name_is_tested_with_the_kept_password(qtbot, runner,
                                                          keyring_file: TestKeyring):
    kept = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
    credentials.store_password(kept, SECRET)
    registry = ScriptedRegistry(Settings(hosts=(kept,)), answers=[diagnosis(PASSED)])
    dialog = make_dialog(qtbot, registry, runner, kept)
    dialog.username.setText("admin@lab.example")
    dialog.start_test()
    qtbot.waitUntil(lambda: len(dialog.checks.rows) == 3)
    assert registry.calls == [(form_host(dialog), SECRET)]  # the old key's, not "none kept"


def test_forget_password_asks_then_removes_it(qtbot, runner, keyring_file: TestKeyring):
    kept = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
    credentials.store_password(kept, SECRET)
    dialog = make_dialog(qtbot, ScriptedRegistry(Settings(hosts=(kept,))), runner, kept)
    qtbot.waitUntil(dialog.forget.isEnabled)
    qtbot.mouseClick(dialog.forget, Qt.MouseButton.LeftButton)
    box = dialog.forget_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert dialog.password.placeholderText() == "Leave empty to keep the saved password"
    assert credentials.has_password(kept)  # nothing happens before the answer
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert credentials.has_password(kept)
    qtbot.mouseClick(dialog.forget, Qt.MouseButton.LeftButton)
    box = dialog.forget_box
    assert isinstance(box, QMessageBox)
    yes = next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole)
    yes.click()
    qtbot.waitUntil(lambda: "removed from the system keyring" in dialog.password_note.text())
    assert not credentials.has_password(kept)
    assert dialog.password.placeholderText() == "Type the password to save it"


def test_a_keyring_that_fails_keeps_the_dialog_open_with_what_was_typed(
        qtbot, runner, keyring_file: TestKeyring, monkeypatch: pytest.MonkeyPatch):
    def refuse(*_args: object) -> None:
        raise OSError("the keyring is locked")
    monkeypatch.setattr(keyring_file.backend, "set_password", refuse)
    dialog = make_dialog(qtbot, ScriptedRegistry(), runner)
    fill(qtbot, dialog, password=SECRET)
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "could not be saved" in dialog.checks.summary.text())
    assert dialog.isVisible() and dialog.result() == 0
    assert dialog.password.text() == SECRET and dialog.ok.isEnabled()
    assert SECRET not in dialog.checks.summary.text()


def test_closing_during_a_test_abandons_it(qtbot, runner, gate: threading.Event):
    registry = ScriptedRegistry(answers=[diagnosis(PASSED)], gate=gate)
    dialog = make_dialog(qtbot, registry, runner)
    fill(qtbot, dialog)
    dialog.start_test()
    job = dialog.test_job
    assert job is not None
    qtbot.waitUntil(lambda: bool(registry.calls))
    dialog.reject()
    assert dialog.test_job is None
    with qtbot.waitSignal(job.finished):
        gate.set()
    assert dialog.checks.rows == []
    assert not [w for w in top_level_widgets() if w.isVisible()
                and w.objectName() == "trust-dialog"]
