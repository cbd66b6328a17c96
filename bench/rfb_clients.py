"""Our RFB client side by side with vncdotool's on one recorded 1920x1080 Raw and ZRLE session."""

# What is measured: a loopback server thread replays one recorded session (ServerInit, then
# 1 + N FramebufferUpdates, each one full-screen rectangle) to each client in turn; the frames
# are bench.rfb_decode's desktop mix, shifted by one tile kind per update so that every tile
# changes, and a ZRLE session is one zlib stream across all its rectangles, as RFB requires.
# Each client decodes into its own framebuffer: ours into `Framebuffer` (BGRX bytes, what the
# console paints from), vncdotool's `VNCDoToolClient` into its PIL RGB `screen` (per rectangle
# or ZRLE tile: `Image.frombytes(..., "BGRX")` + `paste`). The clock runs from the end of the
# first (warm-up) update to the end of the last; CPU is the client thread's own
# (`time.thread_time`: our reader thread, vncdotool's reactor thread) and the whole process's
# (`time.process_time`, which also counts the server thread). Both framebuffers must equal the
# expected last frame. Runs alternate which client goes first.
#
# Run: python -m bench.rfb_clients [--frames N] [--rounds R] [--lockstep]

from __future__ import annotations

import argparse
import importlib
import socket
import statistics
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.rfb_decode import H, W, desktop_tile
from desktopvm.rfb import Rect, RfbClient, RfbError, RfbListener, open_socket
from desktopvm.rfb.client import PIXEL_FORMAT, RAW, ZRLE
from desktopvm.testing.doubles.rfb.encoder import encode_tile

RGB = npt.NDArray[np.uint8]
PHASES = 4  # frame i shows desktop_tile's kinds shifted by i % 4 tiles: every tile changes
TILE = 64
VERSION = b"RFB 003.008\n"
GOALS = {"Raw": 120.0, "ZRLE": 60.0}  # fps, from the consoles issue; and >= 5x the other client
RATIO_GOAL = 5.0
PIP = ".venv/bin/pip install vncdotool"


# -- the recorded session -------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One full screen: the pixels as an (H, W, 3) RGB array, and its inflated ZRLE data."""

    rgb: RGB
    zrle: bytes


def make_frame(phase: int) -> Frame:
    """bench.rfb_decode's desktop mix (phase 0 is its frame), tile kinds shifted by `phase`."""
    rgb = np.zeros((H, W, 3), np.uint8)
    zrle = bytearray()
    for ty in range(0, H, TILE):
        for tx in range(0, W, TILE):
            tw, th = min(TILE, W - tx), min(TILE, H - ty)
            tile, mode = desktop_tile(tx + TILE * phase, ty, tw, th)
            rgb[ty:ty + th, tx:tx + tw] = np.array(tile, np.uint8)
            zrle += encode_tile(tile, mode)
    return Frame(rgb, bytes(zrle))


def update_header(encoding: int) -> bytes:
    """A FramebufferUpdate of one full-screen rectangle, up to its payload."""
    return struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, W, H, encoding)


def raw_session(frames: Sequence[Frame], count: int) -> list[bytes]:
    """`count` Raw updates: BGRX pixels, padding byte 0 (as servers send it)."""
    messages = []
    for frame in frames:
        bgrx = np.zeros((H, W, 4), np.uint8)
        bgrx[:, :, 2::-1] = frame.rgb
        messages.append(update_header(RAW) + bgrx.tobytes())
    return [messages[i % len(messages)] for i in range(count)]


def zrle_session(frames: Sequence[Frame], count: int) -> list[bytes]:
    """`count` ZRLE updates compressed as ONE zlib stream (sync-flushed after each rectangle)."""
    compressor = zlib.compressobj()
    messages = []
    for i in range(count):
        data = compressor.compress(frames[i % len(frames)].zrle)
        data += compressor.flush(zlib.Z_SYNC_FLUSH)
        messages.append(update_header(ZRLE) + struct.pack(">I", len(data)) + data)
    return messages


def server_init() -> bytes:
    """ServerInit: 1920x1080, QEMU's own pixel format (32 bpp, depth 24, BGRX little endian)."""
    name = b"bench"
    return struct.pack(">HH", W, H) + PIXEL_FORMAT + struct.pack(">I", len(name)) + name


def recv_exactly(conn: socket.socket, count: int) -> bytes:
    """`count` bytes from the socket; ConnectionError if it closes first."""
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the client hung up")
        data += chunk
    return data


class RecordedServer:
    """A loopback RFB server (a thread) replaying one recorded session to each client in turn.

    The same bytes go to every client. By default they are streamed as fast as the client reads
    them (the client's update requests are read and ignored); with `lockstep`, each update waits
    for the client's FramebufferUpdateRequest, as QEMU does.
    """

    def __init__(self, updates: Sequence[bytes], lockstep: bool) -> None:
        self.updates, self.lockstep = updates, lockstep
        self.init = server_init()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.finished = threading.Event()  # the current client's session is over
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                self._session(conn)
            except (OSError, TimeoutError, AssertionError) as error:
                self.error = error
            finally:
                conn.close()
                self.finished.set()

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(VERSION)
        assert recv_exactly(conn, 12) == VERSION, "the client wants another RFB version"
        conn.sendall(b"\x01\x01")  # one security type: None
        assert recv_exactly(conn, 1) == b"\x01"
        conn.sendall(struct.pack(">I", 0))  # SecurityResult: OK
        recv_exactly(conn, 1)  # ClientInit
        conn.sendall(self.init)
        requests = threading.Semaphore(0)
        reader = threading.Thread(target=self._read_client, args=(conn, requests), daemon=True)
        reader.start()
        for update in self.updates:
            if self.lockstep and not requests.acquire(timeout=600):
                raise TimeoutError("the client stopped asking for updates")
            conn.sendall(update)
        reader.join()  # until the client hangs up

    @staticmethod
    def _read_client(conn: socket.socket, requests: threading.Semaphore) -> None:
        """Read (and drop) client messages, counting FramebufferUpdateRequests."""
        sizes = {0: 19, 3: 9, 4: 7, 5: 5, 255: 11}
        try:
            while True:
                kind = recv_exactly(conn, 1)[0]
                if kind == 2:  # SetEncodings
                    (count,) = struct.unpack(">xH", recv_exactly(conn, 3))
                    recv_exactly(conn, 4 * count)
                elif kind == 6:  # ClientCutText
                    (length,) = struct.unpack(">xxxI", recv_exactly(conn, 7))
                    recv_exactly(conn, length)
                else:
                    recv_exactly(conn, sizes[kind])
                    if kind == 3:
                        requests.release()
        except (OSError, KeyError):
            return

    def close(self) -> None:
        """Stop accepting clients."""
        self.listener.close()
        self._thread.join(5)


# -- measuring ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """One client's run: frames per second and CPU milliseconds per frame."""

    fps: float
    thread_ms: float  # the client's own thread
    process_ms: float  # the whole process, server thread included


class Probe:
    """Counts applied updates (called on the client's thread) and times updates 1 .. 1 + N."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.count = 0
        self.start = self.end = (0.0, 0.0, 0.0)
        self.done = threading.Event()
        self.error = ""

    def updated(self, rects: int) -> None:
        """One FramebufferUpdate (of `rects` pixel rectangles) is in the framebuffer."""
        if rects != 1:
            self.fail(f"update {self.count + 1} had {rects} rectangles, not 1")
        self.count += 1
        if self.count == 1:
            self.start = (time.perf_counter(), time.thread_time(), time.process_time())
        elif self.count == 1 + self.frames:
            self.end = (time.perf_counter(), time.thread_time(), time.process_time())
            self.done.set()

    def fail(self, error: str) -> None:
        """The client failed before the last update: stop waiting."""
        if not self.done.is_set():
            self.error = error
            self.done.set()

    def wait(self, name: str) -> Result:
        """The result, once the last update is in; RuntimeError if it never comes."""
        if not self.done.wait(max(120.0, 10.0 * self.frames)):
            self.error = f"timed out after {self.count} updates"
        if self.error:
            raise RuntimeError(f"{name}: {self.error}")
        wall, thread, process = (b - a for a, b in zip(self.start, self.end, strict=True))
        return Result(self.frames / wall, 1000 * thread / self.frames,
                      1000 * process / self.frames)


def check_pixels(name: str, rgb: RGB, expected: RGB) -> None:
    """Refuse a result whose framebuffer is not the session's last frame."""
    if rgb.shape != expected.shape or not np.array_equal(rgb, expected):
        wrong = int((rgb != expected).any(axis=-1).sum()) if rgb.shape == expected.shape else -1
        raise RuntimeError(f"{name}: the framebuffer is not the last frame "
                           f"({wrong} pixels differ, shape {rgb.shape})")


def run_ours(port: int, frames: int, expected: RGB) -> Result:
    """desktopvm.rfb.RfbClient: handshake, then `run()` in a reader thread, as the console does."""
    probe = Probe(frames)

    class Listener(RfbListener):
        def on_update(self, rects: list[Rect]) -> None:
            probe.updated(len(rects))

    client = RfbClient(open_socket(port=port), Listener())
    client.handshake()

    def reader() -> None:
        try:
            client.run()
        except RfbError as error:
            probe.fail(str(error))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        result = probe.wait("ours")
        with client.lock:
            fb = client.framebuffer
            bgrx = np.frombuffer(fb.data, np.uint8).reshape(fb.height, fb.width, 4)
            check_pixels("ours", bgrx[:, :, 2::-1], expected)
    finally:
        client.close()
        thread.join(10)
    return result


class VncDoTool:
    """vncdotool's Twisted client, driven by a reactor running in its own thread."""

    def __init__(self) -> None:
        try:
            client = importlib.import_module("vncdotool.client")
            importlib.import_module("PIL.Image")
        except ImportError as error:
            raise SystemExit(f"bench.rfb_clients compares with vncdotool, which is missing "
                             f"({error}). Install it with: {PIP}") from error
        self.rfb: Any = importlib.import_module("vncdotool.rfb")
        self.reactor: Any = importlib.import_module("twisted.internet").reactor
        self.versions = ", ".join(f"{package} {metadata.version(package)}"
                                  for package in ("vncdotool", "Twisted", "Pillow"))
        self.client_class, self.factory_class = _vncdotool_classes(client)
        self._thread = threading.Thread(
            target=self.reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
        self._thread.start()

    def supports(self, encoding: int) -> bool:
        """Whether vncdotool's RFBClient decodes this encoding at all."""
        return encoding in {int(e) for e in self.rfb.RFBClient.SUPPORTED_ENCODINGS}

    def run(self, port: int, frames: int, expected: RGB, encoding: int) -> Result:
        """Connect a VNCDoToolClient, let it apply 1 + N updates, check its `screen`."""
        probe = Probe(frames)
        factory = self.factory_class(probe, encoding)
        self.reactor.callFromThread(self.reactor.connectTCP, "127.0.0.1", port, factory)
        try:
            result = probe.wait("vncdotool")
            screen = factory.client.screen
            check_pixels("vncdotool", np.asarray(screen.convert("RGB")), expected)
        finally:
            if factory.client is not None:
                self.reactor.callFromThread(factory.client.transport.loseConnection)
        return result

    def stop(self) -> None:
        """Stop the reactor thread."""
        self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(10)


def _vncdotool_classes(client: Any) -> tuple[Any, Any]:
    """A VNCDoToolClient that asks for updates like a viewer and reports them to a Probe.

    Nothing of its decoding is overridden: `updateRectangle` / `fillRectangle` are
    VNCDoToolClient's own (PIL `frombytes` + `paste` into `self.screen`).
    """

    class BenchClient(client.VNCDoToolClient):  # type: ignore[misc]
        factory: BenchFactory

        def connectionMade(self) -> None:
            super().connectionMade()
            self.encoding = self.factory.encoding  # what vncConnectionMade offers
            self.factory.client = self

        def vncConnectionMade(self) -> None:
            super().vncConnectionMade()
            self.framebufferUpdateRequest()  # the first, full request (api.refreshScreen's)

        def commitUpdate(self, rectangles: list[tuple[int, int, int, int]] | None = None,
                         ) -> None:
            super().commitUpdate(rectangles)
            self.factory.probe.updated(len(rectangles or ()))
            self.framebufferUpdateRequest(incremental=True)  # as a viewer keeps asking

        def vncProtocolError(self, reason: str) -> None:
            self.factory.probe.fail(f"protocol error: {reason}")

        def connectionLost(self, reason: Any) -> None:
            self.factory.probe.fail(f"connection lost: {reason.getErrorMessage()}")
            super().connectionLost(reason)

    class BenchFactory(client.VNCDoToolFactory):  # type: ignore[misc]
        protocol = BenchClient

        def __init__(self, probe: Probe, encoding: int) -> None:
            super().__init__()
            self.probe, self.encoding = probe, encoding
            self.client: BenchClient | None = None
            self.deferred.addErrback(lambda failure: probe.fail(failure.getErrorMessage()))

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            self.probe.fail(f"connection failed: {reason.getErrorMessage()}")

    return BenchClient, BenchFactory


# -- the bench ------------------------------------------------------------------------------

SESSIONS: dict[str, tuple[int, Callable[[Sequence[Frame], int], list[bytes]]]] = {
    "Raw": (RAW, raw_session), "ZRLE": (ZRLE, zrle_session)}


def median_result(results: Sequence[Result]) -> Result:
    """The median of each figure over the rounds."""
    return Result(statistics.median(r.fps for r in results),
                  statistics.median(r.thread_ms for r in results),
                  statistics.median(r.process_ms for r in results))


def compare(name: str, frames: Sequence[Frame], args: argparse.Namespace,
            vnc: VncDoTool) -> None:
    """Both clients on the same session, `args.rounds` times, alternating who goes first."""
    encoding, session = SESSIONS[name]
    updates = session(frames, 1 + args.frames)
    expected = frames[args.frames % len(frames)].rgb
    size = sum(map(len, updates[1:])) / args.frames
    print(f"\n{name}: {args.frames} measured updates of {W}x{H} (+1 warm-up), "
          f"{size / 1e6:.3f} MB per update on the wire")
    server = RecordedServer(updates, args.lockstep)
    runs: dict[str, list[Result]] = {"ours": [], "vncdotool": []}
    try:
        for round_ in range(args.rounds):
            order = ["ours", "vncdotool"] if round_ % 2 == 0 else ["vncdotool", "ours"]
            for client in order:
                server.finished.clear()
                if client == "ours":
                    result = run_ours(server.port, args.frames, expected)
                else:
                    result = vnc.run(server.port, args.frames, expected, encoding)
                if not server.finished.wait(60) or server.error:
                    raise RuntimeError(f"the server failed: {server.error}")
                runs[client].append(result)
                print(f"  round {round_ + 1}  {client:9s} {result.fps:8.2f} fps  "
                      f"{result.thread_ms:8.2f} ms CPU/frame (client thread), "
                      f"{result.process_ms:8.2f} (process)")
    finally:
        server.close()
    ours, theirs = median_result(runs["ours"]), median_result(runs["vncdotool"])
    paired = [a.fps / b.fps for a, b in zip(runs["ours"], runs["vncdotool"], strict=True)]
    ratio = ours.fps / theirs.fps
    print(f"  median    ours {ours.fps:.2f} fps, {ours.thread_ms:.2f} ms CPU/frame; "
          f"vncdotool {theirs.fps:.2f} fps, {theirs.thread_ms:.2f} ms CPU/frame")
    print(f"  ours/vncdotool: {ratio:.1f}x the fps (rounds {min(paired):.1f}-{max(paired):.1f}x), "
          f"{theirs.thread_ms / ours.thread_ms:.1f}x less CPU per frame")
    goal = GOALS[name]
    print(f"  goals: ours >= {goal:.0f} fps: {'met' if ours.fps >= goal else 'MISSED'}; "
          f">= {RATIO_GOAL:.0f}x vncdotool: {'met' if ratio >= RATIO_GOAL else 'MISSED'}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rfb_clients", description=__doc__)
    parser.add_argument("--frames", type=int, default=20, help="measured updates per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each client")
    parser.add_argument("--lockstep", action="store_true",
                        help="send each update only when asked, as QEMU does")
    parser.add_argument("--encodings", default="Raw,ZRLE", help="comma-separated: Raw, ZRLE")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.encodings.split(",")]
    if args.frames < 1 or args.rounds < 1 or not set(names) <= SESSIONS.keys():
        parser.error("--frames and --rounds must be at least 1, --encodings Raw and/or ZRLE")
    vnc = VncDoTool()
    try:
        print(f"vncdotool side: {vnc.versions}; "
              f"{'lock-step' if args.lockstep else 'streamed'} session on 127.0.0.1")
        frames = [make_frame(phase) for phase in range(PHASES)]
        for name in names:
            if not vnc.supports(SESSIONS[name][0]):
                print(f"\n{name}: vncdotool does not decode it; skipped")
                continue
            compare(name, frames, args, vnc)
    finally:
        vnc.stop()


if __name__ == "__main__":
    main()
