"""desktopvm.trust against a real loopback TLS server: certificate facts, trust, and faults."""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm import trust
from desktopvm.protocol import ConnectionLost
from desktopvm.testing.doubles.certs import TlsFiles, make_tls
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running


def serve(tls: TlsFiles) -> WinRMTestServer:
    return WinRMTestServer(auth="basic", user="u", password="p", commands={},
                           tls=(tls.certificate, tls.key))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls: TlsFiles) -> Iterator[WinRMTestServer]:
    with running(serve(tls)) as started:
        yield started


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: refused


def test_fetch_certificate_reads_what_the_host_presents(server: WinRMTestServer,
                                                        tls: TlsFiles) -> None:
    facts = trust.fetch_certificate("127.0.0.1", server.port, timeout=5)
    der = ssl.PEM_cert_to_DER_cert(tls.certificate.read_text())
    assert facts.sha256 == hashlib.sha256(der).hexdigest()
    assert (facts.subject, facts.issuer) == ("CN=localhost", "CN=DesktopVM test CA")
    assert facts.host == "127.0.0.1"
    assert facts.not_before.endswith("+00:00") and facts.not_before < facts.not_after
    assert server.actions == []  # nothing was sent: the handshake only


def test_trust_comes_from_the_system_or_the_ca_file(server: WinRMTestServer,
                                                    tls: TlsFiles, tmp_path: Path) -> None:
    assert not trust.is_trusted("127.0.0.1", server.port, timeout=5)
    assert trust.is_trusted("127.0.0.1", server.port, ca_file=str(tls.ca), timeout=5)
    other = make_tls(tmp_path / "other", label="Somebody else")
    assert not trust.is_trusted("127.0.0.1", server.port, ca_file=str(other.ca), timeout=5)


def test_the_host_name_is_checked(tmp_path: Path) -> None:
    elsewhere = make_tls(tmp_path / "elsewhere", names=("hv01.example",))
    with running(serve(elsewhere)) as other:
        assert not trust.is_trusted("127.0.0.1", other.port, ca_file=str(elsewhere.ca),
                                    timeout=5)
        assert trust.fetch_certificate("127.0.0.1", other.port).subject == "CN=hv01.example"


def test_the_context_is_the_system_trust_store_plus_the_ca_file(tls: TlsFiles) -> None:
    import truststore

    context = trust.verify_context(str(tls.ca))
    assert isinstance(context, truststore.SSLContext)
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    with pytest.raises(ConnectionLost, match="CA file"):
        trust.verify_context(str(tls.key.parent / "missing.pem"))


def test_without_truststore_the_default_context_is_used(tls: TlsFiles,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "truststore", None)  # import fails
    context = trust.verify_context(str(tls.ca))
    assert type(context) is ssl.SSLContext and context.check_hostname


def test_dns_and_tcp_failures_say_which(server: WinRMTestServer) -> None:
    with pytest.raises(ConnectionLost, match=r"^cannot resolve nohost\.invalid$"):
        trust.fetch_certificate("nohost.invalid", 5986, timeout=5)
    port = closed_port()
    with pytest.raises(ConnectionLost, match=rf"^127\.0\.0\.1:{port} refused the connection$"):
        trust.fetch_certificate("127.0.0.1", port, timeout=5)
    with pytest.raises(ConnectionLost, match="refused"):
        trust.is_trusted("127.0.0.1", port, timeout=5)


def test_a_port_that_does_not_speak_tls_is_not_a_certificate() -> None:
    with socket.create_server(("127.0.0.1", 0)) as plain:
        port = plain.getsockname()[1]
        # The listener accepts (the kernel's backlog) but never answers the ClientHello.
        with pytest.raises(ConnectionLost, match="TLS handshake"):
            trust.fetch_certificate("127.0.0.1", port, timeout=0.5)


def test_silence_is_told_apart_from_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    # A host that drops packets cannot be made on loopback without root tricks; the socket
    # layer's TimeoutError (what create_connection raises then) stands in for it.
    def silent(address: tuple[str, int], timeout: float) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(ConnectionLost, match=r"^127\.0\.0\.1:5986 did not answer$") as caught:
        trust.fetch_certificate("127.0.0.1", 5986, timeout=1)
    assert "firewall" in caught.value.details
