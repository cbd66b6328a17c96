"""The host as a whole: probe, capabilities, the free licence, Test connection, cancel."""

from __future__ import annotations

import hashlib
import ssl

import pytest

from backends.esxi import detect, lifecycle, open_remote
from backends.esxi import test_connection as diagnose
from backends.esxi.backend import EsxiBackend
from desktopvm import credentials
from desktopvm.protocol import (
    CancelToken,
    OperationCancelled,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.testing.doubles.esxi import sim
from tests.backends.esxi.test_machines import spec
from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)

pytestmark = pytest.mark.vcsim


def test_esxi_is_never_a_local_backend() -> None:
    found = detect(Settings())
    assert not found.available and "add an ESXi host" in found.reason


def test_probe_names_the_product_and_api(esx_backend: EsxiBackend) -> None:
    found = esx_backend.probe()
    assert found.available
    assert "VMware ESXi 6.5.0" in found.version and "HostAgent" in found.version
    assert "read-only" not in found.version


def test_capabilities_come_from_the_host(esx_backend: EsxiBackend,
                                         vpx_backend: EsxiBackend) -> None:
    caps = esx_backend.capabilities()
    assert caps.max_cpus == esx_backend.facts().cpus
    assert caps.max_memory_mib == esx_backend.facts().memory_mib
    assert not caps.linked_clone and vpx_backend.capabilities().linked_clone
    info = esx_backend.host_info()
    assert [n.name for n in info.networks] == ["VM Network"]
    assert info.os.startswith("VMware ESXi")


def test_a_free_licence_host_is_read_only(free_esx: sim.Sim) -> None:
    backend = open_remote(free_esx.host(), password=sim.PASSWORD)
    try:
        assert backend.read_only
        found = backend.probe()
        assert found.available and "read-only" in found.version
        assert backend.list_machines()  # reading works
        with pytest.raises(UnsupportedOperation, match="allows reading only"):
            backend.create(spec("dvmtest-free"), progress=no_progress, cancel=CancelToken())
        # And if a write reaches the host anyway, its RestrictedVersion says the same.
        target = backend.list_machines()[0].id
        with pytest.raises(UnsupportedOperation, match="licence allows reading only"):
            lifecycle.power(backend.session, "power_off", target)
    finally:
        backend.close()


def test_a_paid_licence_host_is_not_read_only(esx_backend: EsxiBackend) -> None:
    assert not esx_backend.read_only


def test_a_cancelled_create_leaves_no_machine(esx_backend: EsxiBackend) -> None:
    before = {m.id for m in esx_backend.list_machines()}
    token = CancelToken()

    def cancel_when_under_way(fraction: float | None, stage: str) -> None:
        if stage.startswith("Creating"):
            token.cancel()  # the task is started right after this report

    with pytest.raises(OperationCancelled):
        esx_backend.create(spec("dvmtest-cancelled"), progress=cancel_when_under_way,
                           cancel=token)
    assert {m.id for m in esx_backend.list_machines()} == before
    already = CancelToken()
    already.cancel()
    with pytest.raises(OperationCancelled):
        esx_backend.create(spec("dvmtest-cancelled"), progress=no_progress, cancel=already)
    assert {m.id for m in esx_backend.list_machines()} == before


def test_connection_test_passes_every_step(esx: sim.Sim) -> None:
    diagnosis = diagnose(esx.host(), Settings(), sim.PASSWORD)
    assert diagnosis.ok, diagnosis.checks
    assert [c.name for c in diagnosis.checks] == ["DNS", "TCP", "TLS", "Login", "Licence"]
    assert diagnosis.certificate_trusted and diagnosis.version.startswith("VMware ESXi")


def test_connection_test_stops_at_the_password(esx: sim.Sim) -> None:
    diagnosis = diagnose(esx.host(), Settings(), "wrong")
    assert diagnosis.failure is not None and diagnosis.failure.name == "Login"
    assert "wrong" not in repr(diagnosis)


def test_connection_test_shows_an_untrusted_certificate(esx: sim.Sim) -> None:
    diagnosis = diagnose(esx.host(ca_file=""), Settings(), sim.PASSWORD)
    assert diagnosis.failure is not None and diagnosis.failure.name == "TLS"
    der = ssl.PEM_cert_to_DER_cert(esx.tls.certificate.read_text())
    assert diagnosis.certificate is not None
    assert diagnosis.certificate.sha256 == hashlib.sha256(der).hexdigest()
    assert not diagnosis.certificate_trusted
    pinned = esx.host(ca_file="", pinned_sha256=diagnosis.certificate.sha256)
    assert diagnose(pinned, Settings(), sim.PASSWORD).ok


def test_connection_test_says_when_the_licence_is_read_only(free_esx: sim.Sim) -> None:
    diagnosis = diagnose(free_esx.host(), Settings(), sim.PASSWORD)
    assert diagnosis.failure is not None and diagnosis.failure.name == "Licence"
    assert "read-only" in diagnosis.failure.detail


def test_certificate_login_is_refused_clearly(esx: sim.Sim) -> None:
    with pytest.raises(ValueError, match="needs a client certificate"):
        esx.host(auth="certificate")  # refused by the host entry itself, before any connect


def test_the_registry_opens_an_added_host_with_the_kept_password(
        esx: sim.Sim, test_keyring: TestKeyring) -> None:  # noqa: F811
    host = esx.host()
    credentials.store_password(host, sim.PASSWORD)
    registry = Registry(Settings(hosts=(host,)))
    try:
        assert registry.probe(host.id).available
        names = {m.name for m in registry.list_machines(host.id)}
        assert {"ha-host_VM0", "ha-host_VM1"} <= names
        assert registry.display_name(host.id) == "127.0.0.1 (VMware ESXi / vCenter)"
        assert registry.test_host(host).ok
        assert not registry.probe("esxi").available  # never a local backend
    finally:
        registry.close()
