"""The Add host dialog end to end: a real Registry.test_host against a loopback HTTPS WinRM host
(the PowerShell double behind it) and against govmomi's vSphere simulator, with a real
keyrings.alt file keyring."""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt, QTimer

from desktopvm import credentials
from desktopvm.connections import Diagnosis, HostConfig
from desktopvm.registry import Registry
from desktopvm.settings import Settings, save_settings
from desktopvm.ui.hosts.host_dialog import HostDialog
from tests.keyring_fixture import TestKeyring, temporary_keyring
from tests.ui.test_host_dialog import asked, fill, form_host, press_ok

if TYPE_CHECKING:
    from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer


@pytest.fixture
def keyring_file(tmp_path: Path) -> Iterator[TestKeyring]:
    """A real keyrings.alt file keyring in tmp, the active keyring for this test only."""
    with temporary_keyring(tmp_path / "keyring") as active:
        yield active


E2E_USER, E2E_PASSWORD = "tester", "Hv-s3cret-Pa55!"  # Basic is Latin-1 only (requests)


@pytest.fixture
def self_signed_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[
        WinRMTestServer, str]]:
    """A Hyper-V host as far as DesktopVM can tell: HTTPS WinRM on 127.0.0.1 with a
    self-signed certificate, running the PowerShell double; and that certificate's SHA-256."""
    pytest.importorskip("winrm")
    from desktopvm.testing.doubles.certs import make_self_signed
    from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
    from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running

    monkeypatch.setenv("DESKTOPVM_WINRM_TIMEOUTS", "2,5")
    fake = FakeHost(tmp_path / "host")
    tls = make_self_signed(tmp_path / "tls")
    sha = hashlib.sha256(ssl.PEM_cert_to_DER_cert(tls.certificate.read_text())).hexdigest()
    server = WinRMTestServer(auth="basic", user=E2E_USER, password=E2E_PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key), env=fake.environment)
    with running(server):
        yield server, sha


def fill_e2e(qtbot, dialog: HostDialog, port: int, password: str) -> None:
    fill(qtbot, dialog, address="127.0.0.1", user=E2E_USER, password=password)
    dialog.port.setValue(port)
    dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))


def test_a_real_host_with_a_self_signed_certificate(qtbot, runner, *, keyring_file: TestKeyring,
                                                    self_signed_host, tmp_path: Path, caplog):
    server, sha = self_signed_host
    registry = Registry(Settings())
    # While the real test_host runs, the GUI thread must keep turning: the worker waits for
    # three more ticks of a GUI timer before going on (it would wait in vain if the test
    # were run on the GUI thread itself).
    ticks: list[int] = []
    wanted = [0]
    ticked = threading.Event()

    def tick() -> None:
        ticks.append(1)
        if len(ticks) >= wanted[0]:
            ticked.set()
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    gui_turned: list[bool] = []
    real_test_host = registry.test_host

    def watched(host: HostConfig, password: str | None = None) -> Diagnosis:
        ticked.clear()
        wanted[0] = len(ticks) + 3
        gui_turned.append(ticked.wait(10))
        return real_test_host(host, password)
    registry.test_host = watched  # type: ignore[method-assign]
    dialog = HostDialog(registry, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    fill_e2e(qtbot, dialog, server.port, E2E_PASSWORD)

    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.trust_dialog is not None and asked(dialog).isVisible(),
                    timeout=60_000)
    assert asked(dialog).facts.sha256 == sha and not asked(dialog).changed
    shown = [(mark.text(), name.text()) for mark, name, _ in dialog.checks.rows]
    assert shown[-1] == ("✗", "TLS") and ("✓", "TCP") in shown
    assert server.requests == 0  # refused at the handshake: no password went out
    qtbot.mouseClick(asked(dialog).cancel_button, Qt.MouseButton.LeftButton)
    assert form_host(dialog).pinned_sha256 == ""
    assert not keyring_file.path.exists()  # a failed test keeps no password

    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.test_job is None and asked(dialog).isVisible(),
                    timeout=60_000)
    qtbot.mouseClick(asked(dialog).trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.checks.summary.text().startswith("Connected"),
                    timeout=60_000)
    timer.stop()
    assert gui_turned == [True] * 3  # every test ran while the event loop kept turning
    assert all(mark.text() == "✓" for mark, _, _ in dialog.checks.rows)
    assert [name.text() for _, name, _ in dialog.checks.rows][-1] == "Permissions"
    host = press_ok(qtbot, dialog)
    assert host.pinned_sha256 == sha and host.port == server.port
    assert credentials.password(host) == E2E_PASSWORD
    save_settings(Settings(hosts=(host,)), tmp_path / "settings.json")
    assert E2E_PASSWORD not in (tmp_path / "settings.json").read_text(encoding="utf-8")
    assert E2E_PASSWORD not in repr(host) and E2E_PASSWORD not in caplog.text


def test_a_real_host_refuses_a_wrong_password(qtbot, runner, keyring_file: TestKeyring,
                                              self_signed_host):
    server, sha = self_signed_host
    trusted = HostConfig("hyperv", "127.0.0.1", port=server.port, username=E2E_USER,
                         auth="basic", pinned_sha256=sha)  # added and trusted before
    dialog = HostDialog(Registry(Settings(hosts=(trusted,))), runner, None, trusted)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.password.setText("wrong")
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.test_job is None and bool(dialog.checks.rows),
                    timeout=60_000)
    failed = [(name.text(), detail.text()) for mark, name, detail in dialog.checks.rows
              if mark.text() == "✗"]
    assert [name for name, _ in failed] == ["Authentication"]
    assert dialog.checks.fix is not None and "password" in dialog.checks.fix.text()
    assert dialog.trust_dialog is None  # the pinned certificate was the one shown
    assert not keyring_file.path.exists()


def test_an_esxi_host_through_the_vsphere_simulator(qtbot, runner, keyring_file: TestKeyring,
                                                    tmp_path: Path):
    pytest.importorskip("pyVmomi")
    from desktopvm.testing.doubles.esxi import sim

    if sim.missing_reason():
        pytest.skip(sim.missing_reason())
    esx = sim.start(tmp_path / "vcsim")
    try:
        dialog = HostDialog(Registry(Settings()), runner)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.kind.setCurrentIndex(dialog.kind.findData("esxi"))
        fill(qtbot, dialog, address="127.0.0.1", user=sim.USER, password=sim.PASSWORD)
        dialog.port.setValue(esx.port)
        dialog.start_test()  # no CA file: its certificate is shown to be trusted
        qtbot.waitUntil(lambda: dialog.trust_dialog is not None and asked(dialog).isVisible(),
                        timeout=60_000)
        qtbot.mouseClick(asked(dialog).trust_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.checks.summary.text().startswith("Connected"),
                        timeout=60_000)
        assert [name.text() for _, name, _ in dialog.checks.rows] == \
            ["DNS", "TCP", "TLS", "Login", "Licence"]
        host = press_ok(qtbot, dialog)
    finally:
        esx.stop()
    assert host.kind == "esxi" and host.https and host.pinned_sha256 == asked(dialog).facts.sha256
    assert credentials.password(host) == sim.PASSWORD
