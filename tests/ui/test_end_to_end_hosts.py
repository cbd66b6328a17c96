"""End to end: in the main window with a real Registry, a newcomer adds a remote Hyper-V host
(the real Add host dialog, Test connection), sees its machines beside real local QEMU ones, and
when the host goes away and comes back the window says so and recovers by itself.

The host is a loopback HTTPS WinRM server (desktopvm/testing/doubles/hyperv/winrm_server.py)
running the PowerShell double's FakeHost, trusted through a CA file; the password goes to a real
keyrings.alt file keyring in tmp. Nothing waits on the wall-clock back-off: the monitor's clock
is moved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("winrm")

from desktopvm import credentials
from desktopvm.jobs import JobRunner
from desktopvm.model import defaults_for
from desktopvm.monitor import ConnectionMonitor
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.registry import KNOWN_BACKENDS, Registry
from desktopvm.settings import Settings, load_settings
from desktopvm.testing.doubles.certs import TlsFiles, make_tls
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running
from desktopvm.ui.hosts.host_dialog import HostDialog
from desktopvm.ui.inventory_model import NAME, STATE, KindRole
from desktopvm.ui.main_window import MainWindow
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

USER, PASSWORD = "tester", "Hv-s3cret-Pa55!"


class Clock:
    """The monitor's clock: real monotonic time plus what the test skipped ahead."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKTOPVM_WINRM_TIMEOUTS", "2,5")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@contextmanager
def winrm_host(fake: FakeHost, tls: TlsFiles, port: int = 0) -> Iterator[WinRMTestServer]:
    """A remote Hyper-V host: HTTPS WinRM on 127.0.0.1 running its own FakeHost."""
    server = WinRMTestServer(auth="basic", user=USER, password=PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key), env=fake.environment, port=port)
    with running(server):
        yield server


def rows(window: MainWindow, connection: str) -> tuple[str, list[str]]:
    """A connection's node: its state column and its machines' names (not the error line)."""
    model = window.model
    group = model.group_index(connection)
    if not group.isValid():
        return "", []
    names = [model.index(r, NAME, group).data() for r in range(model.rowCount(group))
             if model.index(r, NAME, group).data(KindRole) == "machine"]
    return model.index(group.row(), STATE).data() or "", sorted(names)


def note(window: MainWindow, connection: str) -> str:
    group = window.model.group_index(connection)
    first = window.model.index(0, NAME, group)
    return first.data() if first.data(KindRole) == "note" else ""


def home_of(tmp_path: Path) -> str:
    """What DesktopVM wrote in its state root (settings, window state, logs), as text."""
    from desktopvm import paths

    root = paths.state_root()
    return "".join(f.read_text(errors="replace") for f in root.rglob("*") if f.is_file()
                   and f.suffix in (".json", ".ini", ".log"))


def make_vm(backend, name: str) -> str:
    spec = defaults_for("debian12", backend.capabilities(), name=name)
    machine_id: str = backend.create(spec, progress=no_progress, cancel=CancelToken())
    return machine_id


def test_a_remote_host_beside_local_qemu_goes_away_and_comes_back(
        qtbot, tmp_path: Path, tls: TlsFiles, test_keyring: TestKeyring,  # noqa: F811
        caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    fake = FakeHost(tmp_path / "hv01")
    clock = Clock()
    with winrm_host(fake, tls) as server:
        port = server.port
        settings = Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg",
                            refresh_interval_s=1)
        registry = Registry(settings, known=KNOWN_BACKENDS, monitor=ConnectionMonitor(clock))
        make_vm(registry.open("qemu"), "local-vm")
        runner = JobRunner()
        window = MainWindow(registry, runner)
        qtbot.addWidget(window)
        window.show()
        window.start()
        qtbot.waitUntil(lambda: rows(window, "qemu")[1] == ["local-vm"], timeout=60_000)
        # Add host…, as a newcomer does it: the real dialog, Test connection, Add host.
        window.add_host_action.trigger()
        dialog = next(d for d in window.operations.open_dialogs if isinstance(d, HostDialog))
        dialog.address.setText("127.0.0.1")
        dialog.port.setValue(port)
        dialog.ca_file.setText(str(tls.ca))
        dialog.username.setText(USER)
        dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))
        dialog.password.setText(PASSWORD)
        dialog.label.setText("hv01 (loopback)")
        dialog.test_button.click()
        qtbot.waitUntil(lambda: dialog.test_job is None and dialog.ok.isEnabled(),
                        timeout=60_000)
        assert dialog.checks.summary.text().startswith("Connected: every check passed")
        dialog.ok.click()
        qtbot.waitUntil(lambda: bool(window.registry.settings.hosts), timeout=30_000)
        [host] = window.registry.settings.hosts
        assert load_settings().hosts == (host,) and host.ca_file == str(tls.ca)
        assert credentials.password(host) == PASSWORD  # in the keyring, and only there
        assert PASSWORD not in home_of(tmp_path)
        make_vm(window.registry.open(host.id), "remote-vm")  # made on the host meanwhile
        qtbot.waitUntil(lambda: rows(window, host.id) == ("Connected", ["remote-vm"]) and
                        rows(window, "qemu")[1] == ["local-vm"], timeout=60_000)
        registry = window.registry
        assert window.model.index(window.model.group_index(host.id).row(), NAME).data() == \
            "hv01 (loopback) (1)"
    # The server is gone (the context ended: shut down, its port closed).
    qtbot.waitUntil(lambda: rows(window, host.id)[0] == "Unreachable", timeout=30_000)
    assert rows(window, host.id)[1] == ["remote-vm"]  # the last known machines stay
    assert "retrying in" in note(window, host.id) or "retrying now" in note(window, host.id)
    # The local backend keeps refreshing meanwhile.
    make_vm(registry.open("qemu"), "local-vm-2")
    qtbot.waitUntil(lambda: rows(window, "qemu")[1] == ["local-vm", "local-vm-2"],
                    timeout=30_000)
    assert rows(window, host.id)[0] == "Unreachable"
    assert PASSWORD not in window.statusBar().currentMessage() + note(window, host.id)
    with winrm_host(fake, tls, port=port):  # back, on the same port
        clock.skipped += 600  # past any back-off; nobody presses Retry
        qtbot.waitUntil(lambda: rows(window, host.id) == ("Connected", ["remote-vm"]),
                        timeout=60_000)
        assert note(window, host.id) == ""
        window.close()
        runner.cancel_all()
        assert runner.wait_for_done(30_000)
        window.close_backends()
    assert caplog.records and PASSWORD not in caplog.text  # nor in any log line
    assert PASSWORD not in home_of(tmp_path)  # nor in the settings or window state
