"""Typing into a machine (PutUsbScanCodes, vSphere 6.5+), screenshots (CreateScreenshot_Task:
the host writes a PNG beside the machine, which is downloaded from the datastore and then
deleted there), and the native console: VMware Remote Console (a vmrc:// link) when it is
installed, else the host's web client in the browser; and the embedded console's way in:
AcquireTicket("webmks") names a WebSocket carrying RFB 3.8, opened as a socket our RFB client
reads (desktopvm.rfb.websocket_transport).
"""

from __future__ import annotations

import contextlib
import functools
import io
import shutil
import socket
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.esxi import datastores, inventory, tasks
from backends.esxi.keys import combo_event, event
from backends.esxi.placement import Facts
from backends.esxi.session import Session, tls_context, vim
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    ConnectionLost,
    ConsoleEndpoints,
    UnsupportedOperation,
    VncEndpoint,
    no_progress,
    states,
)
from desktopvm.protocol.keys import UnknownKey, text_to_combos
from desktopvm.protocol.states import Operation
from desktopvm.rfb.websocket_transport import WebSocketError, open_websocket

#: Key events per PutUsbScanCodes call: a long text goes in several calls.
BATCH = 64


def _send(session: Session, machine_id: str, events: list[object]) -> None:
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    states.require(Operation.CONSOLE, inventory.state_of(values.get("runtime.powerState")),
                   str(values.get("name", machine_id)))
    for start in range(0, len(events), BATCH):
        spec = vim.UsbScanCodeSpec(keyEvents=events[start:start + BATCH])
        session.run(functools.partial(_put, machine_id=machine_id, batch=spec), "Typing")


def _put(si: Any, machine_id: str, batch: Any) -> int:
    return int(inventory.vm(si, machine_id).PutUsbScanCodes(batch))


def send_keys(session: Session, machine_id: str, combos: Sequence[str]) -> None:
    """Each combination ('ctrl-alt-delete', 'enter') as one key event; one the host cannot
    send refuses them all before any is sent."""
    try:
        events = [combo_event(combo) for combo in combos]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    _send(session, machine_id, events)


def type_text(session: Session, machine_id: str, text: str) -> None:
    """Text typed on a US layout, one key event per character (checked whole first)."""
    try:
        events = [event(combo) for combo in text_to_combos(text, "ESXi")]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    _send(session, machine_id, events)


def webmks_url(session: Session, machine_id: str) -> tuple[str, str]:
    """The WebSocket (wss://HOST:PORT/ticket/TICKET) of a running machine's screen, and the
    machine's name; the ticket is good for one connection, soon."""
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    name = str(values.get("name", machine_id))
    states.require(Operation.CONSOLE, inventory.state_of(values.get("runtime.powerState")), name)
    ticket = session.run(lambda si: inventory.vm(si, machine_id).AcquireTicket("webmks"),
                         "Opening the console")
    if getattr(ticket, "url", None):  # vSphere 7.0.1 and later say it whole
        return str(ticket.url), name
    host = ticket.host or session.host.address
    return f"wss://{host}:{ticket.port or 443}/ticket/{ticket.ticket}", name


def open_webmks(session: Session, machine_id: str) -> socket.socket:
    """A socket carrying the machine's RFB stream (for desktopvm.rfb.RfbClient), over TLS
    trusted as the session is (CA file, or the pinned certificate)."""
    url, name = webmks_url(session, machine_id)
    ticket = url.partition("/ticket/")[2]
    try:
        return open_websocket(url, context=tls_context(session.host), timeout=session.timeout)
    except WebSocketError as error:
        # open_websocket leaves the ticket out of its own words; a library's message quoting
        # the URL is scrubbed here too (the ticket opens the screen until it expires).
        reason = str(error).replace(ticket, "…") if ticket else str(error)
        raise ConnectionLost(f"The console of {name} on {session.host.address} could not be "
                             "opened", reason) from error


VMRC_WINDOWS = r"C:\Program Files (x86)\VMware\VMware Remote Console\vmrc.exe"


def endpoints(session: Session, machine_id: str) -> ConsoleEndpoints:
    """A running machine's screen for the console window (an opener that fetches a fresh
    WebMKS ticket for each connection) and its native console: VMware Remote Console when
    installed (it asks for the password itself: none is put on its command line), else the
    web client."""
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    states.require(Operation.CONSOLE, inventory.state_of(values.get("runtime.powerState")),
                   str(values.get("name", machine_id)))
    host = session.host
    where = f"{host.address}:{host.effective_port}"
    user = urllib.parse.quote(host.username, safe="")
    return ConsoleEndpoints(
        vnc=VncEndpoint(opener=functools.partial(open_webmks, session, machine_id)),
        native_viewer=viewer(
            f"vmrc://{user}@{where}/?moid={urllib.parse.quote(machine_id)}",
            f"https://{where}/ui/#/host/vms/{urllib.parse.quote(machine_id)}"
            if session.about().apiType == "HostAgent" else f"https://{where}/ui/"))


def viewer(vmrc: str, web: str) -> tuple[str, ...]:
    """The argv that opens `vmrc` in VMware Remote Console, or `web` in the browser."""
    if sys.platform == "darwin":
        return ("open", vmrc if shutil.which("vmrc") else web)  # vmrc:// is a URL handler
    if sys.platform == "win32":
        program = shutil.which("vmrc.exe") or (VMRC_WINDOWS if Path(VMRC_WINDOWS).exists()
                                               else "")
        return (program, vmrc) if program else ("rundll32", "url.dll,FileProtocolHandler",
                                                web)
    program = shutil.which("vmrc")
    return (program, vmrc) if program else ("xdg-open", web)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def screenshot(session: Session, facts: Facts, machine_id: str) -> bytes:
    """A PNG of a running machine's screen."""
    values = inventory.read(session, machine_id, ["name", "runtime.powerState"])
    states.require(Operation.CONSOLE, inventory.state_of(values.get("runtime.powerState")),
                   str(values.get("name", machine_id)))
    path = str(tasks.run_task(
        session, lambda si: inventory.vm(si, machine_id).CreateScreenshot_Task(),
        progress=no_progress, cancel=CancelToken(), stage="Taking a screenshot"))
    picture = io.BytesIO()
    try:
        session.download(datastores.folder_url(facts.datacenter, path), picture,
                         received=lambda _: None, cancel=CancelToken())
    finally:
        # ESXi keeps every screenshot in the machine's folder: do not fill the datastore.
        with contextlib.suppress(BackendError):
            datastores.delete(session, facts, path, "Deleting the screenshot")
    data = picture.getvalue()
    if not data.startswith(PNG_SIGNATURE):
        raise CommandFailed(f"The host's screenshot {path} is not a PNG image")
    return data
