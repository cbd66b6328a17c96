"""Remote sessions through pywinrm's real code against a loopback WS-Man server running the double.

Basic authentication is used here over HTTPS only (the test server's simplest scheme);
NTLM with message encryption over plain HTTP uses pyspnego's NTLM acceptor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("winrm")
pytest.importorskip("cryptography")

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import PowerShellSession
from backends.hyperv.winrm_transport import (
    InsecureTransport,
    WinRMChannel,
    WinRMConfig,
    keyring_password,
    store_password,
)
from desktopvm.model import defaults_for
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendUnavailable,
    CancelToken,
    ConnectionLost,
    no_progress,
)
from desktopvm.testing.doubles.certs import TlsFiles, make_tls
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running
from tests.backends.hyperv.conftest import WINRM_PASSWORD, WINRM_USER

USER, PASSWORD = WINRM_USER, WINRM_PASSWORD


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(fake_host: FakeHost, tls: TlsFiles) -> Iterator[WinRMTestServer]:
    server = WinRMTestServer(auth="basic", user=USER, password=PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key))
    with running(server):
        yield server


def https_config(server: WinRMTestServer, tls: TlsFiles, **changes: object) -> WinRMConfig:
    options: dict[str, object] = {"host": "127.0.0.1", "port": server.port, "username": USER,
                                  "auth": "basic", "https": True, "ca_file": str(tls.ca),
                                  "operation_timeout": 2, "read_timeout": 5}
    options.update(changes)
    return WinRMConfig(**options)  # type: ignore[arg-type]


def session_for(config: WinRMConfig, password: str = PASSWORD) -> PowerShellSession:
    return PowerShellSession(lambda: WinRMChannel(config, password=lambda c: password),
                             host=config.host, start_timeout=20, request_timeout=10)


def test_https_with_a_custom_ca_runs_the_whole_backend(https_server: WinRMTestServer,
                                                      tls: TlsFiles, tmp_path: Path):
    config = https_config(https_server, tls)
    backend = HyperVBackend(lambda: WinRMChannel(config, password=lambda c: PASSWORD),
                            host="127.0.0.1", local=False,
                            metadata=MetadataStore("127.0.0.1", tmp_path / "meta"))
    try:
        assert backend.probe().available
        spec = defaults_for("debian12", backend.capabilities(), name="remote ‘vm’")
        vm_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
        assert [m.name for m in backend.list_machines()] == ["remote ‘vm’"]
        assert backend.get_machine(vm_id).spec.name == "remote ‘vm’"
        assert backend.console(vm_id).native_viewer == ("vmconnect.exe", "127.0.0.1",
                                                        "remote ‘vm’")
        assert not backend.capabilities().serial_console  # pipes are on the remote host
    finally:
        backend.close()
    assert https_server.actions.count("Create") == 1  # one shell for every request
    assert https_server.actions.count("Command") == 1
    assert https_server.actions[-2:] == ["Signal", "Delete"]


def test_an_unknown_certificate_is_refused(https_server: WinRMTestServer, tls: TlsFiles,
                                           tmp_path: Path):
    other = make_tls(tmp_path / "other", label="Somebody else")
    for config in (https_config(https_server, tls, ca_file=""),
                   https_config(https_server, tls, ca_file=str(other.ca))):
        session = session_for(config)
        with pytest.raises(BackendUnavailable, match="not trusted") as caught:
            session.request("list_vms")
        assert "CA certificate" in caught.value.install_hint
    assert https_server.actions == []


def test_basic_over_plain_http_is_refused_before_connecting():
    config = WinRMConfig(host="127.0.0.1", port=9, username=USER, auth="basic", https=False)
    with pytest.raises(InsecureTransport, match="plain HTTP"):
        config.check()
    with pytest.raises(InsecureTransport):
        session_for(config).request("list_vms")
    with pytest.raises(InsecureTransport):
        WinRMConfig(host="h", auth="certificate", https=False).check()
    with pytest.raises(InsecureTransport, match="Unknown"):
        WinRMConfig(host="h", auth="plaintext").check()


def test_transport_options():
    https = WinRMConfig(host="hv", username="u", ca_file="/ca.pem").protocol_options("pw")
    assert https["endpoint"] == "https://hv:5986/wsman"
    assert (https["server_cert_validation"], https["ca_trust_path"]) == ("validate", "/ca.pem")
    assert https["message_encryption"] == "auto" and https["proxy"] is None
    for auth in ("ntlm", "kerberos", "credssp"):
        http = WinRMConfig(host="hv", auth=auth, https=False).protocol_options("pw")
        assert (http["endpoint"], http["message_encryption"]) == ("http://hv:5985/wsman",
                                                                  "always")


def test_ntlm_with_message_encryption_over_http(winrm_server: WinRMTestServer):
    config = WinRMConfig(host="127.0.0.1", port=winrm_server.port, username=f"LAB\\{USER}",
                         auth="ntlm", https=False, operation_timeout=2, read_timeout=5)
    session = session_for(config)
    try:
        assert session.request("host_info")["ComputerName"] == "FAKE-HYPERV"
        assert session.request("list_vms") == {"VMs": []}
    finally:
        session.close()
    assert winrm_server.encrypted >= 6  # every WS-Man message after the handshake was sealed


def test_wrong_password_is_authentication_failed(https_server: WinRMTestServer, tls: TlsFiles):
    with pytest.raises(AuthenticationFailed, match="refused the credentials"):
        session_for(https_config(https_server, tls), password="wrong").request("list_vms")


def test_a_dropped_connection_is_connection_lost_then_reconnects(
        https_server: WinRMTestServer, tls: TlsFiles, fake_host: FakeHost):
    session = session_for(https_config(https_server, tls))
    try:
        session.request("list_vms")
        fake_host.fault("list_vms", "crash")
        with pytest.raises(ConnectionLost):
            session.request("list_vms")
        assert session.request("list_vms") == {"VMs": []}
        https_server.stop_all()  # the host dropped the idle shell (WinRM idle timeout)
        assert session.request("list_vms") == {"VMs": []}
        assert https_server.actions.count("Create") == 3
    finally:
        session.close()


@pytest.fixture
def memory_keyring() -> Iterator[object]:
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.items: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.items.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.items[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.items.pop((service, username), None)

    previous = keyring.get_keyring()
    store = MemoryKeyring()
    keyring.set_keyring(store)
    yield store
    keyring.set_keyring(previous)


def test_passwords_come_from_the_keyring_and_are_never_logged(
        memory_keyring: object, https_server: WinRMTestServer, tls: TlsFiles,
        caplog: pytest.LogCaptureFixture):
    config = https_config(https_server, tls)
    with pytest.raises(AuthenticationFailed, match="keyring"):
        keyring_password(config)
    store_password(config, PASSWORD)
    assert keyring_password(config) == PASSWORD
    assert PASSWORD not in repr(config)
    caplog.set_level(logging.DEBUG)
    session = PowerShellSession(lambda: WinRMChannel(config), host=config.host)
    try:
        session.request("list_vms")
    finally:
        session.close()
    assert PASSWORD not in caplog.text
    assert "pa$$" not in caplog.text


def test_powershell_reads_its_requests_from_a_pipe_not_a_console(
        https_server: WinRMTestServer, tls: TlsFiles):
    """Review W3: WINRS_CONSOLEMODE_STDIN FALSE = pipe (MS-WSMV 3.1.4.11); requests are streamed."""
    session = session_for(https_config(https_server, tls))
    try:
        session.request("list_vms")
    finally:
        session.close()
    [options] = https_server.command_options
    assert options["WINRS_CONSOLEMODE_STDIN"] == "FALSE"
    assert options["WINRS_SKIP_CMD_SHELL"] == "TRUE"


@pytest.mark.parametrize(("auth", "flag"), [("kerberos", "HAVE_KERBEROS"),
                                            ("credssp", "HAVE_CREDSSP")])
def test_a_missing_auth_library_is_reported_with_the_install_hint(
        https_server: WinRMTestServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch,
        auth: str, flag: str):
    """Review W1: pywinrm raises WinRMError '... is not installed'; that is no 'cannot reach'."""
    import winrm.transport

    monkeypatch.setattr(winrm.transport, flag, False)
    session = session_for(https_config(https_server, tls, auth=auth))
    with pytest.raises(BackendUnavailable, match="needs a library that is not installed") as caught:
        session.request("list_vms")
    assert "desktopvm[winrm]" in caught.value.install_hint
    assert not isinstance(caught.value, ConnectionLost)


def test_the_winrm_extra_brings_kerberos_and_credssp():
    """Review W1: pywinrm's own extras (its wheel's metadata: 'kerberos' -> pykerberos or
    winkerberos, 'credssp' -> requests-credssp)."""
    import re
    import tomllib

    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text("utf-8"))
    [pywinrm] = [r for r in project["project"]["optional-dependencies"]["winrm"]
                 if r.startswith("pywinrm")]
    extras = re.search(r"\[(.*?)\]", pywinrm)
    assert extras is not None
    assert {e.strip() for e in extras.group(1).split(",")} >= {"kerberos", "credssp"}


def test_https_trusts_what_this_computer_trusts(https_server: WinRMTestServer, tls: TlsFiles,
                                                monkeypatch: pytest.MonkeyPatch):
    """Review W2: without a CA file, the system's trusted CAs count (not only certifi's).

    Here the 'system' is OpenSSL's default CA file (SSL_CERT_FILE); on Windows it is the
    certificate store, which only a Windows run proves.
    """
    from backends.hyperv import winrm_transport

    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    monkeypatch.setattr(winrm_transport, "_SYSTEM_BUNDLE", {})
    session = session_for(https_config(https_server, tls, ca_file=""))
    try:
        assert session.request("list_vms") == {"VMs": []}
    finally:
        session.close()
        monkeypatch.setattr(winrm_transport, "_SYSTEM_BUNDLE", {})
