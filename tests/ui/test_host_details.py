"""A host node's details: state and fix, how it is reached (no secret), facts from host_info."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from desktopvm.connections import HostConfig, State, Status
from desktopvm.protocol import HostInfo, HostNetwork
from desktopvm.ui.hosts.host_details import HostDetails

HOST = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin", label="Lab <b>server</b>")
INFO = HostInfo("HV01", 16, 65536, "Windows Server 2022 Datacenter 10.0.20348",
                (HostNetwork("switch", "External", "Intel(R) Ethernet I219-LM"),
                 HostNetwork("switch", "Internal", "<i>made by</i> a script")))


def test_a_connected_host_shows_its_facts(qtbot):
    details = HostDetails()
    qtbot.addWidget(details)
    details.show_host(HOST, Status(State.CONNECTED), INFO)
    assert details.title.text() == "Lab <b>server</b>"  # plain text, not markup
    assert details.state.text() == "● connected"
    assert details.fix.isHidden() and details.no_facts is None
    facts = details.rows()
    assert facts["CPUs"] == "16" and facts["Memory"] == "64.0 GiB"
    assert facts["Operating system"] == "Windows Server 2022 Datacenter 10.0.20348"
    assert facts["Networks"] == ("External (switch) — Intel(R) Ethernet I219-LM\n"
                                 "Internal (switch) — <i>made by</i> a script")
    item = details.form.itemAt(details.form.rowCount() - 1, details.form.ItemRole.FieldRole)
    network_label = item.widget() if item is not None else None
    assert isinstance(network_label, QLabel)
    assert network_label.textFormat() is Qt.TextFormat.PlainText  # the host's text is data
    reached = facts
    assert reached["Address"] == "hv01.lab.example:5986 (HTTPS)"
    assert reached["User"] == "LAB\\admin — NTLM"
    assert reached["Certificate"] == "trusted by this computer"


def test_an_unreachable_host_says_why_what_to_do_and_counts_down(qtbot):
    details = HostDetails()
    qtbot.addWidget(details)
    status = Status(State.UNREACHABLE, "connection refused",
                    "Start the WinRM service: `Start-Service WinRM`",
                    retry_at=time.monotonic() + 30)
    details.show_host(HOST.replace(pinned_sha256="ab" * 32), status, None)
    assert details.state.text().startswith("● unreachable: connection refused (retrying in")
    assert not details.fix.isHidden()
    assert details.fix.text() == "Start the WinRM service: <code>Start-Service WinRM</code>"
    assert details.no_facts is not None and not details.no_facts.isHidden()
    assert set(details.rows()) == {"Kind", "Address", "User", "Certificate"}
    assert details.rows()["Certificate"] == \
        "the one you trusted (SHA-256 AB:AB:AB:AB:AB:AB:AB:AB…)"
    first = details.state.text()
    qtbot.waitUntil(lambda: details.state.text() != first, timeout=5000)  # the ticker runs
    assert "retrying in" in details.state.text()
    details.show_host(HOST, Status(State.AUTH_FAILED, "denied", "<img src=x> `a<b`"), None)
    assert details.fix.text() == "&lt;img src=x&gt; <code>a&lt;b</code>"  # escaped, not markup
    details.show_host(HOST, Status(State.UNREACHABLE, "no route to host"), None)
    assert details.fix.isHidden()  # nothing to suggest: no empty yellow box
    assert len(details.rows()) == 4  # shown again, not added to
    details.show_host(None, Status(State.CONNECTING), None)
    assert details.title.text() == "" and details.state.text() == ""
    assert details.rows() == {}
    assert not details._ticker.isActive()
