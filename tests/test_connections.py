"""Connections: host settings, connection ids, references, the monitor's states and back-off."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from desktopvm.connections import (
    Backoff,
    Check,
    Diagnosis,
    HostConfig,
    State,
    Status,
    host_from_data,
    is_remote,
    kind_of,
    normalize_fingerprint,
)
from desktopvm.monitor import ConnectionMonitor
from desktopvm.protocol import (
    AuthenticationFailed,
    BackendUnavailable,
    CertificateNotTrusted,
    CommandFailed,
    ConnectionLost,
)
from desktopvm.registry import Registry, split_reference
from desktopvm.settings import Settings, load_settings, save_settings

FINGERPRINT = "ab" * 32


def test_ids_name_kind_and_address_and_only_a_non_default_port():
    assert HostConfig("hyperv", "HV01.lab.example").id == "hyperv@hv01.lab.example"
    assert HostConfig("hyperv", "hv01", port=5986).id == "hyperv@hv01"
    assert HostConfig("hyperv", "hv01", port=5985, https=False).id == "hyperv@hv01"
    assert HostConfig("hyperv", "hv01", port=15986).id == "hyperv@hv01:15986"
    assert HostConfig("hyperv", "fe80::1").id == "hyperv@fe80::1"
    assert kind_of("hyperv@hv01") == "hyperv" and kind_of("qemu") == "qemu"
    assert is_remote("hyperv@hv01") and not is_remote("hyperv")


@pytest.mark.parametrize("address", ["", " hv01", "hv01;rm", "a..b", "-x", "hv01\n", "x" * 300,
                                     "hv01/wsman", "user@hv01", "hv01:5985", "10.0.0.5:5986",
                                     "fe80::1::2"])
def test_addresses_that_are_not_host_names_are_refused(address: str):
    with pytest.raises(ValueError, match="host name or IP address"):
        HostConfig("hyperv", address)


def test_unknown_kind_port_auth_and_fingerprint_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown host kind 'esx'"):
        HostConfig("esx", "hv01")
    with pytest.raises(ValueError, match="between 1 and 65535"):
        HostConfig("hyperv", "hv01", port=70000)
    with pytest.raises(ValueError, match="unknown authentication"):
        HostConfig("hyperv", "hv01", auth="digest")
    with pytest.raises(ValueError, match="needs a client certificate"):
        HostConfig("hyperv", "hv01", auth="certificate")
    with pytest.raises(ValueError, match="64 hexadecimal"):
        HostConfig("hyperv", "hv01", pinned_sha256="abcd")
    with pytest.raises(ValueError, match="Basic authentication over plain HTTP"):
        HostConfig("hyperv", "hv01", auth="basic", https=False)
    with pytest.raises(ValueError, match="HTTPS only"):
        HostConfig("esxi", "esx01", https=False)
    assert HostConfig("hyperv", "hv01", auth="kerberos", https=False).effective_port == 5985
    colon = ":".join(["AB"] * 32)
    assert HostConfig("hyperv", "hv01", pinned_sha256=colon).pinned_sha256 == FINGERPRINT
    assert normalize_fingerprint(f" {colon} ") == FINGERPRINT


def test_hosts_go_to_the_settings_file_without_any_secret_and_come_back(tmp_path: Path):
    host = HostConfig("hyperv", "hv01", username="LAB\\admin", pinned_sha256=FINGERPRINT,
                      label="Lab server")
    path = tmp_path / "config.json"
    save_settings(Settings().with_host(host), path)
    data = json.loads(path.read_text("utf-8"))
    assert data["hosts"] == [host.to_data()]
    assert not [key for key in data["hosts"][0] if "password" in key or "secret" in key]
    assert load_settings(path).hosts == (host,)


def test_a_broken_host_entry_is_skipped_and_keeps_every_other_setting(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "config.json"
    good = HostConfig("hyperv", "hv02").to_data()
    path.write_text(json.dumps({"refresh_interval_s": 9, "hosts": [
        {"kind": "hyperv", "address": "bad address"}, {"kind": "hyperv"}, "text",
        {"kind": "hyperv", "address": "hv02", "port": "5986"}, good, good]}), "utf-8")
    with caplog.at_level(logging.WARNING):
        settings = load_settings(path)
    assert settings.refresh_interval_s == 9
    assert [h.id for h in settings.hosts] == ["hyperv@hv02"]
    assert len([r for r in caplog.records if "ignoring a host" in r.getMessage()]) == 4


def test_hosts_are_added_replaced_in_place_and_removed():
    a, b = HostConfig("hyperv", "a"), HostConfig("hyperv", "b")
    settings = Settings().with_host(a).with_host(b)
    edited = settings.with_host(HostConfig("hyperv", "c"), replacing=a.id)
    assert [h.id for h in edited.hosts] == ["hyperv@c", "hyperv@b"]
    assert edited.without_host("hyperv@b").hosts == (HostConfig("hyperv", "c"),)
    with pytest.raises(ValueError, match="listed twice"):
        Settings(hosts=(a, a))


def test_host_fields_of_the_wrong_type_are_refused():
    with pytest.raises(ValueError, match="port must be int"):
        host_from_data({"kind": "hyperv", "address": "hv01", "port": True})
    with pytest.raises(ValueError, match="https must be bool"):
        host_from_data({"kind": "hyperv", "address": "hv01", "https": "yes"})
    assert host_from_data({"kind": "hyperv", "address": "hv01", "future": 1}).id == "hyperv@hv01"


def test_references_take_the_longest_connection_id_so_ports_and_ipv6_work():
    names = ["qemu", "hyperv", "hyperv@hv01", "hyperv@hv01:15986", "hyperv@fe80::1"]
    assert split_reference("hyperv@hv01:15986:web", names) == ("hyperv@hv01:15986", "web")
    assert split_reference("hyperv@hv01:web:1", names) == ("hyperv@hv01", "web:1")
    assert split_reference("hyperv@fe80::1:web", names) == ("hyperv@fe80::1", "web")
    assert split_reference("hyperv:web", names) == ("hyperv", "web")
    assert split_reference("other:web", names) == ("", "other:web")
    assert split_reference("hyperv@hv01:", names) == ("", "hyperv@hv01:")


def test_the_registry_lists_local_backends_then_hosts_and_opens_a_host_without_contacting_it():
    host = HostConfig("hyperv", "hv01.invalid", username="admin", label="Lab")
    registry = Registry(Settings().with_host(host))
    assert registry.names()[-1] == "hyperv@hv01.invalid"
    assert registry.display_name("hyperv@hv01.invalid") == "Lab"
    assert registry.display_name("hyperv") == "Hyper-V"
    backend = registry.open(host.id)
    assert (backend.name, backend.host) == ("hyperv@hv01.invalid", "hv01.invalid")
    assert registry.open(host.id) is backend  # opened once
    assert registry.monitor.statuses() == {}  # nothing was contacted
    assert not registry.probe("hyperv@nothere").available
    with pytest.raises(BackendUnavailable, match="no host"):
        registry.open("hyperv@nothere")


def test_a_disconnected_host_is_not_contacted_and_states_survive_new_settings():
    host = HostConfig("hyperv", "hv01.invalid")
    registry = Registry(Settings().with_host(host))
    registry.monitor.disconnect(host.id)
    listing = registry.list_everything()
    assert host.id not in listing.machines and host.id not in listing.failures
    assert host.id not in [b.name for b in registry.available()]
    with pytest.raises(BackendUnavailable, match="disconnected"):
        registry.list_machines(host.id)
    newer = registry.with_settings(registry.settings.replace(refresh_interval_s=7))
    assert newer.monitor.disconnected(host.id)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_unreachable_host_is_retried_after_a_growing_back_off_then_recovers():
    clock = Clock()
    monitor = ConnectionMonitor(clock)
    seen: list[State] = []
    monitor.subscribe(lambda _id, status: seen.append(status.state))
    calls = []

    def down() -> list[str]:
        calls.append(clock.now)
        raise ConnectionLost("Cannot reach WinRM on hv01", "ConnectionRefusedError")

    with pytest.raises(ConnectionLost):
        monitor.guarded("hyperv@hv01", down)
    status = monitor.status("hyperv@hv01")
    assert status.state is State.UNREACHABLE and status.retry_at == 102.0
    assert "retrying in" in status.line() or status.retry_in(clock.now) == 2.0
    with pytest.raises(ConnectionLost):  # not due: the remembered failure, nothing contacted
        monitor.guarded("hyperv@hv01", down)
    assert calls == [100.0]
    clock.now = 102.0
    with pytest.raises(ConnectionLost):
        monitor.guarded("hyperv@hv01", down)
    assert monitor.status("hyperv@hv01").retry_at == 106.0  # 4 s after the second failure
    clock.now = 106.0
    assert monitor.guarded("hyperv@hv01", lambda: ["web"]) == ["web"]
    assert monitor.status("hyperv@hv01").state is State.CONNECTED
    assert seen == [State.UNREACHABLE, State.UNREACHABLE, State.CONNECTED]
    assert Backoff(2, 300).next_delay() == 2
    backoff = Backoff(2, 300)
    assert [backoff.next_delay() for _ in range(10)][-1] == 300


@pytest.mark.parametrize(("error", "state"), [
    (AuthenticationFailed("hv01 refused the credentials of admin"), State.AUTH_FAILED),
    (CertificateNotTrusted("The WinRM certificate of hv01 is not trusted"), State.UNTRUSTED),
])
def test_wrong_credentials_and_untrusted_certificates_wait_for_the_user(error, state):
    clock = Clock()
    monitor = ConnectionMonitor(clock)
    with pytest.raises(type(error)):
        monitor.guarded("hyperv@hv01", lambda: (_ for _ in ()).throw(error))
    assert monitor.status("hyperv@hv01").state is state
    assert monitor.status("hyperv@hv01").fix
    clock.now += 10_000
    assert not monitor.due("hyperv@hv01")  # a wrong password tried again can lock the account
    monitor.reconnect("hyperv@hv01")
    assert monitor.due("hyperv@hv01")


def test_a_failed_request_on_a_host_that_answered_keeps_it_connected():
    monitor = ConnectionMonitor(Clock())
    failure = CommandFailed("Get-VM failed")
    with pytest.raises(CommandFailed):
        monitor.guarded("hyperv@hv01", lambda: (_ for _ in ()).throw(failure))
    status = monitor.status("hyperv@hv01")
    assert (status.state, status.reason) == (State.CONNECTED, "Get-VM failed")
    assert monitor.due("hyperv@hv01")


def test_a_broken_listener_does_not_stop_the_others():
    monitor = ConnectionMonitor(Clock())
    seen = []
    def broken(_id: str, _status: Status) -> None:
        raise ZeroDivisionError

    monitor.subscribe(broken)
    unsubscribe = monitor.subscribe(lambda i, s: seen.append((i, s.state)))
    monitor.disconnect("hyperv@hv01")
    unsubscribe()
    monitor.reconnect("hyperv@hv01")
    assert seen == [("hyperv@hv01", State.DISCONNECTED)]


def test_a_diagnosis_is_ok_only_when_every_step_passed():
    passed = Check("DNS", True, "10.0.0.5")
    failed = Check("TCP", False, "connection refused", "Enable-PSRemoting")
    assert Diagnosis("hyperv@hv01", (passed,)).ok
    assert not Diagnosis("hyperv@hv01", ()).ok
    diagnosis = Diagnosis("hyperv@hv01", (passed, failed))
    assert not diagnosis.ok and diagnosis.failure == failed


def test_a_request_under_way_when_the_user_disconnects_does_not_reconnect():
    monitor = ConnectionMonitor(Clock())

    def answered_after_disconnect() -> list[str]:
        monitor.disconnect("hyperv@hv01")
        return ["web"]

    def failed_after_disconnect() -> list[str]:
        monitor.disconnect("hyperv@hv01")
        raise ConnectionLost("the session was closed")

    monitor.guarded("hyperv@hv01", answered_after_disconnect)
    assert monitor.status("hyperv@hv01").state is State.DISCONNECTED
    monitor.reconnect("hyperv@hv01")
    with pytest.raises(ConnectionLost):
        monitor.guarded("hyperv@hv01", failed_after_disconnect)
    assert monitor.status("hyperv@hv01").state is State.DISCONNECTED
    assert not monitor.due("hyperv@hv01")


def test_a_local_backend_is_asked_every_time_without_back_off(monkeypatch):
    registry = Registry(Settings())
    calls = []

    class Failing:
        def list_machines(self):
            calls.append(1)
            raise BackendUnavailable("VBoxManage timed out")

    monkeypatch.setattr(registry, "open", lambda name: Failing())
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            registry.list_machines("virtualbox")
    assert len(calls) == 2  # the second refresh asked again, not a remembered failure
