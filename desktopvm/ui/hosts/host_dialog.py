"""Add host… / Edit host…: where a remote hypervisor is, how to sign in, and Test connection."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktopvm import credentials
from desktopvm.connections import AUTH_METHODS, REMOTE_KINDS, HostConfig
from desktopvm.jobs import Job, JobRunner
from desktopvm.printable import printable
from desktopvm.protocol import BackendError, OperationCancelled
from desktopvm.registry import Registry
from desktopvm.ui.error_dialog import describe
from desktopvm.ui.hosts.check_list import FAILED_COLOR, MUTED_COLOR, CheckList
from desktopvm.ui.hosts.host_fields import (
    AUTH_CHOICES,
    AUTH_LABELS,
    HostFields,
    check_fields,
    default_auth,
    default_port,
    http_possible,
)
from desktopvm.ui.hosts.host_jobs import TestOutcome, keep_password, test_host
from desktopvm.ui.hosts.trust_dialog import TrustDialog

PROBLEM_STYLE = f"color: {FAILED_COLOR};"
ADDRESS_EXAMPLES = {"hyperv": "hv01.lab.example or 10.0.0.5",
                    "esxi": "esxi01.lab.example, or a vCenter's address"}
USER_EXAMPLES = {"hyperv": "LAB\\admin or admin@lab.example",
                 "esxi": "root, or administrator@vsphere.local for a vCenter"}


def _problem_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(f"problem-{name}")
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet(PROBLEM_STYLE)
    label.hide()
    return label


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {MUTED_COLOR};")
    return label


class HostDialog(QDialog):
    """Add a remote host (`host` None) or edit one. Every backend and keyring call runs on
    `runner`; the dialog never waits. After `exec()`/`finished` with Accepted, `host()` is
    the HostConfig to save (never holding the password, which is already in the keyring)."""

    def __init__(self, registry: Registry, runner: JobRunner, parent: QWidget | None = None,
                 host: HostConfig | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("host-dialog")
        self.registry, self.runner, self.original = registry, runner, host
        self.setWindowTitle(self.tr("Add host") if host is None else
                            self.tr("Edit host %1").replace("%1", printable(host.display_name)))
        self.setMinimumWidth(600)
        self._pinned = host.pinned_sha256 if host else ""
        self._pinned_for = host.address.lower() if host else ""  # the pin's address
        self._host: HostConfig | None = None  # the form's host while it is valid
        self._result: HostConfig | None = None
        self._edited: set[str] = set()
        self.test_job: Job | None = None
        self.save_job: Job | None = None
        self.trust_dialog: TrustDialog | None = None
        self._trust_for: HostConfig | None = None
        self._kept: bool | None = None  # a password is in the keyring (None: not known yet)
        self.forget_box: QWidget | None = None  # the "Forget password?" question, while open
        self._tested: HostConfig | None = None  # the host the running test is about
        self._saving: HostConfig | None = None  # the host whose password is being saved
        self._make_widgets(host)
        self._layout()
        if host is not None:
            self._fill(host)
        self._connect()
        self._on_kind_changed()
        self._revalidate()
        if host is not None:
            self._ask_kept_password(host)

    # -- building ------------------------------------------------------------------------
    def _make_widgets(self, host: HostConfig | None) -> None:
        self.kind = QComboBox()
        for kind, name in REMOTE_KINDS.items():
            self.kind.addItem(name, kind)
        self.address = QLineEdit()
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setAccessibleName(self.tr("Port (0 for the default)"))
        self.https = QCheckBox(self.tr("Use HTTPS (recommended)"))
        self.https.setChecked(True)
        self.ca_file = QLineEdit()
        self.ca_file.setPlaceholderText(self.tr("Optional: your organisation's CA (PEM file)"))
        self.browse = QPushButton(self.tr("Browse…"))
        self.username = QLineEdit()
        self.auth = QComboBox()
        for method in AUTH_METHODS:
            self.auth.addItem(AUTH_LABELS.get(method, method), method)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(self.tr("Password"))
        self.forget = QPushButton(self.tr("Forget password"))
        self.forget.setObjectName("forget-password")
        self.forget.setEnabled(False)
        self.forget.setVisible(host is not None)
        self.password_note = _note(self.tr("Kept in the system keyring, never in DesktopVM's "
                                           "settings."))
        self.label = QLineEdit()
        self.label.setAccessibleName(self.tr("Name in the tree"))
        self.problems = {name: _problem_label(name)
                         for name in ("address", "https", "ca_file", "username", "auth",
                                      "label")}

        self.test_button = QPushButton(self.tr("Test connection"))
        self.test_button.setObjectName("test-connection")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # the test reports no fractions: a busy indicator
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        self.test_status = QLabel()
        self.test_status.setObjectName("test-status")
        self.test_status.setTextFormat(Qt.TextFormat.PlainText)
        self.test_status.setWordWrap(True)
        self.checks = CheckList()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(self.tr("Add host") if host is None else self.tr("Save"))

    def _layout(self) -> None:
        self.form = form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(self.tr("Kind:"), self.kind)
        form.addRow(self.tr("Address:"), self.address)
        form.addRow("", self.problems["address"])
        form.addRow(self.tr("Port:"), self.port)
        form.addRow("", self.https)
        form.addRow("", self.problems["https"])
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(self.browse)
        form.addRow(self.tr("CA file:"), ca_row)
        form.addRow("", self.problems["ca_file"])
        form.addRow(self.tr("User:"), self.username)
        form.addRow("", self.problems["username"])
        form.addRow(self.tr("Sign-in:"), self.auth)
        form.addRow("", self.problems["auth"])
        password_row = QHBoxLayout()
        password_row.addWidget(self.password, 1)
        password_row.addWidget(self.forget)
        form.addRow(self.tr("Password:"), password_row)
        form.addRow("", self.password_note)
        form.addRow(self.tr("Name in the tree:"), self.label)
        form.addRow("", self.problems["label"])
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.progress)
        test_row.addWidget(self.test_status, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(line)
        layout.addLayout(test_row)
        layout.addWidget(self.checks)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    def _fill(self, host: HostConfig) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(host.kind)))
        self.address.setText(host.address)
        self.https.setChecked(host.https)
        self.port.setValue(host.port)
        self.ca_file.setText(host.ca_file)
        self.username.setText(host.username)
        self.auth.setCurrentIndex(max(0, self.auth.findData(host.auth)))
        self.label.setText(host.label)

    def _connect(self) -> None:
        for name, edit in (("address", self.address), ("ca_file", self.ca_file),
                           ("username", self.username), ("label", self.label)):
            edit.textEdited.connect(partial(self._on_edited, name))
            edit.textChanged.connect(self._revalidate)
        self.port.valueChanged.connect(self._revalidate)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.https.toggled.connect(self._update_port_text)
        self.auth.currentIndexChanged.connect(self._update_password_field)
        for signal in (self.kind.currentIndexChanged, self.https.toggled,
                       self.auth.currentIndexChanged):
            signal.connect(self._revalidate)
        self.browse.clicked.connect(self._choose_ca_file)
        self.forget.clicked.connect(self._ask_forget)
        self.test_button.clicked.connect(self._on_test_clicked)
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)

    # -- the form ------------------------------------------------------------------------
    def fields(self) -> HostFields:
        """What the form holds; the pinned certificate only while the address is its own."""
        address, kind = self.address.text().strip(), str(self.kind.currentData())
        return HostFields(kind=kind, address=address,
                          port=self.port.value(), username=self.username.text(),
                          auth=self._auth(), https=self.https.isChecked(),
                          ca_file=self.ca_file.text(), label=self.label.text(),
                          pinned_sha256=self._pinned if address.lower() == self._pinned_for
                          else "")

    def host(self) -> HostConfig | None:
        """The host to save once accepted (before that: the form's host while valid)."""
        return self._result if self._result is not None else self._host

    def _auth(self) -> str:
        """The chosen sign-in; kinds that offer no choice keep HostConfig's default (or the
        edited host's own, when it is of that kind)."""
        kind = str(self.kind.currentData())
        if kind in AUTH_CHOICES:
            return str(self.auth.currentData())
        if self.original is not None and self.original.kind == kind:
            return self.original.auth
        return default_auth()

    def typed_password(self) -> str | None:
        """The password typed (None when empty, or when the sign-in uses none)."""
        if self._auth() == "certificate":
            return None
        return self.password.text() or None

    def _on_edited(self, name: str, _text: str = "") -> None:
        self._edited.add(name)
        self._revalidate()  # textChanged came first, before the field counted as typed into

    def _revalidate(self) -> None:
        fields = self.fields()
        taken = {host.id for host in self.registry.settings.hosts}
        host, problems = check_fields(fields, taken, self.original.id if self.original else "")
        texts = {"address": fields.address, "username": fields.username,
                 "ca_file": fields.ca_file, "label": fields.label}
        for name, label in self.problems.items():
            message = problems.get(name, "")
            if name in texts and not texts[name].strip() and name not in self._edited:
                message = ""  # an untouched empty field is no error yet; OK stays off anyway
            label.setText(message)
            label.setVisible(bool(message))
        self._host = host
        self._update_buttons()

    def _update_buttons(self) -> None:
        testing, saving = self.test_job is not None, self.save_job is not None
        self.ok.setEnabled(self._host is not None and not testing and not saving)
        self.test_button.setEnabled(testing or (self._host is not None and not saving))
        for widget in (self.kind, self.address, self.port, self.https, self.ca_file, self.browse,
                       self.username, self.auth, self.label):
            widget.setEnabled(not testing and not saving)
        self.password.setEnabled(not testing and not saving and self._auth() != "certificate")
        kind = str(self.kind.currentData())
        self.https.setEnabled(not testing and not saving and http_possible(kind))

    def _on_kind_changed(self) -> None:
        kind = str(self.kind.currentData())
        if not http_possible(kind):
            self.https.setChecked(True)
        choices = AUTH_CHOICES.get(kind, ())
        self.form.setRowVisible(self.auth, bool(choices))
        self.address.setPlaceholderText(ADDRESS_EXAMPLES.get(kind, ""))
        self.username.setPlaceholderText(USER_EXAMPLES.get(kind, ""))
        self._update_port_text()
        self._update_password_field()

    def _update_port_text(self) -> None:
        port = default_port(str(self.kind.currentData()), self.https.isChecked())
        self.port.setSpecialValueText(self.tr("Default (%1)").replace("%1", str(port)))

    def _update_password_field(self) -> None:
        certificate = self._auth() == "certificate"
        if certificate:
            self.password.setPlaceholderText(self.tr("Not used with certificate sign-in"))
        elif self.original is not None and self._kept is not False:
            self.password.setPlaceholderText(self.tr("Leave empty to keep the saved password"))
        elif self.original is not None:
            self.password.setPlaceholderText(self.tr("Type the password to save it"))
        else:
            self.password.setPlaceholderText("")
        self._update_buttons()

    def _choose_ca_file(self) -> None:
        dialog = QFileDialog(self, self.tr("CA certificate for this host"))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([self.tr("Certificates (*.pem *.crt *.cer)"),
                               self.tr("All files (*)")])
        dialog.fileSelected.connect(self._on_ca_file_chosen)
        dialog.open()

    def _on_ca_file_chosen(self, path: str) -> None:
        self._edited.add("ca_file")
        self.ca_file.setText(path)

    # -- the kept password (edit mode) ---------------------------------------------------
    def _ask_kept_password(self, host: HostConfig) -> None:
        job = self.runner.submit(self.tr("Look for the saved password"),
                                 lambda _p, _c: credentials.has_password(host), background=True)
        job.succeeded.connect(self._on_kept_password)

    def _on_kept_password(self, kept: object) -> None:
        self._kept = bool(kept)
        self.forget.setEnabled(self._kept)
        if not kept:
            self.password_note.setText(self.tr("No password is saved for this host yet. It "
                                               "goes to the system keyring."))
        self._update_password_field()

    def _ask_forget(self) -> None:
        from desktopvm.ui.dialogs import confirm  # loaded when first needed

        original = self.original
        assert original is not None
        who = printable(original.username or self.tr("this host"))
        self.forget_box = confirm(
            self, self.tr("Forget password"),
            self.tr("Remove the password of %1 on %2 from the system keyring? DesktopVM "
                    "cannot connect to the host until you enter it again.")
            .replace("%1", who).replace("%2", printable(original.address)),
            self.tr("Forget password"), self._forget)

    def _forget(self) -> None:
        original = self.original
        assert original is not None
        self.forget.setEnabled(False)
        job = self.runner.submit(self.tr("Forget the password of %1").replace(
            "%1", original.display_name), lambda _p, _c: credentials.forget_password(original),
            background=True)
        job.succeeded.connect(self._on_forgotten)
        job.failed.connect(self._on_forget_failed)

    def _on_forgotten(self, _removed: object) -> None:
        self._kept = False
        self.password_note.setText(self.tr("The password was removed from the system keyring."))
        self._update_password_field()

    def _on_forget_failed(self, error: object) -> None:
        self.forget.setEnabled(True)
        summary = describe(error)[0] if isinstance(error, BaseException) else str(error)
        self.password_note.setText(self.tr("The password could not be removed: %1")
                                   .replace("%1", summary))

    # -- Test connection -----------------------------------------------------------------
    def _on_test_clicked(self) -> None:
        if self.test_job is not None:
            self._stop_test()
            self.test_status.setText(self.tr("Test stopped; its answer will be ignored."))
        else:
            self.start_test()

    def start_test(self) -> None:
        """Run Test connection on the form's host (on a worker; the dialog stays usable)."""
        host = self._host
        if host is None or self.test_job is not None:
            return
        self.checks.clear()
        self.test_status.setText(self.tr("Testing the connection to %1…")
                                 .replace("%1", printable(host.address)))
        # Read here, on the GUI thread: the worker must not touch the widgets.
        registry, password, original = self.registry, self.typed_password(), self.original
        kept_for = original if (original is not None and
                                original.credential_key != host.credential_key) else None
        job = self.runner.submit(
            self.tr("Test connection to %1").replace("%1", host.display_name),
            lambda _p, _c: test_host(registry, host, password, kept_for), background=True)
        self.test_job, self._tested = job, host
        job.succeeded.connect(self._on_tested)
        job.failed.connect(self._on_test_failed)
        self.test_button.setText(self.tr("Cancel test"))
        self.progress.show()
        self._update_buttons()

    def _stop_test(self) -> None:
        job, self.test_job = self.test_job, None
        if job is not None:
            # Disconnected, so a late answer can no longer reach the form.
            job.succeeded.disconnect(self._on_tested)
            job.failed.disconnect(self._on_test_failed)
            job.cancel()
        self.test_button.setText(self.tr("Test connection"))
        self.progress.hide()
        self._update_buttons()

    def _on_tested(self, outcome: object) -> None:
        self._stop_test()
        assert isinstance(outcome, TestOutcome)
        diagnosis, host = outcome.diagnosis, self._tested
        assert host is not None
        self.test_status.setText("")
        self.checks.show_diagnosis(diagnosis)
        certificate = diagnosis.certificate
        if certificate is not None and not diagnosis.certificate_trusted:
            self._ask_trust(host, certificate)

    def _on_test_failed(self, error: object) -> None:
        self._stop_test()
        if isinstance(error, OperationCancelled):
            return
        self.test_status.setText("")
        if isinstance(error, BackendError):
            self.checks.show_failure(error.summary, getattr(error, "install_hint", ""))
        else:  # a bug: the log has the traceback (jobs.py logs every failure)
            self.checks.show_failure(describe(error)[0] if isinstance(error, BaseException)
                                     else str(error))

    # -- trust ---------------------------------------------------------------------------
    def _ask_trust(self, host: HostConfig, facts: object) -> None:
        from desktopvm.protocol import CertificateFacts

        assert isinstance(facts, CertificateFacts)
        changed = bool(host.pinned_sha256) and host.pinned_sha256 != facts.sha256
        self._trust_for = host
        self.trust_dialog = TrustDialog(facts, changed, self)
        self.trust_dialog.accepted.connect(self._on_trusted)
        self.trust_dialog.rejected.connect(self._on_trust_refused)
        self.trust_dialog.open()  # window-modal, without a nested event loop

    def _on_trusted(self) -> None:
        dialog, host = self.trust_dialog, self._trust_for
        assert dialog is not None and host is not None
        self._pinned, self._pinned_for = dialog.facts.sha256, host.address.lower()
        self._revalidate()
        self.start_test()  # again, now that the certificate is pinned

    def _on_trust_refused(self) -> None:
        self.checks.show_summary(self.tr(
            "You did not trust the certificate: DesktopVM will not connect to this host until "
            "you do, or give the CA file that signed it."), FAILED_COLOR)

    # -- accepting -----------------------------------------------------------------------
    def _on_ok(self) -> None:
        host = self._host
        if host is None or self.test_job is not None or self.save_job is not None:
            return
        password, original = self.typed_password(), self.original
        moved = self.original is not None and \
            self.original.credential_key != host.credential_key
        if not password and not moved:
            self._finish(host)
            return
        self.test_status.setText(self.tr("Saving the password in the system keyring…"))
        self.save_job = self.runner.submit(
            self.tr("Save the password of %1").replace("%1", host.display_name),
            lambda _p, _c: keep_password(host, password, original), background=True)
        self._saving = host
        self.save_job.succeeded.connect(self._on_saved)
        self.save_job.failed.connect(self._on_save_failed)
        self._update_buttons()

    def _on_saved(self, _result: object) -> None:
        self.save_job = None
        assert self._saving is not None
        self._finish(self._saving)

    def _on_save_failed(self, error: object) -> None:
        self.save_job = None
        self._update_buttons()
        summary = describe(error)[0] if isinstance(error, BaseException) else str(error)
        self.test_status.setText("")
        self.checks.show_summary(self.tr("The password could not be saved: %1 — nothing was "
                                         "changed; try again.").replace("%1", summary),
                                 FAILED_COLOR)

    def _finish(self, host: HostConfig) -> None:
        self._result = host
        self.accept()

    def done(self, result: int) -> None:
        """Closing: a running test is abandoned (its answer ignored)."""
        self._stop_test()
        if self.save_job is not None:
            self.save_job.succeeded.disconnect(self._on_saved)
            self.save_job.failed.disconnect(self._on_save_failed)
            self.save_job = None
        super().done(result)
