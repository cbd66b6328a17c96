"""Images written under a hidden name and renamed into place only when complete (review D7).

A killed conversion (power cut, SIGKILL, a closed terminal) must never leave a partial image
under the final name, where it would pass `qemu-img check` and block the same command run
again. qemu-img writes into `.part-<random>/<final name>` beside the target (the name inside
an image, a VMDK's extent line, stays the final one); the folder holds the writer's pid, so
the next conversion into that folder removes parts whose writer is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backends.qemu import process

log = logging.getLogger(__name__)
PREFIX = ".part-"
OWNER = "owner.pid"


@contextmanager
def partial_file(target: Path) -> Iterator[Path]:
    """A path to write `target` to; moved into place when the block ends without an error.

    On an error (or cancel) the partial file and its folder go. `target` must not exist.
    """
    with scratch_folder(target.parent) as folder:
        partial = folder / target.name
        yield partial
        _into_place(partial, target)


@contextmanager
def scratch_folder(parent: Path) -> Iterator[Path]:
    """A folder in `parent`, marked with our pid, removed when the block ends (however it
    ends); a killed owner's folder is removed by the next `sweep` of `parent`."""
    sweep(parent)
    folder = parent / f"{PREFIX}{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    try:
        (folder / OWNER).write_text(str(os.getpid()), encoding="ascii")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _into_place(partial: Path, target: Path) -> None:
    """Give the finished file its name, never replacing a file that appeared meanwhile."""
    try:
        os.link(partial, target)  # fails if the target exists: never overwritten
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT): the caller checked the name was free
        if os.path.lexists(target):
            raise FileExistsError(f"{target} appeared while it was being written") from None
        partial.replace(target)


def sweep(folder: Path) -> None:
    """Remove part folders whose writer is gone (killed before it could clean up)."""
    with contextlib.suppress(OSError):
        for part in folder.glob(f"{PREFIX}*"):
            try:
                pid = int((part / OWNER).read_text(encoding="ascii").strip())
            except (OSError, ValueError):
                continue  # not ours, or being made right now: leave it
            if not process.pid_alive(pid):
                log.info("removing %s, left by a conversion that was killed", part)
                shutil.rmtree(part, ignore_errors=True)
