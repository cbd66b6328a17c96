"""Shared pieces of the CLI: the context, output helpers, sizes, progress bars, cancellable runs."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from desktopvm import units
from desktopvm.connections import HostConfig, is_remote
from desktopvm.model import is_unsafe_character, name_problems, printable_lines
from desktopvm.protocol import (
    Backend,
    CancelToken,
    InvalidSpec,
    MachineSummary,
    OperationCancelled,
)
from desktopvm.registry import Registry, resolve_machine

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: exit code 2."""


@dataclass
class Context:
    """What every subcommand gets: parsed arguments, the registry, the output streams."""

    args: argparse.Namespace
    registry: Registry
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    stdin: TextIO = sys.stdin

    def machine(self, reference: str) -> tuple[Backend, MachineSummary]:
        """Resolve a machine reference (name, id, or CONNECTION:NAME)."""
        return resolve_machine(self.registry, reference)

    def print(self, text: str = "") -> None:
        """A line on stdout; control characters escaped (names are `printable` already)."""
        print(printable_lines(text), file=self.out)

    def print_json(self, data: Any) -> None:
        """Data as pretty JSON on stdout."""
        print(json_text(data), file=self.out)


def find_host(ctx: Context, value: str) -> HostConfig:
    """The added host that `value` names: its connection id, or an address or label that
    names exactly one added host (UsageError otherwise, listing the choices)."""
    hosts = ctx.registry.hosts()
    exact = [h for h in hosts if h.id == value.lower()]
    if exact:
        return exact[0]
    wanted = value.casefold()
    named = [h for h in hosts if wanted in (h.address.casefold(), h.label.casefold())]
    if len(named) == 1:
        return named[0]
    if named:
        raise UsageError(f"{value!r} names several hosts; give one id: "
                         + ", ".join(h.id for h in named))
    raise UsageError(f"no host {value!r} has been added (`desktopvm-cli host list` shows "
                     "them; `desktopvm-cli host add` adds one)")


def connection_for(ctx: Context, backend: str | None, host: str | None) -> str:
    """The connection a creating or importing command works on: `--host` (an added host),
    `--backend` (a local backend, or any connection id), else the first local backend
    usable here. A remote host is only ever used when it is asked for."""
    if backend and host:
        raise UsageError("give --backend or --host, not both")
    if host:
        return find_host(ctx, host).id
    if backend:
        return backend
    local = [name for name in ctx.registry.names()
             if not is_remote(name) and ctx.registry.probe(name).available]
    if not local:
        raise UsageError("no hypervisor is usable on this computer; name one with --backend "
                         "or a remote host with --host (`desktopvm-cli backends` says why)")
    return local[0]


def target_backend(ctx: Context, backend: str | None, host: str | None) -> Backend:
    """The opened backend of `connection_for`."""
    return ctx.registry.open(connection_for(ctx, backend, host))


def json_text(data: Any) -> str:
    """Pretty JSON that no terminal acts on: C1 controls, DEL, separators and bidi overrides are
    written as \\uXXXX escapes too (json.dumps leaves them raw; C0 it escapes itself)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if not any(_raw_in_json(char) for char in text):
        return text
    return "".join(f"\\u{ord(char):04x}" if _raw_in_json(char) else char for char in text)


def _raw_in_json(char: str) -> bool:
    return char > "\x7e" and is_unsafe_character(char)  # below: C0, escaped or layout


def require_name(backend: Backend, name: str, *, renaming: str = "") -> None:
    """InvalidSpec unless `name` is a valid name and no other machine of `backend` has it
    (case-insensitively; `renaming` is the id of the machine that gets the name)."""
    taken = [m.name for m in backend.list_machines() if m.id != renaming]
    problems = name_problems(name, backend.capabilities(), taken=taken)
    if problems:
        raise InvalidSpec(problems)



def parse_size(text: str, default_unit: str) -> int:
    """'4G', '4096M', '1.5T', '40' (in `default_unit`) -> bytes, or a usage error."""
    size = units.parse_size(text, default_unit)
    if size is None:
        raise UsageError(f"not a size: {text!r} (examples: 4096M, 4G, 40G)")
    return size


format_size = units.format_size


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


class ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent when stderr is not a TTY."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self._lock = threading.Lock()
        self._shown = False

    def __call__(self, fraction: float | None, stage: str, /) -> None:
        if not self._enabled:
            return
        width = 30
        if fraction is None:
            bar, percent = "?" * width, "   "
        else:
            filled = int(max(0.0, min(1.0, fraction)) * width)
            bar, percent = "#" * filled + "-" * (width - filled), f"{int(fraction * 100):3d}"
        with self._lock:
            self._stream.write(f"\r[{bar}] {percent}% {stage[:40]:<40}")
            self._stream.flush()
            self._shown = True

    def close(self) -> None:
        """End the bar's line."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def run_cancellable(ctx: Context, work: Callable[[ProgressBar, CancelToken], T]) -> T:
    """Run a long operation in a thread; Ctrl-C cancels it and waits for its clean-up."""
    bar = ProgressBar(ctx.err)
    token = CancelToken()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(bar, token)
        except BaseException as error:  # handed to the main thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="desktopvm-cli-operation", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        print("\ncancelling… (cleaning up)", file=ctx.err)
        token.cancel()
        thread.join()
        if "error" not in outcome:
            outcome["error"] = OperationCancelled()
    finally:
        bar.close()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def confirm(ctx: Context, question: str) -> bool:
    """Ask yes/no on the terminal; default no. Not a terminal: no."""
    if not is_terminal(ctx.stdin):
        return False
    ctx.err.write(f"{question} [y/N] ")
    ctx.err.flush()
    return ctx.stdin.readline().strip().lower() in ("y", "yes")


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (a closed or odd stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
