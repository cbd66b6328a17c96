"""A remote host in the details pane: its connection state, how it is reached, its facts."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from desktopvm.connections import REMOTE_KINDS, HostConfig, State, Status
from desktopvm.printable import printable, printable_lines
from desktopvm.protocol import HostInfo, HostNetwork
from desktopvm.ui.hosts.check_list import fix_html
from desktopvm.ui.hosts.host_fields import AUTH_CHOICES, AUTH_LABELS
from desktopvm.units import format_size

STATE_COLORS = {State.CONNECTED: "#1b7f3b", State.CONNECTING: "#6b7280",
                State.DISCONNECTED: "#6b7280", State.UNREACHABLE: "#b45309",
                State.AUTH_FAILED: "#b00020", State.UNTRUSTED: "#b00020"}


def network_line(network: HostNetwork) -> str:
    """'External (switch) — Intel(R) Ethernet …'."""
    text = f"{network.name} ({network.attachment})"
    return f"{text} — {network.description}" if network.description else text


def connection_lines(host: HostConfig) -> list[tuple[str, str]]:
    """(label, value) rows saying how the host is reached; never a secret."""
    scheme = "HTTPS" if host.https else "HTTP, every message encrypted"
    user = host.username or "(the logged-on user)"
    if host.kind in AUTH_CHOICES:  # a WinRM sign-in the user chose: say which
        user += f" — {AUTH_LABELS.get(host.auth, host.auth)}"
    rows = [("Kind", REMOTE_KINDS.get(host.kind, host.kind)),
            ("Address", f"{host.address}:{host.effective_port} ({scheme})"), ("User", user)]
    if host.https:
        if host.pinned_sha256:
            start = ":".join(host.pinned_sha256[i:i + 2] for i in range(0, 16, 2)).upper()
            trust = f"the one you trusted (SHA-256 {start}…)"
        elif host.ca_file:
            trust = f"signed by the CA in {host.ca_file}"
        else:
            trust = "trusted by this computer"
        rows.append(("Certificate", trust))
    return rows


def fact_lines(info: HostInfo) -> list[tuple[str, str]]:
    """(label, value) rows of what host_info reported."""
    rows = [("Host name", info.hostname), ("Operating system", info.os or "unknown"),
            ("CPUs", str(info.cpus)),
            ("Memory", format_size(info.memory_mib * 1024 * 1024))]
    networks = [network_line(n) for n in info.networks]
    rows.append(("Networks", "\n".join(networks) if networks else "none"))
    return rows


def _value(text: str) -> QLabel:
    label = QLabel(printable_lines(text))
    label.setTextFormat(Qt.TextFormat.PlainText)  # names from the host are data, not markup
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class HostDetails(QWidget):
    """Shows one remote host: title, state line (with the retry countdown), fix, then one
    form: how the host is reached and, once connected, what host_info says about it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("host-details")
        self.status: Status | None = None
        self.title = QLabel()
        self.title.setObjectName("host-title")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self.state = QLabel()
        self.state.setObjectName("host-state")
        self.state.setTextFormat(Qt.TextFormat.PlainText)
        self.state.setWordWrap(True)
        self.fix = QLabel()
        self.fix.setObjectName("host-fix")
        self.fix.setTextFormat(Qt.TextFormat.RichText)  # fix_html escapes; `commands` in code
        self.fix.setWordWrap(True)
        self.fix.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fix.setStyleSheet("background: #fef3c7; color: #1f2937; padding: 6px; "
                               "border-radius: 4px;")
        self.form = QFormLayout()
        self.no_facts: QLabel | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addWidget(self.fix)
        layout.addLayout(self.form)
        layout.addStretch(1)
        # The countdown of "retrying in N s" moves while the pane shows it.
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._show_state)
        self.show_host(None, Status(State.CONNECTING), None)

    def show_host(self, host: HostConfig | None, status: Status, info: HostInfo | None) -> None:
        """Show `host` (None: nothing selected) in `status`, with `info` once it is known."""
        self.status = status
        self.title.setText(printable(host.display_name) if host else "")
        self._show_state()
        self.fix.setText(fix_html(status.fix))
        self.fix.setVisible(bool(status.fix) and host is not None
                            and status.state is not State.CONNECTED)
        while self.form.rowCount():
            self.form.removeRow(0)
        self.no_facts = None
        if host is not None:
            self._add_rows(connection_lines(host))
            heading = QLabel(self.tr("This host"))
            font = heading.font()
            font.setBold(True)
            heading.setFont(font)
            heading.setContentsMargins(0, 8, 0, 0)
            self.form.addRow(heading)
            if info is not None:
                self._add_rows(fact_lines(info))
            else:
                self.no_facts = QLabel(self.tr("Its CPUs, memory and networks appear once it "
                                               "is connected."))
                self.no_facts.setObjectName("host-no-facts")
                self.no_facts.setWordWrap(True)
                self.no_facts.setStyleSheet("color: #6b7280;")
                self.form.addRow(self.no_facts)
        if host is not None and status.retry_at:
            self._ticker.start()
        else:
            self._ticker.stop()

    def rows(self) -> dict[str, str]:
        """The form's rows as shown, label -> value (for tests and accessibility checks)."""
        shown = {}
        for row in range(self.form.rowCount()):
            label = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = self.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            name = label.widget() if label is not None else None
            value = field.widget() if field is not None else None
            if isinstance(name, QLabel) and isinstance(value, QLabel):
                shown[name.text().rstrip(":")] = value.text()
        return shown

    def _show_state(self) -> None:
        status = self.status
        if status is None or not self.title.text():
            self.state.setText("")
            self._ticker.stop()
            return
        color = STATE_COLORS.get(status.state, "#6b7280")
        self.state.setStyleSheet(f"color: {color}; font-weight: 600;")
        # A no-break space keeps "16 s" together when the line wraps.
        self.state.setText("● " + printable(status.line()).replace(" s)", "\u00a0s)"))
        if not status.retry_in():
            self._ticker.stop()

    def _add_rows(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.form.addRow(f"{label}:", _value(value))
