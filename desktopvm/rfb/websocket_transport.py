"""RFB over a WebSocket (VMware's WebMKS): a connected socket the RFB client reads as usual.

ESXi and vCenter serve a machine's console at `wss://HOST:PORT/ticket/TICKET` (from
AcquireTicket("webmks")), sub-protocol `binary`, carrying plain RFB 3.8 in binary messages.
`RfbClient` reads a socket, so this module hands it one end of a socket pair and pumps bytes
between the other end and the WebSocket in two threads: the client needs no second transport,
and closing the client's socket (RfbClient.close) ends the WebSocket too.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

CHUNK = 1 << 16
# What WebMKS speaks (its other sub-protocol, "uint8utf8", carries base64 text).
SUBPROTOCOL = Subprotocol("binary")


class WebSocketError(OSError):
    """The WebSocket could not be opened (refused, wrong ticket, TLS)."""


def open_websocket(url: str, *, context: ssl.SSLContext | None = None,
                   timeout: float = 10.0) -> socket.socket:
    """A socket carrying the RFB stream of the WebSocket at `url` (wss:// needs `context`,
    which decides what certificate is trusted)."""
    try:
        # No proxy from the environment: the console goes where the session goes, directly.
        remote = connect(url, ssl=context if url.startswith("wss:") else None,
                         subprotocols=[SUBPROTOCOL],
                         open_timeout=timeout, close_timeout=2, max_size=None,
                         compression=None, proxy=None)
        # Entered as a context manager would be (websockets 17.1 warns otherwise); the
        # bridge closes it, which is the context's exit.
        remote = remote.__enter__()
    except (OSError, WebSocketException, TimeoutError, ValueError) as error:
        # ValueError: a URL urllib cannot parse. The library's own words may quote the URL
        # ("… isn't a valid URI"): its ticket is scrubbed here, where every caller gets it.
        said, ticket = str(error), url.partition("/ticket/")[2]
        if ticket:
            said = said.replace(url, _shown(url)).replace(ticket, "…")
        raise WebSocketError(f"cannot open the console at {_shown(url)}: {said}") from error
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout)
    Bridge(remote, theirs).start()
    return ours


def _shown(url: str) -> str:
    """The URL without its ticket (a ticket is a credential for its lifetime)."""
    head, _, _ = url.partition("/ticket/")
    return head + "/ticket/…" if "/ticket/" in url else head


class Bridge:
    """Copies bytes both ways between a WebSocket and the local end of a socket pair."""

    def __init__(self, remote: ClientConnection, local: socket.socket) -> None:
        self.remote, self.local = remote, local
        self._once = threading.Lock()
        self._closed = False

    def start(self) -> None:
        for target, name in ((self._down, "webmks-down"), (self._up, "webmks-up")):
            threading.Thread(target=target, name=name, daemon=True).start()

    def _down(self) -> None:
        """Server → client: each binary message's bytes."""
        try:
            for message in self.remote:
                data = message.encode("utf-8") if isinstance(message, str) else message
                self.local.sendall(data)
        except (OSError, WebSocketException):
            pass  # either side went away: the RFB client sees its socket end
        finally:
            self.close()

    def _up(self) -> None:
        """Client → server: what the RFB client wrote, as binary messages."""
        try:
            while data := self.local.recv(CHUNK):
                self.remote.send(data)
        except (OSError, WebSocketException):
            pass
        finally:
            self.close()

    def close(self) -> None:
        with self._once:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError, WebSocketException):
            self.remote.close()
        with contextlib.suppress(OSError):
            self.local.shutdown(socket.SHUT_RDWR)
        self.local.close()
