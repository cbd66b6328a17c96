"""Workstation's VNC server, stood in for: it reads its port and password from the .vmx (the
keys Packer writes, research §A.7) and speaks the RFB 3.8 handshake with VNC authentication."""

from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

from desktopvm.rfb.auth import vnc_response
from tests.backends.vmware.fakevmware import read_keys

PIXEL_FORMAT = bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])


class VmxVncServer:
    """Listens where the .vmx says; `results` records each client's authentication."""

    def __init__(self, vmx: Path) -> None:
        keys = read_keys(vmx)
        self.password = keys["remotedisplay.vnc.password"]
        self.server = socket.create_server((keys.get("remotedisplay.vnc.ip", "127.0.0.1"),
                                            int(keys["remotedisplay.vnc.port"])))
        self.results: list[bool] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"RFB 003.008\n")
            conn.recv(12)
            conn.sendall(b"\x01\x02")  # one security type: VNC authentication
            conn.recv(1)
            challenge = os.urandom(16)
            conn.sendall(challenge)
            ok = conn.recv(16) == vnc_response(challenge, self.password)
            self.results.append(ok)
            if not ok:
                reason = b"Authentication failed"
                conn.sendall(struct.pack(">II", 1, len(reason)) + reason)
                return
            conn.sendall(struct.pack(">I", 0))
            conn.recv(1)  # ClientInit
            name = b"stand-in for Workstation's VNC server"
            conn.sendall(struct.pack(">HH", 640, 480) + PIXEL_FORMAT +
                         struct.pack(">I", len(name)) + name)
            while conn.recv(4096):  # the client's settings and requests, until it leaves
                pass

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)
