"""Fixtures for the Hyper-V tests: a fake host behind the PowerShell double, sessions on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.hyperv.session import LocalProcessChannel, PowerShellSession
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost


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
