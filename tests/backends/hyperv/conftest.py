"""Fixtures for the Hyper-V tests: a fake host behind the PowerShell double, sessions on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel, PowerShellSession
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running

WINRM_USER, WINRM_PASSWORD = "tester", "pa$$ 'w0rd' `x`"  # Basic auth: Latin-1 only


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    """A fake Hyper-V host; DESKTOPVM_POWERSHELL points at the double."""
    host = FakeHost(tmp_path / "host")
    for key, value in host.environment.items():
        monkeypatch.setenv(key, value)
    return host


@pytest.fixture
def session(fake_host: FakeHost) -> Iterator[PowerShellSession]:
    """A session on the double with short timeouts."""
    ps = PowerShellSession(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                           start_timeout=20, request_timeout=10)
    yield ps
    ps.close()


@pytest.fixture
def winrm_server(fake_host: FakeHost, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[WinRMTestServer]:
    """The loopback WS-Man server (NTLM with message encryption) running the double."""
    pytest.importorskip("winrm")
    pytest.importorskip("spnego")
    users = tmp_path / "ntlm-users"
    users.write_text(f"LAB:{WINRM_USER}:{WINRM_PASSWORD}\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    server = WinRMTestServer(auth="ntlm", user=WINRM_USER, password=WINRM_PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]})
    with running(server):
        yield server


@pytest.fixture
def remote_hyperv(winrm_server: WinRMTestServer, tmp_path: Path) -> Iterator[HyperVBackend]:
    """A remote Hyper-V host over pywinrm's real code and that server."""
    from backends.hyperv.winrm_transport import WinRMChannel, WinRMConfig

    config = WinRMConfig(host="127.0.0.1", port=winrm_server.port,
                         username=f"LAB\\{WINRM_USER}", auth="ntlm", https=False,
                         operation_timeout=2, read_timeout=10)
    backend = HyperVBackend(lambda: WinRMChannel(config, password=lambda c: WINRM_PASSWORD),
                            host="127.0.0.1", local=False,
                            metadata=MetadataStore("127.0.0.1", tmp_path / "meta"))
    yield backend
    backend.close()
