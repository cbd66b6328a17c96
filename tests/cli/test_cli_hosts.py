"""desktopvm-cli host …, --host and CONNECTION:NAME, against real remote hosts on loopback.

Each remote host is the loopback HTTPS WS-Man server (pywinrm's real code path) running the
PowerShell double; passwords go to a real keyrings.alt file keyring in tmp; every command
runs through `desktopvm.cli.main` with a registry made from the settings file, as a real
invocation does. The local side is a memory backend that keeps its machines for the whole
test (this module is its registry plug-in), so QEMU being installed or not changes nothing.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import io
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("winrm")
pytest.importorskip("cryptography")
pytest.importorskip("keyrings.alt")

from desktopvm import paths
from desktopvm.cli import main
from desktopvm.connections import REMOTE_KINDS
from desktopvm.credentials import SERVICE
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, ProbeResult, no_progress
from desktopvm.registry import KNOWN_BACKENDS, KnownBackend, Registry
from desktopvm.settings import Settings, load_settings
from desktopvm.testing.doubles.certs import TlsFiles, make_tls
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from tests.keyring_fixture import TestKeyring
from tests.keyring_fixture import test_keyring as _keyring_fixture

test_keyring = _keyring_fixture  # the real file keyring in tmp, as a fixture of this module
USER, PASSWORD = "tester", "S3cret-pa$$ 'w0rd'"  # Basic auth is Latin-1 only (requests)
MEMORY = KnownBackend("memory", "Memory", __name__)
_LOCAL: dict[str, MemoryBackend] = {}


def detect(settings: Settings) -> ProbeResult:
    """This module as a registry plug-in: the test's memory backend is always there."""
    return ProbeResult("memory", True)


def open_backend(settings: Settings) -> MemoryBackend:
    """The same memory backend for every registry of one test."""
    return _LOCAL["backend"]


class Terminal(io.StringIO):
    """Typed answers, on what the CLI takes for a terminal."""

    def isatty(self) -> bool:
        return True


class Run:
    """Runs the CLI as a new process would: a registry from the settings file each time."""

    def __init__(self, known: tuple[KnownBackend, ...]) -> None:
        self.known = known
        self.seen: list[str] = []  # every line written, to prove no password is in any

    def __call__(self, *argv: str, stdin: str = "", tty: bool = False) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        registry = Registry(load_settings(), known=self.known)
        try:
            code = main(list(argv), registry=registry, out=out, err=err,
                        stdin=Terminal(stdin) if tty else io.StringIO(stdin))
        finally:
            registry.close()
        self.seen += [out.getvalue(), err.getvalue()]
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli(tmp_path: Path, test_keyring: TestKeyring) -> Iterator[Run]:
    _LOCAL["backend"] = MemoryBackend(tmp_path / "local")
    run = Run((*KNOWN_BACKENDS, MEMORY))
    yield run
    _LOCAL.clear()
    # The password went to the keyring and nowhere else.
    assert not any(PASSWORD in text for text in run.seen)
    config = paths.config_file()
    assert not config.exists() or PASSWORD not in config.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    """The double's state, for the server's PowerShell only: DESKTOPVM_POWERSHELL stays unset,
    so Hyper-V is not usable on this computer and every Hyper-V machine is remote."""
    host = FakeHost(tmp_path / "host")
    monkeypatch.setenv("DESKTOPVM_FAKE_HYPERV", host.environment["DESKTOPVM_FAKE_HYPERV"])
    monkeypatch.delenv("DESKTOPVM_POWERSHELL", raising=False)
    return host


@pytest.fixture
def server(fake_host: FakeHost, tls: TlsFiles) -> Iterator[WinRMTestServer]:
    with running(WinRMTestServer(auth="basic", user=USER, password=PASSWORD,
                                 commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                                 tls=(tls.certificate, tls.key))) as serving:
        yield serving


def host_id(server: WinRMTestServer) -> str:
    return f"hyperv@127.0.0.1:{server.port}"


def add(cli: Run, server: WinRMTestServer, *options: str, password: str = PASSWORD,
        answers: str | None = None) -> tuple[int, str, str]:
    """`host add` of the loopback host; with `answers`, stdin is a terminal that has them
    after the password line."""
    return cli("host", "add", "hyperv", "127.0.0.1", "--port", str(server.port), "--user", USER,
               "--auth", "basic", "--password-stdin", *options,
               stdin=password + "\n" + (answers or ""), tty=answers is not None)


def kept(keyring: TestKeyring, hid: str) -> str | None:
    """The password the test keyring holds for USER on host `hid`."""
    value = keyring.backend.get_password(SERVICE, f"{USER}@{hid}")  # type: ignore[attr-defined]
    return None if value is None else str(value)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sha256_of(certificate: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(certificate.read_text(encoding="ascii"))
    return hashlib.sha256(der).hexdigest()


def make_remote_machine(fake_host: FakeHost, cli: Run, hid: str, name: str) -> None:
    code, out, err = cli("create", "--host", hid, "--name", name, "--os", "debian12",
                         "--disk", "0")
    assert code == 0, err
    assert f"created {hid}:{name}" in out
    assert any(vm["Name"] == name for vm in fake_host.state()["vms"].values())


def make_local_machine(name: str) -> None:
    backend = _LOCAL["backend"]
    backend.create(defaults_for("other-linux", backend.capabilities(), name=name),
                   progress=no_progress, cancel=CancelToken())


def test_add_with_password_stdin_then_list_shows_remote_beside_local(
        cli: Run, server: WinRMTestServer, fake_host: FakeHost, tls: TlsFiles,
        test_keyring: TestKeyring):
    hid = host_id(server)
    code, out, err = add(cli, server, "--ca-file", str(tls.ca), "--label", "lab", "--no-test")
    assert (code, err) == (0, ""), err
    assert f"added {hid}" in out
    saved = json.loads(paths.config_file().read_text(encoding="utf-8"))["hosts"]
    assert [(h["address"], h["port"], h["username"], h["auth"]) for h in saved] == [
        ("127.0.0.1", server.port, USER, "basic")]
    assert kept(test_keyring, hid) == PASSWORD  # the keyring has it

    make_remote_machine(fake_host, cli, hid, "remote-web")
    make_local_machine("local-db")
    code, out, err = cli("list")
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:3] == ["HOST", "BACKEND", "NAME"]
    assert ["local", "memory", "local-db"] in [row[:3] for row in rows]
    assert [hid, "hyperv", "remote-web"] in [row[:3] for row in rows]
    data = json.loads(cli("list", "--json")[1])
    assert {(m["connection"], m["backend"], m["name"]) for m in data["machines"]} == {
        ("memory", "memory", "local-db"), (hid, "hyperv", "remote-web")}
    assert data["failures"] == []

    # CONNECTION:NAME reaches the remote machine; --host by label picks the same connection.
    code, out, err = cli("show", f"{hid}:remote-web")
    assert code == 0, err
    assert f"Host:      {hid} (lab)" in out
    code, out, err = cli("start", f"{hid}:remote-web", "--headless")
    assert (code, out) == (0, "remote-web: started\n"), err
    assert [vm["State"] for vm in fake_host.state()["vms"].values()] == ["Running"]
    code, out, err = cli("list", "--host", "lab", "--json")
    assert [m["name"] for m in json.loads(out)["machines"]] == ["remote-web"]


def test_host_list_and_show_tell_settings_state_and_host_facts(
        cli: Run, server: WinRMTestServer, tls: TlsFiles):
    hid = host_id(server)
    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    code, out, err = cli("host", "list")
    assert (code, err) == (0, "")
    header, row = out.splitlines()
    assert header.split() == ["ID", "LABEL", "USER", "AUTH", "TRANSPORT", "PINNED", "PASSWORD",
                              "STATE"]
    assert row.split()[:8] == [hid, "-", USER, "basic", f"https:{server.port}", "no", "kept",
                               "connected"]
    [listed] = json.loads(cli("host", "list", "--json")[1])
    assert (listed["id"], listed["kind"], listed["address"], listed["pinned"],
            listed["password"], listed["state"], listed["machines"]) == (
        hid, "hyperv", "127.0.0.1", False, "kept", "connected", 0)

    code, out, err = cli("host", "show", "127.0.0.1")  # an address naming one host
    assert code == 0, err
    assert "Hostname:    FAKE-HYPERV" in out and "CPUs:        8" in out
    assert "Memory:      32768 MiB" in out
    assert "Network:     nat Default Switch — Internal switch" in out
    assert "Network:     switch LAN ‘external’" in out
    assert "Password:    kept in the system keyring" in out
    shown = json.loads(cli("host", "show", hid, "--json")[1])
    assert shown["info"]["cpus"] == 8 and shown["state"] == "connected"
    assert {n["name"] for n in shown["info"]["networks"]} >= {"Default Switch"}


def test_an_unreachable_host_is_one_stderr_line_and_the_others_still_list(
        cli: Run, server: WinRMTestServer, tls: TlsFiles):
    port = unused_port()
    down = f"hyperv@127.0.0.1:{port}"
    code, _, err = cli("host", "add", "hyperv", "127.0.0.1", "--port", str(port), "--user",
                       USER, "--auth", "basic", "--password-stdin", "--no-test",
                       stdin=PASSWORD)
    assert code == 0, err
    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    make_local_machine("local-db")
    code, out, err = cli("list")
    assert code == 0
    assert "local-db" in out
    [line] = err.splitlines()
    assert line.startswith(f"{down}: unreachable: ")
    failures = json.loads(cli("list", "--json")[1])["failures"]
    assert [(f["connection"], f["state"]) for f in failures] == [(down, "unreachable")]

    code, out, _ = cli("host", "list")
    states = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "unreachable" in states[down] and "connected" in states[host_id(server)]
    assert code == 0  # one host answered
    code, out, _ = cli("host", "show", down)  # the settings, and why there is no more
    assert code == 1 and f"Id:          {down}" in out
    assert "State:       unreachable: " in out and "CPUs:" not in out
    code, out, err = cli("host", "trust", down)  # no certificate to read: nothing pinned
    assert (code, out) == (1, "") and err.startswith(f"error: 127.0.0.1:{port} refused")

    # With nothing on this computer and only the host that is down, nothing answered: exit 1.
    only_remote = Run((next(k for k in KNOWN_BACKENDS if k.name == "hyperv"),))
    code, out, err = only_remote("list", "--host", down)
    assert code == 1 and out == "" and err.startswith(f"{down}: unreachable: ")


def test_a_wrong_password_reports_authentication_failed(cli: Run, server: WinRMTestServer,
                                                        tls: TlsFiles):
    hid = host_id(server)
    code, _, err = add(cli, server, "--ca-file", str(tls.ca), "--no-test",
                       password="not-the-password")
    assert code == 0, err
    code, out, err = cli("list")
    assert code == 0  # the memory backend answered
    [line] = err.splitlines()
    assert line.startswith(f"{hid}: authentication failed: ")
    code, out, _ = cli("host", "list")
    assert "authentication failed" in out.splitlines()[1]
    assert code == 1  # the only host did not answer
    # The right password, given with edit, fixes it.
    code, _, err = cli("host", "edit", hid, "--password-stdin", "--no-test",
                       stdin=PASSWORD + "\n")
    assert code == 0, err
    assert cli("list")[2] == ""


def test_trust_pins_the_certificate_and_refuses_a_wrong_fingerprint(
        cli: Run, server: WinRMTestServer, fake_host: FakeHost, tls: TlsFiles):
    hid = host_id(server)
    assert add(cli, server, "--no-test")[0] == 0  # no CA file: the test CA is not trusted
    code, _, err = cli("list")
    assert "certificate not trusted" in err

    real = sha256_of(tls.certificate)
    wrong = "ab" * 32
    code, out, err = cli("host", "trust", hid, "--fingerprint", wrong)
    assert code == 1 and "REFUSED" in err and real in err
    assert f"SHA-256:  {real[:2].upper()}:" in out  # what the user is shown
    assert load_settings().host(hid).pinned_sha256 == ""  # type: ignore[union-attr]
    code, out, err = cli("host", "trust", hid)  # not a terminal: nothing pinned without --fp
    assert code == 1 and f"--fingerprint {real}" in err
    assert load_settings().host(hid).pinned_sha256 == ""  # type: ignore[union-attr]

    code, out, err = cli("host", "trust", hid, "--fingerprint", real.upper())
    assert code == 0, err
    assert "certificate pinned" in out
    assert load_settings().host(hid).pinned_sha256 == real  # type: ignore[union-attr]
    make_remote_machine(fake_host, cli, hid, "pinned-vm")
    code, out, err = cli("list", "--host", hid)
    assert code == 0 and err == "" and "pinned-vm" in out
    assert "yes" in cli("host", "list")[1].splitlines()[1].split()  # PINNED
    assert "already pinned" in cli("host", "trust", hid)[1]

    # Edit keeps the pin for a new label; a new address is another host: the pin goes.
    assert cli("host", "edit", hid, "--label", "lab")[0] == 0
    assert load_settings().host(hid).pinned_sha256 == real  # type: ignore[union-attr]
    code, out, err = cli("host", "edit", hid, "--address", "localhost", "--no-test")
    assert code == 0, err
    moved = load_settings().host(f"hyperv@localhost:{server.port}")
    assert moved is not None and moved.pinned_sha256 == "" and moved.label == "lab"
    assert load_settings().host(hid) is None
    [listed] = json.loads(cli("host", "list", "--json")[1])
    # The password moved along; the certificate must be trusted again for the new name.
    assert (listed["password"], listed["state"]) == ("kept", "certificate not trusted")


def test_remove_keeps_the_password_unless_asked_and_never_touches_machines(
        cli: Run, server: WinRMTestServer, fake_host: FakeHost, tls: TlsFiles,
        test_keyring: TestKeyring):
    hid = host_id(server)
    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    make_remote_machine(fake_host, cli, hid, "stays")
    code, _, err = cli("host", "remove", hid)  # stdin is not a terminal
    assert code == 2 and "--yes" in err
    assert load_settings().host(hid) is not None

    code, out, err = cli("host", "remove", hid, "--yes")
    assert code == 0, err
    assert "machines were not touched" in out and "password stays" in out
    assert load_settings().hosts == ()
    assert kept(test_keyring, hid) == PASSWORD
    assert [vm["Name"] for vm in fake_host.state()["vms"].values()] == ["stays"]

    # Added back: the kept password is used (no --password-stdin needed).
    code, _, err = cli("host", "add", "hyperv", "127.0.0.1", "--port", str(server.port),
                       "--user", USER, "--auth", "basic", "--ca-file", str(tls.ca), "--no-test")
    assert code == 0, err
    code, out, err = cli("host", "remove", hid, "--yes", "--forget-password")
    assert code == 0, err
    assert "password was removed" in out
    assert kept(test_keyring, hid) is None


def test_forget_password_and_what_add_refuses(cli: Run, server: WinRMTestServer,
                                              tls: TlsFiles, test_keyring: TestKeyring):
    hid = host_id(server)
    code, _, err = cli("host", "add", "hyperv", "127.0.0.1", "--user", USER, "--no-test")
    assert code == 2 and "--password-stdin" in err  # no password, and none kept
    code, _, err = cli("host", "add", "hyperv", "bad host", "--user", USER, "--no-test",
                       "--password-stdin", stdin=PASSWORD)
    assert code == 2 and "not a host name or IP address" in err
    code, _, err = cli("host", "add", "hyperv", "127.0.0.1", "--user", USER, "--http",
                       "--auth", "basic", "--no-test", "--password-stdin", stdin=PASSWORD)
    assert code == 2 and "plain HTTP" in err
    for kind in sorted(set(REMOTE_KINDS) - {"hyperv"}):  # no NTLM sealing over HTTP there
        code, _, err = cli("host", "add", kind, "127.0.0.1", "--user", USER, "--http",
                           "--no-test", "--password-stdin", stdin=PASSWORD)
        assert code == 2 and "HTTPS only" in err
    assert load_settings().hosts == ()
    assert kept(test_keyring, hid) is None and kept(test_keyring, "hyperv@127.0.0.1") is None

    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    code, _, err = add(cli, server, "--no-test")
    assert code == 2 and "already added" in err
    code, out, _ = cli("host", "forget-password", hid)
    assert code == 0 and "password removed" in out
    assert PASSWORD not in test_keyring.path.read_text(encoding="utf-8")
    assert "no password was kept" in cli("host", "forget-password", hid)[1]
    code, _, err = cli("list", "--host", hid)
    assert code == 1 and "authentication failed" in err and "No password" in err


def test_host_picks_one_connection_or_says_which(cli: Run, server: WinRMTestServer,
                                                  tls: TlsFiles):
    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    other = unused_port()
    assert cli("host", "add", "hyperv", "127.0.0.1", "--port", str(other), "--user", USER,
               "--auth", "basic", "--no-test", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, _, err = cli("create", "--host", "127.0.0.1", "--name", "x")
    assert code == 2 and "names several hosts" in err and host_id(server) in err
    code, _, err = cli("create", "--host", "hv99", "--name", "x")
    assert code == 2 and "no host 'hv99'" in err
    code, _, err = cli("create", "--host", host_id(server), "--backend", "memory", "--name", "x")
    assert code == 2


def steps(out: str) -> list[str]:
    """The ✓/✗ lines of a Test connection, as 'mark name'."""
    return [line.split(":")[0] for line in out.splitlines() if line[:1] in "✓✗"]


def test_add_tests_the_host_and_prints_each_step(cli: Run, server: WinRMTestServer,
                                                 tls: TlsFiles, caplog: pytest.LogCaptureFixture):
    hid = host_id(server)
    caplog.set_level(logging.DEBUG)  # what --verbose would show, every library's included
    code, out, err = add(cli, server, "--ca-file", str(tls.ca))
    assert (code, err) == (0, ""), err
    assert steps(out)[:6] == ["✓ Transport security", "✓ DNS", "✓ TCP", "✓ TLS",
                              "✓ Authentication", "✓ WinRM shell"]
    assert all(step.startswith("✓") for step in steps(out))
    assert out.splitlines()[-1] == f"added {hid}"
    code, out, _ = cli("-v", "host", "test", hid)
    assert code == 0 and "✓ Hyper-V" in steps(out)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert caplog.records and not any(secret in caplog.text for secret in (PASSWORD, basic))


def test_add_with_a_wrong_password_saves_nothing(cli: Run, server: WinRMTestServer,
                                                 tls: TlsFiles, test_keyring: TestKeyring):
    code, out, err = add(cli, server, "--ca-file", str(tls.ca), password="wrong-password")
    assert code == 1
    assert steps(out)[-1] == "✗ Authentication" and "  fix: Check the user name" in out
    assert err.startswith("error: not added: Authentication failed")
    assert load_settings().hosts == () and kept(test_keyring, host_id(server)) is None


def test_a_host_that_is_down_is_saved_with_a_warning(cli: Run, test_keyring: TestKeyring):
    port = unused_port()
    down = f"hyperv@127.0.0.1:{port}"
    code, out, err = cli("host", "add", "hyperv", "127.0.0.1", "--port", str(port), "--user",
                         USER, "--auth", "basic", "--password-stdin", stdin=PASSWORD)
    assert code == 0  # added: the exit code says whether the host was saved
    assert steps(out)[-1] == "✗ TCP" and "fix: WinRM is not listening" in out
    assert f"added {down}, but it is not ready" in out
    assert err.startswith(f"warning: {down}: TCP failed: ")
    assert load_settings().host(down) is not None and kept(test_keyring, down) == PASSWORD
    code, out, _ = cli("host", "test", down)
    assert code == 1 and steps(out)[-1] == "✗ TCP"


def test_an_untrusted_certificate_is_saved_only_once_the_user_trusts_it(
        cli: Run, server: WinRMTestServer, tls: TlsFiles, test_keyring: TestKeyring):
    hid, real = host_id(server), sha256_of(tls.certificate)
    code, out, err = add(cli, server)  # no CA file: the test CA is not trusted; no terminal
    assert code == 1 and steps(out)[-1] == "✗ TLS"
    assert "Subject:  CN=localhost" in out and "Issuer:   CN=DesktopVM test CA" in out
    assert "Valid:" in out and real[:2].upper() + ":" in out
    assert f"--trust {real}" in err and "not added" in err
    assert load_settings().hosts == () and kept(test_keyring, hid) is None

    code, out, err = add(cli, server, "--trust", "cd" * 32)
    assert code == 1 and "REFUSED" in err and load_settings().hosts == ()
    code, out, err = add(cli, server, answers="n\n")  # asked on a terminal; says no
    assert code == 1 and "Trust this certificate" in err and load_settings().hosts == ()

    code, out, err = add(cli, server, answers="y\n")  # says yes: pinned, tested again, saved
    assert code == 0, err
    assert steps(out)[-1].startswith("✓") and "✓ Authentication" in steps(out)
    assert load_settings().host(hid).pinned_sha256 == real  # type: ignore[union-attr]
    assert cli("host", "remove", hid, "--yes")[0] == 0
    code, out, err = add(cli, server, "--trust", real)  # or with --trust: no question
    assert code == 0, err
    assert load_settings().host(hid).pinned_sha256 == real  # type: ignore[union-attr]


def test_a_changed_certificate_is_refused_loudly(cli: Run, server: WinRMTestServer,
                                                 tls: TlsFiles):
    hid, real = host_id(server), sha256_of(tls.certificate)
    # The host was trusted with another certificate: what it presents now has changed.
    assert add(cli, server, "--trust", "ef" * 32, "--no-test")[0] == 0
    code, out, _ = cli("host", "test", hid)
    assert code == 1 and steps(out)[-1] == "✗ TLS" and "CHANGED" in out
    code, _, err = cli("list", "--host", hid)
    assert code == 1 and err.startswith(f"{hid}: certificate not trusted")
    code, out, err = cli("host", "trust", hid)  # no terminal: nothing changes
    assert code == 1 and "CHANGED since you trusted it" in err
    assert load_settings().host(hid).pinned_sha256 == "ef" * 32  # type: ignore[union-attr]
    code, out, err = cli("host", "trust", hid, stdin="n\n", tty=True)  # asked; says no
    assert code == 1 and "Trust this certificate" in err and "not pinned" in err
    assert load_settings().host(hid).pinned_sha256 == "ef" * 32  # type: ignore[union-attr]
    code, out, err = cli("host", "trust", hid, stdin="y\n", tty=True)  # renewed on purpose
    assert code == 0 and "CHANGED" in err and "certificate pinned" in out
    assert load_settings().host(hid).pinned_sha256 == real  # type: ignore[union-attr]
    assert cli("list", "--host", hid)[0] == 0


def test_host_list_asks_every_host_at_once(cli: Run, server: WinRMTestServer, tls: TlsFiles):
    """A host that holds the connection without answering is listed first; it lets go only
    once the other host has been asked, which happens only if nobody waits for it."""
    released_by_the_other: list[bool] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = int(silent.getsockname()[1])

        def hold() -> None:
            connection, _ = silent.accept()
            silent.close()  # a second try is refused at once
            with connection:
                for _ in range(200):  # up to 10 s, then give up (a serial `host list`)
                    if server.actions:
                        break
                    threading.Event().wait(0.05)
                released_by_the_other.append(bool(server.actions))

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert cli("host", "add", "hyperv", "127.0.0.1", "--port", str(port), "--user", USER,
                   "--auth", "basic", "--password-stdin", "--no-test", stdin=PASSWORD)[0] == 0
        assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
        code, out, _ = cli("host", "list")
        holder.join()
    assert released_by_the_other == [True]
    assert code == 0
    states = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "connected (0 machines)" in states[host_id(server)]
    assert "connected" not in states[f"hyperv@127.0.0.1:{port}"]


def test_steps_fit_an_output_that_cannot_hold_check_marks(cli: Run, server: WinRMTestServer,
                                                          tls: TlsFiles):
    """Windows writes a redirected stdout in its ANSI code page, which has no ✓ or ✗."""
    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="cp1252")
    registry = Registry(load_settings(), known=cli.known)
    try:
        code = main(["host", "test", host_id(server)], registry=registry, out=out,
                    err=io.StringIO())
    finally:
        registry.close()
    out.flush()
    assert code == 0
    assert "ok Authentication: tester was accepted" in raw.getvalue().decode("cp1252")


def test_on_a_terminal_the_password_is_asked_only_when_needed(
        cli: Run, server: WinRMTestServer, tls: TlsFiles, test_keyring: TestKeyring,
        monkeypatch: pytest.MonkeyPatch):
    asked: list[str] = []

    def typed(prompt: str, stream: object = None) -> str:  # the user at getpass's prompt
        asked.append(prompt)
        return PASSWORD

    monkeypatch.setattr(getpass, "getpass", typed)
    hid = host_id(server)
    code, out, err = cli("host", "add", "hyperv", "127.0.0.1", "--port", str(server.port),
                         "--user", USER, "--auth", "basic", "--ca-file", str(tls.ca), tty=True)
    assert code == 0, err
    assert asked == [f"Password for {USER} on 127.0.0.1: "]
    assert kept(test_keyring, hid) == PASSWORD and "✓ Authentication" in steps(out)
    assert cli("host", "edit", hid, "--label", "lab", tty=True)[0] == 0
    assert cli("host", "edit", hid, "--auth", "basic", "--no-test", tty=True)[0] == 0
    assert len(asked) == 1  # the keyring entry stayed: nothing to ask


def test_paths_for_a_remote_host_are_the_hosts_own(cli: Run, server: WinRMTestServer,
                                                   fake_host: FakeHost, tls: TlsFiles):
    """An ISO or an export on a remote host is not looked for here, nor made absolute here."""
    hid = host_id(server)
    assert add(cli, server, "--ca-file", str(tls.ca), "--no-test")[0] == 0
    code, _, err = cli("create", "--host", hid, "--name", "w", "--disk", "0", "--iso",
                       r"C:\ISOs\debian.iso")
    assert code == 0, err
    [created] = [e["args"] for e in fake_host.log() if e["op"] == "create_vm"]
    assert [d["Path"] for d in created["DvdDrives"]] == [r"C:\ISOs\debian.iso"]
    code, _, err = cli("import", r"D:\Exports\web", "--host", hid)
    assert code == 1  # the host looked, not this computer
    assert err.startswith("error: Hyper-V could not import the machine: No exported Hyper-V "
                          r"machine (.vmcx) in D:\Exports\web")
