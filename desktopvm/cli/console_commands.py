"""`desktopvm-cli console VM --serial` (like `virsh console`) and `screenshot VM OUT.png`."""

from __future__ import annotations

import argparse
import os
import selectors
import sys
from collections.abc import Callable
from pathlib import Path

from desktopvm.cli.common import EXIT_OK, Context, UsageError
from desktopvm.model import printable
from desktopvm.paths import atomic_write_bytes
from desktopvm.serial_link import connect_serial

ESCAPE = b"\x1d"  # Ctrl-]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `console` and `screenshot`."""
    console = sub.add_parser("console", help="attach this terminal to a machine's serial console")
    console.add_argument("vm")
    console.add_argument("--serial", action="store_true", required=True,
                         help="the serial console (the only kind a terminal can show)")
    console.add_argument("--idle", type=float, default=2.0, metavar="SECONDS",
                         help="with piped input: stop this long after the guest goes quiet")
    console.set_defaults(handler=console_command)
    shot = sub.add_parser("screenshot", help="save the machine's screen as PNG")
    shot.add_argument("vm")
    shot.add_argument("out", type=Path)
    shot.set_defaults(handler=screenshot_command)


def console_command(ctx: Context) -> int:
    """Bridge stdin/stdout to the serial socket until Ctrl-] (or, with piped input, until the
    guest has been quiet for --idle seconds after the input ended)."""
    backend, summary = ctx.machine(ctx.args.vm)
    endpoint = backend.console(summary.id).serial
    if endpoint is None:
        raise UsageError(f"{printable(summary.name)} has no serial console")
    sock = connect_serial(endpoint)
    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    interactive = os.isatty(stdin_fd)
    restore_terminal = _raw_terminal(stdin_fd) if interactive else None
    if interactive:
        print(f"Connected to {printable(summary.name)}'s serial console. Escape character is ^]\r",
              file=ctx.err)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(stdin_fd, selectors.EVENT_READ)
    input_open = True
    try:
        while True:
            events = selector.select(None if input_open else ctx.args.idle)
            if not events:
                return EXIT_OK  # input ended and the guest went quiet
            for key, _ in events:
                if key.fileobj is sock:
                    data = sock.recv(65536)
                    if not data:
                        return EXIT_OK
                    os.write(stdout_fd, data)
                    continue
                data = os.read(stdin_fd, 4096)
                if interactive and ESCAPE in data:
                    return EXIT_OK
                if not data:
                    selector.unregister(stdin_fd)
                    input_open = False
                    continue
                sock.sendall(data)
    finally:
        selector.close()
        sock.close()
        if restore_terminal is not None:
            restore_terminal()
            print("", file=ctx.err)


def _raw_terminal(fd: int) -> Callable[[], None]:
    """Put the terminal in raw mode; returns the function that puts it back."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def screenshot_command(ctx: Context) -> int:
    """`screenshot VM OUT.png`."""
    backend, summary = ctx.machine(ctx.args.vm)
    png = backend.screenshot(summary.id)
    atomic_write_bytes(ctx.args.out, png)
    ctx.print(f"{printable(summary.name)}: screen saved to {ctx.args.out}")
    return EXIT_OK
