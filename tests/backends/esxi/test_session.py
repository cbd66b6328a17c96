"""Connecting to a real SOAP server: TLS trust and pinning, login, expiry, a host that is down."""

from __future__ import annotations

import hashlib
import ssl

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from backends.esxi import open_remote
from backends.esxi.session import Session
from desktopvm import credentials
from desktopvm.protocol import (
    AuthenticationFailed,
    CertificateNotTrusted,
    ConnectionLost,
)
from desktopvm.testing.doubles.esxi import sim
from desktopvm.trust import connect
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)

pytestmark = pytest.mark.vcsim


def server_sha256(esx: sim.Sim) -> str:
    pem = esx.tls.certificate.read_text()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_the_password_comes_from_the_keyring(esx: sim.Sim,
                                             test_keyring: TestKeyring) -> None:  # noqa: F811
    host = esx.host()
    credentials.store_password(host, sim.PASSWORD)
    backend = open_remote(host)
    try:
        assert {m.name for m in backend.list_machines()} >= {"ha-host_VM0", "ha-host_VM1"}
    finally:
        backend.close()


def test_a_wrong_password_is_authentication_failed(esx: sim.Sim) -> None:
    backend = open_remote(esx.host(), password="not-the-password")
    with pytest.raises(AuthenticationFailed, match="refused the user name or password"):
        backend.list_machines()


def test_a_certificate_nobody_vouches_for_asks_the_user(esx: sim.Sim) -> None:
    backend = open_remote(esx.host(ca_file=""), password=sim.PASSWORD)
    with pytest.raises(CertificateNotTrusted) as caught:
        backend.list_machines()
    assert caught.value.certificate is not None
    assert caught.value.certificate.sha256 == server_sha256(esx)
    assert not caught.value.changed


def test_a_pinned_certificate_is_trusted_without_any_ca(esx: sim.Sim) -> None:
    backend = open_remote(esx.host(ca_file="", pinned_sha256=server_sha256(esx)),
                          password=sim.PASSWORD)
    try:
        assert backend.list_machines()
    finally:
        backend.close()


def test_a_different_pinned_certificate_is_refused_as_changed(esx: sim.Sim) -> None:
    backend = open_remote(esx.host(ca_file="", pinned_sha256="ab" * 32), password=sim.PASSWORD)
    with pytest.raises(CertificateNotTrusted) as caught:
        backend.list_machines()
    assert caught.value.changed
    assert caught.value.certificate is not None
    assert caught.value.certificate.sha256 == server_sha256(esx)


def test_a_host_that_is_down_is_connection_lost(esx: sim.Sim) -> None:
    # A port nobody listens on: bind-free discovery through the OS (connect refuses).
    port = _closed_port()
    backend = open_remote(esx.host(port=port), password=sim.PASSWORD)
    with pytest.raises(ConnectionLost):
        backend.list_machines()


def _closed_port() -> int:
    for port in range(47000, 47100):
        try:
            connect("127.0.0.1", port, timeout=1).close()
        except ConnectionLost:
            return port
    pytest.skip("no closed loopback port found in 47000-47099")


def test_an_expired_session_logs_in_again_once(esx: sim.Sim) -> None:
    backend = open_remote(esx.host(), password=sim.PASSWORD)
    try:
        backend.list_machines()
        ours = backend.session.service().content.sessionManager.currentSession.key
        # Another client (an administrator) ends our session, as an idle timeout would.
        context = ssl.create_default_context(cafile=str(esx.tls.ca))
        admin = SmartConnect(host="127.0.0.1", port=esx.port, user=sim.USER,
                             pwd=sim.PASSWORD, sslContext=context)
        try:
            admin.content.sessionManager.TerminateSession([ours])
        finally:
            Disconnect(admin)
        assert backend.list_machines()
        again = backend.session.service().content.sessionManager.currentSession.key
        assert again != ours
    finally:
        backend.close()


def test_the_session_logs_out_on_close(esx: sim.Sim) -> None:
    backend = open_remote(esx.host(), password=sim.PASSWORD)
    si = backend.session.service()
    backend.close()
    try:
        with pytest.raises(vim.fault.NotAuthenticated):
            si.content.sessionManager.currentSession  # noqa: B018  (the read is the test)
    finally:
        si._stub.DropConnections()


def test_a_closed_session_refuses_rather_than_logging_in_again(esx: sim.Sim) -> None:
    """Whatever still holds a closed backend's session (a console's Reconnect after the
    host's settings changed) is told so; it never logs in again behind the app's back."""
    logins: list[str] = []

    def password() -> str:
        logins.append("login")
        return sim.PASSWORD

    session = Session(esx.host(), password)
    session.about()
    session.close()
    with pytest.raises(ConnectionLost, match=r"was closed.*open the console again"):
        session.about()
    with pytest.raises(ConnectionLost, match="was closed"):
        session.service()
    assert logins == ["login"]
