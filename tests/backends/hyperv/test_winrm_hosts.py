"""Remote Hyper-V hosts end to end: loopback HTTPS WinRM servers as the hosts, reached through
Registry and HostConfig with the keyring's password, each server running its own FakeHost.

Trust (system / CA file / pinned / changed), a connection dropped mid-request, wrong
credentials, and Test connection's diagnosis of each case.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("winrm")

from backends.hyperv import diagnose
from backends.hyperv.winrm_transport import (
    InsecureTransport,
    WinRMChannel,
    WinRMConfig,
    config_for_host,
)
from desktopvm import credentials
from desktopvm.connections import Diagnosis, HostConfig, State
from desktopvm.model import defaults_for
from desktopvm.monitor import ConnectionMonitor
from desktopvm.protocol import (
    AuthenticationFailed,
    CancelToken,
    CertificateNotTrusted,
    ConnectionLost,
    no_progress,
)
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.testing.doubles.certs import TlsFiles, make_self_signed, make_tls
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)

USER, PASSWORD = "tester", "Hv-s3cret-Pa55!"  # Basic auth is Latin-1 only (requests)


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKTOPVM_WINRM_TIMEOUTS", "2,5")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@contextmanager
def winrm_host(fake: FakeHost, tls: TlsFiles, *, port: int = 0,
               password: str = PASSWORD) -> Iterator[WinRMTestServer]:
    """A remote host: HTTPS WinRM on 127.0.0.1 running its own FakeHost."""
    server = WinRMTestServer(auth="basic", user=USER, password=password,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key), env=fake.environment, port=port)
    with running(server):
        yield server


def host_for(server: WinRMTestServer, **changes: object) -> HostConfig:
    host = HostConfig(kind="hyperv", address="127.0.0.1", port=server.port, username=USER,
                      auth="basic", https=True)
    return host.replace(**changes)


class FakeClock:
    """The monitor's clock: back-off delays are waited out by moving it, not by sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry_for(*hosts: HostConfig, clock: FakeClock | None = None) -> Registry:
    settings = Settings()
    for host in hosts:
        settings = settings.with_host(host)
    return Registry(settings, monitor=ConnectionMonitor(clock or FakeClock()))


def sha256_of(pem: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()


def create_vm(registry: Registry, connection: str, name: str) -> str:
    backend = registry.open(connection)
    spec = defaults_for("debian12", backend.capabilities(), name=name)
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def test_two_hosts_are_listed_by_one_registry(tls: TlsFiles, tmp_path: Path,
                                              test_keyring: TestKeyring) -> None:  # noqa: F811
    fakes = FakeHost(tmp_path / "a"), FakeHost(tmp_path / "b")
    with winrm_host(fakes[0], tls) as first, winrm_host(fakes[1], tls) as second:
        hosts = [host_for(server, ca_file=str(tls.ca)) for server in (first, second)]
        for host in hosts:
            credentials.store_password(host, PASSWORD)
        registry = registry_for(*hosts)
        try:
            create_vm(registry, hosts[0].id, "web")
            create_vm(registry, hosts[1].id, "db")
            listing = registry.list_everything()
        finally:
            registry.close()
    remote = {name: machines for name, machines in listing.machines.items() if "@" in name}
    assert {name: [m.name for m in machines] for name, machines in remote.items()} == {
        hosts[0].id: ["web"], hosts[1].id: ["db"]}
    assert [m.backend for m in remote[hosts[0].id]] == [hosts[0].id]
    assert not {name for name in listing.failures if "@" in name}
    assert [vm["Name"] for vm in fakes[0].state()["vms"].values()] == ["web"]  # each its own
    assert [registry.monitor.status(h.id).state for h in hosts] == [State.CONNECTED] * 2


def test_untrusted_then_pinned_then_changed(tmp_path: Path,
                                            test_keyring: TestKeyring) -> None:  # noqa: F811
    fake = FakeHost(tmp_path / "host")
    own = make_self_signed(tmp_path / "own")
    with winrm_host(fake, own) as server:
        host = host_for(server)
        credentials.store_password(host, PASSWORD)
        registry = registry_for(host)
        with pytest.raises(CertificateNotTrusted) as untrusted:
            registry.list_machines(host.id)
        facts = untrusted.value.certificate
        assert facts is not None and facts.sha256 == sha256_of(own.certificate)
        assert not untrusted.value.changed
        assert registry.monitor.status(host.id).state is State.UNTRUSTED
        assert server.requests == 0  # refused at the handshake: no credential was sent

        pinned = host.replace(pinned_sha256=facts.colon_fingerprint())
        registry = registry.with_settings(registry.settings.with_host(pinned,
                                                                      replacing=host.id))
        registry.monitor.reconnect(host.id)
        assert registry.list_machines(host.id) == []
        assert registry.monitor.status(host.id).state is State.CONNECTED
        port = server.port
    # The host comes back with another certificate, on the same address and port.
    other = make_self_signed(tmp_path / "other")
    with winrm_host(fake, other, port=port) as replaced:
        try:
            with pytest.raises(CertificateNotTrusted) as changed:
                registry.list_machines(host.id)
        finally:
            registry.close()
        assert replaced.requests == 0
    assert changed.value.changed
    assert "CHANGED" in changed.value.summary
    assert changed.value.certificate is not None
    assert changed.value.certificate.sha256 == sha256_of(other.certificate)
    assert registry.monitor.status(host.id).state is State.UNTRUSTED
    assert not registry.monitor.due(host.id)  # never retried by itself


def test_a_dropped_connection_loses_no_operation_and_recovers(
        tls: TlsFiles, tmp_path: Path, test_keyring: TestKeyring) -> None:  # noqa: F811
    fake = FakeHost(tmp_path / "host")
    clock = FakeClock()
    with winrm_host(fake, tls) as server:
        host = host_for(server, ca_file=str(tls.ca))
        credentials.store_password(host, PASSWORD)
        registry = registry_for(host, clock=clock)
        try:
            vm_id = create_vm(registry, host.id, "web")
            server.lose_next_reply()
            with pytest.raises(ConnectionLost, match="whether it ran is unknown"):
                registry.open(host.id).start(vm_id)
            assert fake.ops().count("start_vm") == 1  # it ran, once, and was not resent

            with pytest.raises(ConnectionLost):
                registry.list_machines(host.id)  # the host is still down
            status = registry.monitor.status(host.id)
            assert status.state is State.UNREACHABLE and status.retry_at == clock.now + 2
            contacted = server.requests
            with pytest.raises(ConnectionLost):
                registry.list_machines(host.id)  # waiting out the back-off: not contacted
            assert server.requests == contacted

            clock.now = status.retry_at
            with pytest.raises(ConnectionLost):
                registry.list_machines(host.id)
            assert registry.monitor.status(host.id).retry_at == clock.now + 4  # doubled

            server.come_back()
            clock.now += 4
            machines = registry.list_machines(host.id)
        finally:
            registry.close()
    assert [(m.name, m.state.value) for m in machines] == [("web", "running")]
    assert registry.monitor.status(host.id).state is State.CONNECTED
    assert fake.ops().count("start_vm") == 1


def test_a_send_whose_reply_was_lost_is_not_sent_again(
        tls: TlsFiles, tmp_path: Path, test_keyring: TestKeyring) -> None:  # noqa: F811
    fake = FakeHost(tmp_path / "host")
    with winrm_host(fake, tls) as server:
        host = host_for(server, ca_file=str(tls.ca))
        credentials.store_password(host, PASSWORD)
        registry = registry_for(host)
        try:
            vm_id = create_vm(registry, host.id, "web")
            server.lose_next_send_reply()  # a read is asked again on a new shell
            assert [m.name for m in registry.list_machines(host.id)] == ["web"]
            assert fake.ops().count("list_vms") == 2  # the lost one and the one asked again
            server.lose_next_send_reply()  # the host stays up: a resend would reach it
            with pytest.raises(ConnectionLost, match="whether it ran is unknown"):
                registry.open(host.id).start(vm_id)
            machines = registry.list_machines(host.id)
        finally:
            registry.close()
    assert fake.ops().count("start_vm") == 1
    assert [(m.name, m.state.value) for m in machines] == [("web", "running")]


def test_the_system_trust_store_is_used(tls: TlsFiles, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        test_keyring: TestKeyring) -> None:  # noqa: F811
    # On Linux, truststore verifies with OpenSSL's default paths, which SSL_CERT_FILE names:
    # a CA "installed in the system" this way is trusted with no CA file for the host.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    fake = FakeHost(tmp_path / "host")
    with winrm_host(fake, tls) as server:
        host = host_for(server)
        credentials.store_password(host, PASSWORD)
        registry = registry_for(host)
        try:
            assert registry.list_machines(host.id) == []
        finally:
            registry.close()


def test_wrong_credentials_are_not_retried(tls: TlsFiles, tmp_path: Path,
                                           test_keyring: TestKeyring) -> None:  # noqa: F811
    fake = FakeHost(tmp_path / "host")
    with winrm_host(fake, tls) as server:
        host = host_for(server, ca_file=str(tls.ca))
        credentials.store_password(host, "not the password")
        registry = registry_for(host)
        try:
            with pytest.raises(AuthenticationFailed):
                registry.list_machines(host.id)
            assert registry.monitor.status(host.id).state is State.AUTH_FAILED
            tries = server.requests
            assert tries >= 1
            assert "@" in next(iter(registry.list_everything().failures))
            with pytest.raises(AuthenticationFailed):
                registry.list_machines(host.id)
            assert server.requests == tries  # an account is not locked out by retries
            credentials.store_password(host, PASSWORD)
            registry.monitor.reconnect(host.id)  # the user fixed it and said Retry
            assert registry.list_machines(host.id) == []
        finally:
            registry.close()


# -- Test connection ---------------------------------------------------------------------------
def names(diagnosis: Diagnosis) -> list[str]:
    return [check.name for check in diagnosis.checks]


def test_diagnosis_of_a_working_host(tls: TlsFiles, tmp_path: Path,
                                     test_keyring: TestKeyring) -> None:  # noqa: F811
    fake = FakeHost(tmp_path / "host")
    with winrm_host(fake, tls) as server:
        host = host_for(server, ca_file=str(tls.ca))
        credentials.store_password(host, PASSWORD)
        diagnosis = registry_for(host).test_host(host)  # password None: the keyring's
    assert diagnosis.ok, diagnosis.failure
    assert names(diagnosis) == ["Transport security", "DNS", "TCP", "TLS", "Authentication",
                                "WinRM shell", "Hyper-V", "Permissions"]
    assert diagnosis.certificate_trusted and diagnosis.certificate is not None
    assert diagnosis.version.startswith("Hyper-V module")
    assert "Hyper-V Administrators" in diagnosis.checks[-1].detail
    assert diagnosis.host == host.id


def test_diagnosis_names_the_failing_step(tls: TlsFiles, tmp_path: Path) -> None:
    fake = FakeHost(tmp_path / "host")
    unresolvable = HostConfig(kind="hyperv", address="nohost.invalid", username=USER)
    dns = diagnose.test_connection(unresolvable, None, PASSWORD)
    assert (names(dns)[-1], dns.ok) == ("DNS", False)
    with winrm_host(fake, tls) as server:
        port = server.port
        host = host_for(server, ca_file=str(tls.ca))
        wrong = diagnose.test_connection(host, None, "wrong")
        assert wrong.failure is not None and wrong.failure.name == "Authentication"
        assert wrong.certificate_trusted
        untrusted = diagnose.test_connection(host.replace(ca_file=""), None, PASSWORD)
        assert untrusted.failure is not None and untrusted.failure.name == "TLS"
        assert not untrusted.certificate_trusted
        assert untrusted.certificate is not None
        assert untrusted.certificate.sha256 == sha256_of(tls.certificate)
        pinned = host.replace(ca_file="", pinned_sha256=untrusted.certificate.sha256)
        assert diagnose.test_connection(pinned, None, PASSWORD).ok
        changed = diagnose.test_connection(host.replace(pinned_sha256="0" * 64), None, PASSWORD)
        assert changed.failure is not None and "CHANGED" in changed.failure.detail

        fake.update(lambda state: state["host"].update(OsVersion="6.3.9600.0"))
        too_old = diagnose.test_connection(host, None, PASSWORD)  # as the probe refuses it
        assert too_old.failure is not None and too_old.failure.name == "Hyper-V"
        assert "build 14393" in too_old.failure.fix
        fake.update(lambda state: state["host"].update(OsVersion="10.0.14393.0"))
        fake.update(lambda state: state["probe"].update(can_manage=False))
        denied = diagnose.test_connection(host, None, PASSWORD)
        assert denied.failure is not None and denied.failure.name == "Permissions"
        assert "Hyper-V Administrators" in denied.failure.fix
        fake.update(lambda state: state["probe"].update(hyperv=False))
        not_hyperv = diagnose.test_connection(host, None, PASSWORD)
        assert not_hyperv.failure is not None and not_hyperv.failure.name == "Hyper-V"
        assert "Install-WindowsFeature Hyper-V" in not_hyperv.failure.fix
    refused = diagnose.test_connection(host, None, PASSWORD)  # the server is gone
    assert refused.failure is not None and refused.failure.name == "TCP"
    assert "refused" in refused.failure.detail and str(port) in refused.failure.detail
    assert "winrm quickconfig -transport:https" in refused.failure.fix
    with pytest.raises(ValueError, match="plain HTTP"):  # refused before any step runs
        host.replace(https=False)


def test_no_answer_on_a_port_is_not_refused(tmp_path: Path) -> None:
    # A listener whose backlog never gets accepted: the TLS step waits and times out.
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        host = HostConfig(kind="hyperv", address="127.0.0.1", port=port, username=USER)
        diagnosis = diagnose.test_connection(host, None, PASSWORD)
    assert diagnosis.failure is not None and diagnosis.failure.name == "TLS"



def test_a_web_server_without_winrm_and_a_missing_auth_library(
        tls: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHost(tmp_path / "host")
    with winrm_host(fake, tls) as server:
        host = host_for(server, ca_file=str(tls.ca))
        server.not_winrm = True
        web = diagnose.test_connection(host, None, PASSWORD)
        assert web.failure is not None and web.failure.name == "WinRM shell"
        assert "HTTP 404" in web.failure.detail and "Enable-PSRemoting" in web.failure.fix
        server.not_winrm = False
        commands, server.commands = server.commands, {}  # WinRM refuses to run powershell.exe
        refused = diagnose.test_connection(host, None, PASSWORD)
        assert [(c.name, c.ok) for c in refused.checks[-2:]] == [("Authentication", True),
                                                                 ("WinRM shell", False)]
        assert "refused to open a PowerShell shell" in refused.checks[-1].detail
        server.commands = commands
        import winrm.transport

        monkeypatch.setattr(winrm.transport, "HAVE_KERBEROS", False)
        kerberos = diagnose.test_connection(host.replace(auth="kerberos"), None, PASSWORD)
    assert kerberos.failure is not None and kerberos.failure.name == "Authentication"
    assert "not installed" in kerberos.failure.detail
    assert "pip install" in kerberos.failure.fix and "reach" not in kerberos.failure.detail


def test_basic_over_plain_http_is_refused_when_connecting() -> None:
    """A host the user adds cannot even say it (HostConfig refuses); a WinRMConfig made by
    hand is refused again when it connects."""
    with pytest.raises(ValueError, match="plain HTTP"):
        HostConfig(kind="hyperv", address="127.0.0.1", port=9, username=USER, auth="basic",
                   https=False)
    config = WinRMConfig(host="127.0.0.1", port=9, username=USER, auth="basic", https=False)
    with pytest.raises(InsecureTransport, match="plain HTTP"):
        WinRMChannel(config, password=lambda _c: PASSWORD).open()


def test_timeouts_can_be_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    host = HostConfig(kind="hyperv", address="hv01")
    assert (config_for_host(host).operation_timeout, config_for_host(host).read_timeout) == (
        2, 5)  # the autouse fixture's "2,5"
    for wrong in ("5,2", "x", "0,3", "1,2,3"):
        monkeypatch.setenv("DESKTOPVM_WINRM_TIMEOUTS", wrong)
        assert (config_for_host(host).operation_timeout, config_for_host(host).read_timeout) \
            == (WinRMConfig.operation_timeout, WinRMConfig.read_timeout)


def test_a_plain_http_port_is_not_called_an_untrusted_certificate(
        tmp_path: Path, test_keyring: TestKeyring) -> None:  # noqa: F811
    fake = FakeHost(tmp_path / "host")
    server = WinRMTestServer(auth="basic", user=USER, password=PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             env=fake.environment)  # HTTP only
    with running(server):
        host = host_for(server)  # but the host is set up for HTTPS
        credentials.store_password(host, PASSWORD)
        registry = registry_for(host)
        with pytest.raises(ConnectionLost, match="TLS handshake"):  # not "not trusted"
            registry.list_machines(host.id)
    assert registry.monitor.status(host.id).state is State.UNREACHABLE


def test_an_unusable_ca_file_is_named(tls: TlsFiles, tmp_path: Path,
                                      test_keyring: TestKeyring) -> None:  # noqa: F811
    with winrm_host(FakeHost(tmp_path / "host"), tls) as server:
        host = host_for(server, ca_file=str(tmp_path / "missing-ca.pem"))
        credentials.store_password(host, PASSWORD)
        with pytest.raises(ConnectionLost, match=r"the CA file .*missing-ca\.pem cannot be used"):
            registry_for(host).list_machines(host.id)


def test_diagnosis_over_http_with_ntlm_message_encryption(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "ntlm-users"
    users.write_text(f"LAB:{USER}:{PASSWORD}\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    fake = FakeHost(tmp_path / "host")
    server = WinRMTestServer(auth="ntlm", user=USER, password=PASSWORD,
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             env=fake.environment)
    with running(server):
        host = host_for(server, https=False, auth="ntlm", username=f"LAB\\{USER}")
        diagnosis = diagnose.test_connection(host, None, PASSWORD)
        wrong = diagnose.test_connection(host, None, "wrong")
    assert diagnosis.ok, diagnosis.failure
    assert "TLS" not in names(diagnosis) and diagnosis.certificate is None
    assert diagnosis.checks[0].detail == "HTTP with NTLM message encryption"
    assert server.encrypted > 0  # every WS-Man message was sealed
    assert wrong.failure is not None and wrong.failure.name == "Authentication"
