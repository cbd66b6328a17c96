"""`desktopvm-cli`: every DesktopVM operation for scripts and terminals, without Qt.

Exit codes: 0 success, 1 the operation failed (or a spec has errors), 2 bad usage or an
unreadable input file. Errors are one line on stderr; `--verbose` adds the details.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

from desktopvm import __version__
from desktopvm.cli import (
    backup_commands,
    console_commands,
    disk_commands,
    doctor_commands,
    edit_commands,
    host_commands,
    machine_commands,
    media_commands,
    restore_commands,
    snapshot_commands,
    spec_commands,
)
from desktopvm.cli.common import EXIT_FAILED, EXIT_USAGE, Context, UsageError
from desktopvm.model import SpecFileError, printable, printable_lines
from desktopvm.model.catalog import CatalogError
from desktopvm.protocol import BackendError, OperationCancelled
from desktopvm.registry import Registry
from desktopvm.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="desktopvm-cli",
        description="Manage virtual machines of every hypervisor (QEMU, VirtualBox, Hyper-V).",
        epilog="A VM is named by name or id; CONNECTION:NAME picks one connection's machine "
        "(qemu:web, hyperv@hv01.lab.example:web). Remote hosts: `desktopvm-cli host --help`. "
        "State lives in $DESKTOPVM_HOME (default: the platform's user data folder).",
    )
    parser.add_argument("--version", action="version", version=f"DesktopVM {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="details with errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    machine_commands.add_parsers(sub)
    spec_sub = spec_commands.add_parsers(sub)
    edit_commands.add_parsers(sub, spec_sub)
    snapshot_commands.add_parsers(sub)
    disk_commands.add_parsers(sub)
    console_commands.add_parsers(sub)
    host_commands.add_parsers(sub)
    doctor_commands.add_parsers(sub)
    media_commands.add_parsers(sub)
    backup_commands.add_parsers(sub)
    restore_commands.add_parsers(sub)
    return parser


def _report(err: TextIO, summary: str, details: str, verbose: bool) -> None:
    # Messages may carry names (a refused one too): control characters are shown escaped.
    print(f"error: {printable(summary)}", file=err)
    if verbose and details:
        print(printable_lines(details.rstrip()), file=err)


def main(argv: Sequence[str] | None = None, *, registry: Registry | None = None,
         out: TextIO | None = None, err: TextIO | None = None,
         stdin: TextIO | None = None) -> int:
    """Run one command; returns the exit code. A registry made here is closed at the end
    (a remote host's WinRM shell is not left open); a registry passed in is the caller's."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse exits 2 on usage errors, 0 on --help
        return int(exit_request.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=err)
    ctx = Context(args, registry or Registry(load_settings()), out, err, stdin or sys.stdin)
    try:
        return _run(ctx)
    finally:
        if registry is None:
            ctx.registry.close()


def _run(ctx: Context) -> int:
    """The command's handler, its errors turned into one line on stderr and an exit code."""
    args, err, out = ctx.args, ctx.err, ctx.out
    try:
        return int(args.handler(ctx))
    except UsageError as error:
        print(f"error: {printable(str(error))}", file=err)
        return EXIT_USAGE
    except SpecFileError as error:
        print(f"error: {printable_lines(str(error))}", file=err)
        return EXIT_USAGE
    except OperationCancelled as error:
        print(f"cancelled: {printable(error.details or 'nothing was left behind')}", file=err)
        return EXIT_FAILED
    except BackendError as error:
        _report(err, error.summary, error.details, args.verbose)
        hint = getattr(error, "install_hint", "")
        if hint:
            print(f"hint: {printable(hint)}", file=err)
        return EXIT_FAILED
    except CatalogError as error:
        _report(err, "DesktopVM's OS catalog is damaged; reinstall DesktopVM", str(error),
                args.verbose)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_FAILED
    except BrokenPipeError as error:
        if error.filename is None and _is_our_output_gone(out):
            return EXIT_FAILED  # e.g. `desktopvm-cli list | head`: nothing left to say
        _report(err, f"connection lost: {error}", traceback.format_exc(), args.verbose)
        return EXIT_FAILED
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        _report(err, f"{error.strerror or error}{where}", traceback.format_exc(), args.verbose)
        return EXIT_FAILED
    except Exception as error:  # a bug: one clear line, the traceback with --verbose
        _report(err, f"unexpected error: {error!r} (run with --verbose for details)",
                traceback.format_exc(), args.verbose)
        return EXIT_FAILED


def _is_our_output_gone(out: TextIO) -> bool:
    """Whether the reader of our output went away (`show | head`): nothing left to say.

    Flushing tells when data is still buffered; a pipe whose reader closed also reports an
    error to poll() even when the buffer is empty. Output then goes to /dev/null, so that
    Python's own flush at exit stays quiet too.
    """
    gone = False
    try:
        out.flush()
    except (BrokenPipeError, ValueError):
        gone = True
    if not gone:
        try:
            poller = select.poll()
            poller.register(out.fileno(), select.POLLOUT)
            gone = any(events & select.POLLERR for _, events in poller.poll(0))
        except (AttributeError, OSError, ValueError):  # no poll() (Windows), or no real fd
            return False
    if gone:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return gone


if __name__ == "__main__":
    raise SystemExit(main())
