"""A loopback WS-Man server for tests: the shell operations pywinrm uses, piped to the double.

It implements Create (shell), Command, Send, Receive, Signal and Delete over HTTPS with Basic
authentication (HTTPS only), or over plain HTTP with NTLM and MS-WSMV message encryption
(pyspnego's NTLM acceptor, credentials from NTLM_USER_FILE). `powershell.exe` runs the
PowerShell double, so pywinrm's real code path is exercised end to end.

For the hosts tests, a server can run its command with its own environment (so two servers
are two FakeHosts), listen on a given port (a restart with another certificate keeps the
host's id), and fail as networks do: `lose_next_reply()` drops the connection after the next
reply that carries output was prepared (the command ran; its answer is lost), and the server
then drops every request until `come_back()`; `lose_next_send_reply()` drops the connection
after the next Send was delivered to the command, and stays up.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import socket
import ssl
import struct
import subprocess
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TIMEOUT_FAULT_CODE = "2150858793"
# MaxEnvelopeSizekb: "The default value SHOULD be 500 but MAY be 150"; it limits the client's
# request packets and every response (MS-WSMV 2.2.4.10, 3.1.4.1.7). The smaller one is kept.
MAX_ENVELOPE = 150 * 1024
BOUNDARY = b"--Encrypted Boundary"
PROTOCOL = b"application/HTTP-SPNEGO-session-encrypted"


class Command:
    """A process started by a Command request, with its output pumped into a queue."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE,
                                        env={**os.environ, **env} if env else None)
        self.output: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.held: list[tuple[str, bytes]] = []  # output a full Receive could not carry
        self.threads = [threading.Thread(target=self._pump, args=(name, stream), daemon=True)
                        for name, stream in (("stdout", self.process.stdout),
                                             ("stderr", self.process.stderr))]
        for thread in self.threads:
            thread.start()

    def _pump(self, name: str, stream: Any) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            self.output.put((name, chunk))
        self.output.put((name, b""))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for thread in self.threads:
            thread.join(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


class WinRMTestServer(ThreadingHTTPServer):
    """The server; `commands` maps a command name (powershell.exe) to the argv to run."""

    daemon_threads = True

    def __init__(self, *, auth: str, user: str, password: str, commands: dict[str, list[str]],
                 tls: tuple[Path, Path] | None = None, env: dict[str, str] | None = None,
                 port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.auth, self.user, self.password, self.commands = auth, user, password, commands
        self.env = env
        self.requests = 0  # every POST that arrived, authenticated or not
        self.lose_reply = False  # the next Receive with output loses its reply
        self.lose_send_reply = False  # the next Send is delivered, its reply lost
        self.down = False  # every request's connection is dropped unanswered
        self.not_winrm = False  # answer 404 at /wsman, as a web server without WinRM does
        self.shells: dict[str, dict[str, Command]] = {}
        self.actions: list[str] = []
        self.command_options: list[dict[str, str]] = []  # the OptionSet of each Command
        self.encrypted = 0  # requests that arrived sealed (NTLM message encryption)
        self.lock = threading.Lock()
        self.receive_timeout = 1.0
        self.largest_request = 0  # the biggest SOAP envelope a client sent
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def lose_next_reply(self) -> None:
        """The next reply carrying output is lost with its connection; then the host is down."""
        self.lose_reply = True

    def lose_next_send_reply(self) -> None:
        """The next Send reaches the command, but its HTTP reply is lost with the connection."""
        self.lose_send_reply = True

    def come_back(self) -> None:
        """The host answers again (its old shells are still there, as on a real host)."""
        self.down = False

    def stop_all(self) -> None:
        with self.lock:
            commands = [c for shell in self.shells.values() for c in shell.values()]
            self.shells.clear()
        for command in commands:
            command.stop()


def envelope(body: str, relates_to: str = "") -> bytes:
    header = f"<a:RelatesTo>{relates_to}</a:RelatesTo>" if relates_to else ""
    namespaces = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {namespaces}><s:Header>'
            f"{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>").encode()


class Handler(BaseHTTPRequestHandler):
    """One connection (NTLM authenticates a connection, so its context lives here)."""

    protocol_version = "HTTP/1.1"
    server: WinRMTestServer

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None
        self.authenticated = False

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
               content_type: str = "application/soap+xml;charset=UTF-8") -> None:
        if body and self.authenticated and self.ntlm is not None:
            body, content_type = self._seal(body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    # -- authentication --------------------------------------------------------------------
    def _authenticate(self) -> bool:
        header = self.headers.get("Authorization", "")
        if self.server.auth == "basic":
            expected = base64.b64encode(f"{self.server.user}:{self.server.password}".encode())
            if header == f"Basic {expected.decode()}":
                return True
            self._reply(401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return False
        if self.authenticated:
            return True
        if not header.startswith("Negotiate "):
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return False
        import spnego

        if self.ntlm is None:
            self.ntlm = spnego.server(protocol="ntlm")
        try:
            answer = self.ntlm.step(base64.b64decode(header.split(" ", 1)[1]))
        except Exception:  # a wrong password: HTTP.sys answers 401 and forgets the context
            self.ntlm = None
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return False
        if not self.ntlm.complete:
            self._reply(401, headers={"WWW-Authenticate": "Negotiate "
                                      + base64.b64encode(answer or b"").decode()})
            return False
        self.authenticated = True
        return True

    def _seal(self, body: bytes) -> tuple[bytes, str]:
        sealed = self.ntlm.wrap(body, encrypt=True).data
        payload = (BOUNDARY + b"\r\n\tContent-Type: " + PROTOCOL + b"\r\n"
                   + b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
                   + str(len(body)).encode() + b"\r\n" + BOUNDARY + b"\r\n"
                   + b"\tContent-Type: application/octet-stream\r\n"
                   + struct.pack("<i", 16) + sealed + BOUNDARY + b"--\r\n")
        return payload, ('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-'
                         'encrypted";boundary="Encrypted Boundary"')

    def _unseal(self, body: bytes) -> bytes:
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        payload = parts[1]
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        data = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"")
        length = struct.unpack("<i", data[:4])[0]
        return bytes(self.ntlm.unwrap(data[4:4 + length] + data[4 + length:]).data)

    # -- WS-Man ----------------------------------------------------------------------------
    def _drop(self) -> None:
        """Close the connection without an answer (what a client sees when a network drops)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.requests += 1
        if self.server.down:
            self._drop()
            return
        if self.server.not_winrm:
            self._reply(404, b"<html>Not Found</html>", content_type="text/html")
            return
        if not self._authenticate():
            return
        if not body:  # pywinrm's empty POST that sets up message encryption
            self._reply(200)
            return
        if "multipart/encrypted" in self.headers.get("Content-Type", ""):
            body = self._unseal(body)
            self.server.encrypted += 1
        elif self.server.auth == "ntlm":
            self._reply(400, b"NTLM needs encrypted messages")
            return
        self.server.largest_request = max(self.server.largest_request, len(body))
        if len(body) > MAX_ENVELOPE:
            fault = ('<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>'
                     'w:EncodingLimit</s:Value></s:Subcode></s:Code><s:Reason><s:Text>The '
                     'request size exceeded the configured MaxEnvelopeSize quota.</s:Text>'
                     '</s:Reason></s:Fault>')
            self._reply(500, envelope(fault))
            return
        root = ET.fromstring(body)
        action = root.findtext("s:Header/a:Action", "", NS).rsplit("/", 1)[-1]
        message_id = root.findtext("s:Header/a:MessageID", "", NS)
        shell_id = root.findtext("s:Header/w:SelectorSet/w:Selector", "", NS)
        self.server.actions.append(action)
        handler = getattr(self, f"_ws_{action.lower()}", None)
        if handler is None:
            self._reply(400, envelope(f"<s:Fault>unknown action {escape(action)}</s:Fault>"))
            return
        handler(root, shell_id, message_id)

    def _ws_create(self, root: ET.Element, shell_id: str, message_id: str) -> None:
        new_id = str(uuid.uuid4()).upper()
        with self.server.lock:
            self.server.shells[new_id] = {}
        self._reply(200, envelope(
            "<x:ResourceCreated xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\">"
            f'<w:SelectorSet><w:Selector Name="ShellId">{new_id}</w:Selector></w:SelectorSet>'
            f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{new_id}</rsp:ShellId></rsp:Shell>",
            message_id))

    def _ws_command(self, root: ET.Element, shell_id: str, message_id: str) -> None:
        line = root.find("s:Body/rsp:CommandLine", NS)
        assert line is not None
        name = line.findtext("rsp:Command", "", NS).strip()
        arguments = (line.findtext("rsp:Arguments", "", NS) or "").split()
        argv = self.server.commands.get(name)
        if argv is None or shell_id not in self.server.shells:
            self._reply(500, envelope(f"<s:Fault>cannot run {escape(name)}</s:Fault>"))
            return
        options = {o.get("Name", ""): (o.text or "").strip()
                   for o in root.findall("s:Header/w:OptionSet/w:Option", NS)}
        self.server.command_options.append(options)
        command_id = str(uuid.uuid4()).upper()
        self.server.shells[shell_id][command_id] = Command([*argv, *arguments],
                                                           self.server.env)
        self._reply(200, envelope("<rsp:CommandResponse><rsp:CommandId>"
                                  f"{command_id}</rsp:CommandId></rsp:CommandResponse>",
                                  message_id))

    def _command(self, shell_id: str, command_id: str) -> Command | None:
        return self.server.shells.get(shell_id, {}).get(command_id)

    def _ws_send(self, root: ET.Element, shell_id: str, message_id: str) -> None:
        stream = root.find("s:Body/rsp:Send/rsp:Stream", NS)
        assert stream is not None
        command = self._command(shell_id, stream.get("CommandId", ""))
        if command is None or command.process.stdin is None:
            self._reply(500, envelope("<s:Fault>no such command</s:Fault>"))
            return
        try:
            command.process.stdin.write(base64.b64decode(stream.text or ""))
            command.process.stdin.flush()
            if stream.get("End") == "true":
                command.process.stdin.close()
        except OSError:
            pass
        if self.server.lose_send_reply:
            self.server.lose_send_reply = False
            self._drop()
            return
        self._reply(200, envelope("<rsp:SendResponse/>", message_id))

    def _ws_receive(self, root: ET.Element, shell_id: str, message_id: str) -> None:
        desired = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
        command_id = desired.get("CommandId", "") if desired is not None else ""
        command = self._command(shell_id, command_id)
        if command is None:
            self._reply(500, envelope("<s:Fault>no such command</s:Fault>"))
            return
        chunks, command.held = command.held, []
        try:
            if not chunks:
                chunks.append(command.output.get(timeout=self.server.receive_timeout))
            while True:
                chunks.append(command.output.get_nowait())
        except queue.Empty:
            pass
        chunks, command.held = _fitting(chunks, _response_limit(root))
        if not chunks:
            fault = ('<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>'
                     'timeout</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://'
                     'schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="'
                     f'{TIMEOUT_FAULT_CODE}"/></s:Detail></s:Fault>')
            self._reply(500, envelope(fault, message_id))
            return
        if self.server.lose_reply and any(data for _name, data in chunks):
            self.server.lose_reply, self.server.down = False, True
            self._drop()
            return
        ended = [name for name, data in chunks if not data]
        streams = "".join(
            f'<rsp:Stream Name="{name}" CommandId="{command_id}">'
            f"{base64.b64encode(data).decode()}</rsp:Stream>" for name, data in chunks if data)
        done = "stdout" in ended and command.process.wait(timeout=10) is not None
        state = (f'<rsp:CommandState CommandId="{command_id}" State="{SHELL}/CommandState/Done">'
                 f"<rsp:ExitCode>{command.process.returncode}</rsp:ExitCode></rsp:CommandState>"
                 if done else
                 f'<rsp:CommandState CommandId="{command_id}" '
                 f'State="{SHELL}/CommandState/Running"/>')
        self._reply(200, envelope(f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>",
                                  message_id))

    def _ws_signal(self, root: ET.Element, shell_id: str, message_id: str) -> None:
        signal = root.find("s:Body/rsp:Signal", NS)
        command_id = signal.get("CommandId", "") if signal is not None else ""
        command = self.server.shells.get(shell_id, {}).pop(command_id, None)
        if command is not None:
            command.stop()
        self._reply(200, envelope("<rsp:SignalResponse/>", message_id))

    def _ws_delete(self, root: ET.Element, shell_id: str, message_id: str) -> None:
        with self.server.lock:
            commands = self.server.shells.pop(shell_id, {})
        for command in commands.values():
            command.stop()
        self._reply(200, envelope("", message_id))


def _response_limit(root: ET.Element) -> int:
    """The stream bytes one response may carry: base64 inside the client's MaxEnvelopeSize
    (capped by the server's), less room for the envelope around them."""
    asked = root.findtext("s:Header/w:MaxEnvelopeSize", "", NS)
    limit = min(int(asked) if asked.isdigit() else MAX_ENVELOPE, MAX_ENVELOPE)
    return (limit - 4096) * 3 // 4


def _fitting(chunks: list[tuple[str, bytes]],
             room: int) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(what fits into one response, what is held for the next)."""
    taken: list[tuple[str, bytes]] = []
    for index, (name, data) in enumerate(chunks):
        if room <= 0:  # an empty cut would read as the end of the stream
            return taken, chunks[index:]
        if len(data) > room:
            taken.append((name, data[:room]))
            return taken, [(name, data[room:]), *chunks[index + 1:]]
        taken.append((name, data))
        room -= len(data)
    return taken, []


@contextmanager
def running(server: WinRMTestServer) -> Iterator[WinRMTestServer]:
    """Serve on a thread for the duration."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.stop_all()
        server.server_close()
        thread.join(timeout=5)
