"""A host's password is kept in the keyring only: never in a log record, the settings file, an
error's text or a Test connection result — whether the password is right or wrong."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

pytest.importorskip("winrm")

from backends.hyperv import diagnose
from desktopvm import credentials, paths
from desktopvm.protocol import AuthenticationFailed, BackendError
from desktopvm.settings import save_settings
from desktopvm.testing.doubles.certs import make_tls
from desktopvm.testing.doubles.hyperv.double import FakeHost
from tests.backends.hyperv.test_winrm_hosts import PASSWORD, host_for, registry_for, winrm_host
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)

WRONG = "Wr0ng-guess-77"


def texts_of(error: BackendError) -> list[str]:
    return [error.summary, error.details, getattr(error, "install_hint", ""), str(error),
            repr(error)]


def test_the_password_appears_nowhere_but_the_keyring(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        test_keyring: TestKeyring) -> None:  # noqa: F811
    monkeypatch.setenv("DESKTOPVM_WINRM_TIMEOUTS", "2,5")
    caplog.set_level(logging.DEBUG)  # every logger, pywinrm's, requests' and urllib3's too
    tls = make_tls(tmp_path / "tls")
    texts: list[str] = []
    with winrm_host(FakeHost(tmp_path / "host"), tls) as server:
        host = host_for(server, ca_file=str(tls.ca))
        credentials.store_password(host, PASSWORD)
        registry = registry_for(host)
        try:
            assert registry.list_machines(host.id) == []
            good = registry.test_host(host)
            assert good.ok
            bad = diagnose.test_connection(host, None, WRONG)
            assert not bad.ok
            texts += [repr(good), repr(bad)]
            save_settings(registry.settings)
        finally:
            registry.close()
        credentials.store_password(host, WRONG)
        wrong = registry_for(host)
        try:
            with pytest.raises(AuthenticationFailed) as refused:
                wrong.list_machines(host.id)
        finally:
            wrong.close()
        texts += texts_of(refused.value)
        status = wrong.monitor.status(host.id)
        texts += [status.reason, status.fix, status.line()]
    texts.append(paths.config_file().read_text(encoding="utf-8"))
    texts.append(caplog.text)
    texts += [repr(record.args) + record.getMessage() for record in caplog.records]
    assert len(caplog.records) > 10  # the logs were really captured at DEBUG
    assert f'"port": {host.port}' in paths.config_file().read_text(encoding="utf-8")  # saved
    for secret in (PASSWORD, WRONG):
        leaks = [text for text in texts if secret in text]
        assert not leaks, f"the password leaked into: {leaks[0][:300]!r}"
    # …and it is where it belongs (keyrings.alt keeps it base64-encoded).
    assert base64.b64encode(WRONG.encode()).decode() in test_keyring.path.read_text()
