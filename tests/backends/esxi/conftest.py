"""Fixtures for the ESXi backend's tests: one simulator per kind per test session, and the
WebMKS endpoint (the console window's tests use it too)."""

from __future__ import annotations

import contextlib
import http
import json
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from backends.esxi import open_remote
from backends.esxi.backend import EsxiBackend
from desktopvm.protocol import CancelToken, MachineNotFound, PowerState, no_progress
from desktopvm.testing.doubles.esxi import sim
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer


def _started(tmp_path_factory: pytest.TempPathFactory, label: str, *options: str) \
        -> Iterator[sim.Sim]:
    reason = sim.missing_reason()
    if reason:
        pytest.skip(reason)
    running = sim.start(tmp_path_factory.mktemp(label), *options)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def esx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A standalone ESXi host (vcsim's ESX model: two machines, one datastore)."""
    yield from _started(tmp_path_factory, "vcsim-esx")


@pytest.fixture(scope="session")
def vpx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A vCenter (vcsim's VPX model: a cluster of three hosts and a standalone host, eight
    machines per resource pool)."""
    yield from _started(tmp_path_factory, "vcsim-vpx", "-vpx", "-vm", "8")


@pytest.fixture(scope="session")
def free_esx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim.Sim]:
    """A standalone ESXi host on the free licence: every change refused (RestrictedVersion)."""
    yield from _started(tmp_path_factory, "vcsim-free", "-free")


@pytest.fixture
def esx_backend(esx: sim.Sim) -> Iterator[EsxiBackend]:
    yield from opened(esx)


@pytest.fixture
def vpx_backend(vpx: sim.Sim) -> Iterator[EsxiBackend]:
    yield from opened(vpx)


def opened(simulator: sim.Sim) -> Iterator[EsxiBackend]:
    """The backend logged in to `simulator`, logged out after (for fixtures)."""
    backend = open_remote(simulator.host(), password=sim.PASSWORD)
    try:
        yield backend
    finally:
        backend.close()


def vcsim_call(esx: sim.Sim, path: str, body: bytes | None = None) -> Any:
    """GET (or POST `body` to) one of main.go's /desktopvm/ test endpoints."""
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    with urllib.request.urlopen(urllib.request.Request(
            f"https://127.0.0.1:{esx.port}{path}", data=body), context=context,
            timeout=10) as answer:
        data = answer.read()
    return json.loads(data) if data else None


@pytest.fixture
def webmks(esx: sim.Sim, tmp_path: Path) -> Iterator[tuple[FakeVncServer, list[str], int]]:
    """A WebMKS endpoint (TLS with the simulator's certificate, sub-protocol "binary",
    admitting only the tickets vcsim issued, each once: VMware calls a WebMKS ticket "a one
    time use URL") in front of the scripted RFB server, set as vcsim's WebMKS address; yields
    the RFB server, the paths the endpoint was asked for, and its port."""
    rfb = FakeVncServer(tmp_path / "vnc.sock")
    asked: list[str] = []

    def admit(connection: ServerConnection, request: Any) -> Any:
        asked.append(request.path)
        ticket = request.path.removeprefix("/ticket/")
        if ticket not in vcsim_call(esx, "/desktopvm/tickets"):
            return connection.respond(http.HTTPStatus.FORBIDDEN, "unknown ticket\n")
        if asked.count(request.path) > 1:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "ticket already used\n")
        return None

    def bridge(connection: ServerConnection) -> None:
        assert connection.subprotocol == "binary"
        with socket.socket(socket.AF_UNIX) as vnc:
            vnc.connect(str(rfb.path))

            def down() -> None:
                with contextlib.suppress(OSError, Exception):
                    while data := vnc.recv(65536):
                        connection.send(data)
                connection.close()

            threading.Thread(target=down, daemon=True).start()
            with contextlib.suppress(Exception):
                for message in connection:
                    vnc.sendall(message if isinstance(message, bytes) else message.encode())
            with contextlib.suppress(OSError):
                vnc.shutdown(socket.SHUT_RDWR)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(esx.tls.certificate), str(esx.tls.key))
    server: Server = serve(bridge, "127.0.0.1", 0, ssl=context,
                           subprotocols=[Subprotocol("binary")], process_request=admit)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.socket.getsockname()[1]
    vcsim_call(esx, "/desktopvm/webmks", f"wss://127.0.0.1:{port}/ticket/".encode())
    try:
        yield rfb, asked, port
    finally:
        server.shutdown()
        rfb.close()


def removed(backend: EsxiBackend, machine_id: str) -> None:
    """A test's machine gone, with its disks (off first); one already gone is fine."""
    try:
        if backend.get_machine(machine_id).state is not PowerState.OFF:
            backend.power_off(machine_id)
        backend.delete(machine_id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())
    except MachineNotFound:
        pass
