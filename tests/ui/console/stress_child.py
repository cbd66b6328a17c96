"""Run by test_console_stress in its own process: floods consoles while windows open and close.

Each fake machine has a serial socket whose peer floods ANSI text in chunks of random size and
a fake RFB server that sends frames, resizes and pointer-mode changes as fast as it can. A
timer on the GUI thread opens consoles, closes tabs and windows, detaches tabs, switches tabs,
types, scrolls and reconnects at random. At the end the window closes everything and prints
one JSON line of what it saw; a crash shows as the process dying (the test reads its stderr).

    python -m tests.ui.console.stress_child --seconds 60 --folder /tmp/x
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import random
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktopvm.protocol import (
    ConsoleEndpoints,
    MachineSummary,
    PowerState,
    SerialEndpoint,
    VncEndpoint,
)
from desktopvm.testing.doubles.rfb.fake_server import FakeVncServer
from desktopvm.ui.console.display_page import DisplayPage
from desktopvm.ui.console.text_pages import SerialPage
from desktopvm.ui.console.window import ConsoleWindow, show_console

MARK = "FLOOD"


class LockedVncServer(FakeVncServer):
    """The fake RFB server, safe to send from the flood thread and its own reader at once."""

    def __init__(self, path: Path) -> None:
        self.send_lock = threading.Lock()
        super().__init__(path, size=(320, 200))

    def send_rects(self, rects: list[tuple[int, int, int, int, int, bytes]]) -> None:
        with self.send_lock:
            super().send_rects(rects)


class FloodSerial:
    """A serial console whose guest never stops printing; what clients type is counted."""

    def __init__(self, path: Path, name: str, stop: threading.Event) -> None:
        self.name, self.stop = name, stop
        self.sent = self.typed = self.clients = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.path = path
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.clients += 1
            threading.Thread(target=self._flood, args=(conn,), daemon=True).start()
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _flood(self, conn: socket.socket) -> None:
        rng, n = random.Random(), 0
        with contextlib.suppress(OSError):
            while not self.stop.is_set():
                lines = b"".join(
                    b"[%8d] %s %s \x1b[3%dmcolour\x1b[0m boot message of some length\r\n"
                    % (n + i, MARK.encode(), self.name.encode(), (n + i) % 8)
                    for i in range(rng.randint(1, 40)))
                n += 40
                cut = rng.randint(1, len(lines))  # split anywhere, escape sequences too
                conn.sendall(lines[:cut])
                conn.sendall(lines[cut:])
                self.sent += len(lines)
                if n % 2000 == 0:
                    conn.sendall(b"\x1b[2J\x1b[H")  # a clear screen now and then
        conn.close()

    def _drain(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := conn.recv(4096):
                self.typed += len(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


def flood_display(server: LockedVncServer, stop: threading.Event) -> None:
    """Frames of random rectangles; now and then a new screen size or pointer mode."""
    rng = random.Random()
    while not stop.is_set():
        try:
            roll = rng.random()
            if roll < 0.01:
                server.resize(*rng.choice([(320, 200), (400, 240), (256, 160)]))
            elif roll < 0.02:
                server.pointer_mode(absolute=rng.random() < 0.5)
            else:
                w, h = rng.randint(1, 64), rng.randint(1, 48)
                x, y = rng.randint(0, server.width - w), rng.randint(0, server.height - h)
                colour = struct.pack("BBBB", rng.randint(40, 255), rng.randint(40, 255),
                                     rng.randint(40, 255), 0)
                server.fill(x, y, w, h, colour)
        except (OSError, AssertionError):  # no client at the moment, or it just went away
            time.sleep(0.01)
        time.sleep(0.002)


class Driver:
    """Random console actions on the GUI thread, with counts of what was seen."""

    def __init__(self, machines: list[tuple[MachineSummary, ConsoleEndpoints]],
                 seed: int) -> None:
        self.owner = SimpleNamespace(registry=None, runner=None)
        self.machines = machines
        self.rng = random.Random(seed)
        self.counts = dict.fromkeys(
            ("opened", "closed_tabs", "closed_windows", "detached", "typed", "scrolled",
             "reconnected", "switched", "serial_seen", "frames_seen", "ticks"), 0)

    def windows(self) -> list[ConsoleWindow]:
        return list(self.owner.__dict__.get("_console_windows", []))

    def pages(self) -> list[tuple[ConsoleWindow, Any]]:
        return [(w, w.tabs.widget(i)) for w in self.windows() for i in range(w.tabs.count())]

    def tick(self) -> None:
        self.counts["ticks"] += 1
        self.observe()
        roll, pages = self.rng.random(), self.pages()
        if roll < 0.30 or not pages:
            machine, endpoints = self.rng.choice(self.machines)
            show_console(self.owner, machine, endpoints)
            self.counts["opened"] += 1
            return
        window, page = self.rng.choice(pages)
        if roll < 0.45:
            window.close_tab(window.tabs.indexOf(page))
            self.counts["closed_tabs"] += 1
        elif roll < 0.52:
            window.close()
            self.counts["closed_windows"] += 1
        elif roll < 0.60:
            if window.detach_tab(window.tabs.indexOf(page)) is not None:
                self.counts["detached"] += 1
        elif roll < 0.72:
            window.tabs.setCurrentWidget(page)
            self.counts["switched"] += 1
        elif roll < 0.82 and isinstance(page, SerialPage):
            page.terminal.send(b"echo typed\r")
            self.counts["typed"] += 1
        elif roll < 0.90 and isinstance(page, SerialPage):
            bar = page.scrollbar
            bar.setValue(self.rng.randint(bar.minimum(), bar.maximum()))
            self.counts["scrolled"] += 1
        elif roll < 0.95:
            page.reconnect()
            self.counts["reconnected"] += 1

    def observe(self) -> None:
        for _window, page in self.pages():
            if isinstance(page, SerialPage) and MARK in page.terminal.text():
                self.counts["serial_seen"] += 1
            elif isinstance(page, DisplayPage):
                image = page.view.image
                if any(image.pixelColor(x, y).lightness() > 30
                       for y in range(0, image.height(), 16)
                       for x in range(0, image.width(), 16)):
                    self.counts["frames_seen"] += 1

    def close_all(self) -> None:
        for window in self.windows():
            window.close()


def main(argv: list[str] | None = None) -> int:
    faulthandler.enable()  # a fatal error prints every thread's stack
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--interval-ms", type=int, default=40)
    parser.add_argument("--hang-after", type=float, default=120.0,
                        help="seconds past --seconds after which to print all stacks and exit")
    args = parser.parse_args(argv)
    # A hang (the GUI thread waiting on a worker, say) prints every stack instead of timing out.
    faulthandler.dump_traceback_later(args.seconds + args.hang_after, exit=True)
    errors: list[str] = []

    def record(kind: type[BaseException], error: BaseException, trace: Any) -> None:
        errors.append(f"{kind.__name__}: {error}")  # an exception in a slot fails the run
        sys.__excepthook__(kind, error, trace)

    sys.excepthook = record
    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)  # the main window would be open in the app
    stop = threading.Event()
    serials, displays, machines = [], [], []
    for n in range(args.machines):
        serial = FloodSerial(args.folder / f"serial{n}.sock", f"vm{n}", stop)
        display = LockedVncServer(args.folder / f"vnc{n}.sock")
        threading.Thread(target=flood_display, args=(display, stop), daemon=True).start()
        serials.append(serial)
        displays.append(display)
        machines.append((MachineSummary(backend="fake", id=f"m{n}", name=f"vm{n}",
                                        state=PowerState.RUNNING),
                         ConsoleEndpoints(vnc=VncEndpoint(unix_socket=str(display.path)),
                                          serial=SerialEndpoint(unix_socket=str(serial.path)))))
    driver = Driver(machines, args.seed)
    timer = QTimer()
    timer.setInterval(args.interval_ms)
    timer.timeout.connect(driver.tick)
    timer.start()
    started = time.monotonic()
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(app.quit)
    deadline.start(int(args.seconds * 1000))
    app.exec()
    timer.stop()
    driver.close_all()
    app.processEvents()
    stop.set()
    for serial in serials:
        serial.close()
    for display in displays:
        display.close()
    summary = {**driver.counts, "seconds": round(time.monotonic() - started, 1),
               "serial_bytes_sent": sum(s.sent for s in serials),
               "serial_clients": sum(s.clients for s in serials),
               "typed_bytes_received": sum(s.typed for s in serials),
               "platform": QApplication.platformName(), "errors": errors}
    print(json.dumps(summary), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
