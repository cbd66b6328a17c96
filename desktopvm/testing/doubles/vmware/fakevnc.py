"""Workstation's VNC server, stood in for: a process the stand-in vmrun starts with a machine.

`python fakevnc.py <vmx> <state folder>` listens where the .vmx's `RemoteDisplay.vnc.ip`/`.port`
say and asks for its `.password` (the keys Packer writes, research §A.7), as VMware's server
does when the machine powers on. It speaks RFB 3.8 with VNC authentication, shows a fixed
picture (left half red, right half blue, bottom quarter green) in the pixel format the client
asks for, answers a full update request at once and an incremental one never (nothing
changes), and appends every key event to `<state>/vnc-keys.jsonl`. It ends when the stand-in
says the machine no longer runs, its state folder is gone, or after ten minutes.

It shares nothing with DesktopVM's RFB client: the DES of VNC authentication is done here with
`cryptography` directly, so a mistake there is not mirrored. Shared with the stand-in: only
`read_keys` (how a .vmx is read).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakevmware import read_keys  # type: ignore[import-not-found]  # the stand-in's reader

WIDTH, HEIGHT = 640, 400
LIFETIME = 600.0  # seconds: no test keeps a machine running longer
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 160, 0)


def des_response(challenge: bytes, password: str) -> bytes:
    """RFC 6143 7.2.2, with the bit-mirrored key every VNC implementation uses."""
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode("latin-1")[:8].ljust(8, b"\0"))
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


def read_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the client left")
        data += chunk
    return data


class Server:
    """One machine's VNC server."""

    def __init__(self, vmx: Path, state: Path) -> None:
        self.vmx, self.state = vmx, state
        keys = read_keys(vmx)
        self.password = keys.get("remotedisplay.vnc.password", "")
        self.name = keys.get("displayname", vmx.stem).encode()
        self.listener = socket.create_server((keys.get("remotedisplay.vnc.ip", "127.0.0.1"),
                                              int(keys.get("remotedisplay.vnc.port", "5900"))))

    def serve(self) -> None:
        threading.Thread(target=self._watch, daemon=True).start()
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _watch(self) -> None:
        """End with the machine (the stand-in's state says which machines run; it records
        this start only after the server answers, so absence counts once it was seen)."""
        seen, started = False, time.monotonic()
        while True:
            time.sleep(0.3)
            try:
                running = json.loads((self.state / "state.json").read_text("utf-8"))["running"]
            except (OSError, ValueError):
                if not (self.state / "state.json").exists():
                    os._exit(0)
                continue  # the state is being replaced: read it again next time
            if str(self.vmx) in running:
                seen = True
            elif seen or time.monotonic() - started > 10:
                os._exit(0)
            if time.monotonic() - started > LIFETIME:
                os._exit(0)  # a test that forgot to power off does not leave it behind

    def _client(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self._handshake(conn):
                    self._messages(conn)
            except (ConnectionError, OSError):
                pass

    def _handshake(self, conn: socket.socket) -> bool:
        conn.sendall(b"RFB 003.008\n")
        if read_exactly(conn, 12) != b"RFB 003.008\n":
            return False
        conn.sendall(b"\x01\x02")  # one security type: VNC authentication
        if read_exactly(conn, 1) != b"\x02":
            return False
        challenge = os.urandom(16)
        conn.sendall(challenge)
        if read_exactly(conn, 16) != des_response(challenge, self.password):
            reason = b"Authentication failed"
            conn.sendall(struct.pack(">II", 1, len(reason)) + reason)
            return False
        conn.sendall(struct.pack(">I", 0))
        read_exactly(conn, 1)  # ClientInit (shared or not: this server always shares)
        conn.sendall(struct.pack(">HHBBBBHHHBBBxxx", WIDTH, HEIGHT, 32, 24, 0, 1, 255, 255, 255,
                                 16, 8, 0) + struct.pack(">I", len(self.name)) + self.name)
        return True

    def _messages(self, conn: socket.socket) -> None:
        pixel_format = (32, 0, 16, 8, 0)  # bpp, big endian, red/green/blue shifts
        # A busy server (a test sets it): each key event is logged only after this delay.
        delay = json.loads((self.state / "state.json").read_text("utf-8")).get("key_delay", 0)
        while True:
            kind = read_exactly(conn, 1)[0]
            if kind == 0:  # SetPixelFormat
                bpp, _depth, big, true, _rm, _gm, _bm, rs, gs, bs = struct.unpack(
                    ">xxxBBBBHHHBBBxxx", read_exactly(conn, 19))
                if bpp != 32 or not true:
                    return  # this stand-in paints 32-bit true colour only
                pixel_format = (bpp, big, rs, gs, bs)
            elif kind == 2:  # SetEncodings: Raw is always allowed, so it is all we send
                (count,) = struct.unpack(">xH", read_exactly(conn, 3))
                read_exactly(conn, 4 * count)
            elif kind == 3:  # FramebufferUpdateRequest
                incremental, *_ = struct.unpack(">BHHHH", read_exactly(conn, 9))
                if not incremental:
                    conn.sendall(struct.pack(">xxHHHHHi", 1, 0, 0, WIDTH, HEIGHT, 0)
                                 + picture(pixel_format))
            elif kind == 4:  # KeyEvent
                down, keysym = struct.unpack(">BxxI", read_exactly(conn, 7))
                time.sleep(delay)
                with (self.state / "vnc-keys.jsonl").open("a", encoding="utf-8") as log:
                    log.write(json.dumps({"vmx": str(self.vmx), "keysym": keysym,
                                          "down": bool(down)}) + "\n")
            elif kind == 5:  # PointerEvent
                read_exactly(conn, 5)
            elif kind == 6:  # ClientCutText
                (length,) = struct.unpack(">xxxI", read_exactly(conn, 7))
                read_exactly(conn, length)
            else:
                return  # not a message a client may send to this server


def picture(pixel_format: tuple[int, int, int, int, int]) -> bytes:
    _bpp, big, rs, gs, bs = pixel_format

    def pixel(rgb: tuple[int, int, int]) -> bytes:
        value = (rgb[0] << rs) | (rgb[1] << gs) | (rgb[2] << bs)
        return struct.pack(">I" if big else "<I", value)

    top = pixel(RED) * (WIDTH // 2) + pixel(BLUE) * (WIDTH // 2)
    bottom = pixel(GREEN) * WIDTH
    split = HEIGHT * 3 // 4
    return top * split + bottom * (HEIGHT - split)


def main() -> None:
    vmx, state = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        server = Server(vmx, state)
    except OSError as error:  # the port is taken: say so to the stand-in, which goes on
        print(f"failed: {error}", flush=True)
        sys.exit(1)
    print("listening", flush=True)  # the stand-in waits for this line, then goes on
    server.serve()


if __name__ == "__main__":
    main()
