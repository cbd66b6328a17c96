"""Sets are written under `.partial-…` and renamed into place only when complete.

A set folder that carries a set's name is always whole: the writer works in a hidden
`.partial-<random>` folder beside it, marked with this host's name and the writer's pid, and
renames it only after SHA256SUMS is written and flushed. A cancelled or failed writer removes
its folder; one that was killed leaves it, and the next operation in that machine folder
removes it once the pid is gone. Deleting a set goes the same way backwards: renamed to a
partial name first, then removed, so a half-deleted set never looks complete either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backends.qemu.process import pid_alive
from desktopvm.backup.setfile import read_small

log = logging.getLogger(__name__)
PREFIX = ".partial-"
OWNER = ".owner"


def _owner_text() -> str:
    return f"{socket.gethostname()} {os.getpid()}\n"


def _stale(folder: Path) -> bool:
    """Whether a partial folder's writer is gone (a writer on another host is left alone)."""
    try:
        host, pid = read_small(folder / OWNER, 4096).split()
        number = int(pid)
    except (OSError, ValueError, UnicodeDecodeError):
        return False  # not ours, or being made right now
    return host == socket.gethostname() and number != os.getpid() and not pid_alive(number)


def sweep(machine_folder: Path) -> list[Path]:
    """Remove the partial folders left by killed writers in `machine_folder`; what went."""
    removed = []
    with contextlib.suppress(OSError):
        for folder in machine_folder.glob(f"{PREFIX}*"):
            if folder.is_dir() and not folder.is_symlink() and _stale(folder):
                log.info("removing %s, left by a backup that was killed", folder)
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


@contextmanager
def partial_folder(machine_folder: Path) -> Iterator[Path]:
    """A new marked folder in `machine_folder`, removed when the block ends unless it was
    published (renamed away) meanwhile."""
    machine_folder.mkdir(parents=True, exist_ok=True)
    sweep(machine_folder)
    folder = machine_folder / f"{PREFIX}{secrets.token_hex(6)}"
    folder.mkdir()
    try:
        (folder / OWNER).write_text(_owner_text(), encoding="utf-8")
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def publish(partial: Path, final: Path) -> None:
    """Give a finished set its name: the owner mark goes, the files are flushed, one rename."""
    (partial / OWNER).unlink()
    for path in partial.rglob("*"):
        if path.is_file():
            _fsync(path)
    if final.exists():
        raise FileExistsError(f"{final} appeared while the backup was being written")
    partial.rename(final)
    _fsync(final.parent)


def remove_set(set_path: Path) -> None:
    """Delete a set: renamed to a marked partial name first, so it never looks half there."""
    doomed = set_path.parent / f"{PREFIX}{secrets.token_hex(6)}"
    set_path.rename(doomed)
    with contextlib.suppress(OSError):
        (doomed / OWNER).write_text(_owner_text(), encoding="utf-8")
    shutil.rmtree(doomed, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk where the platform allows it (not folders on Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
