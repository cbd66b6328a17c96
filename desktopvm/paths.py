"""Where DesktopVM keeps its state, its shipped resources; atomic writes, safe reads of files."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import platformdirs

HOME_ENV = "DESKTOPVM_HOME"


def state_root() -> Path:
    """The one folder that holds all user state: `$DESKTOPVM_HOME`, else the platform's data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_data_dir("DesktopVM", appauthor=False))


def config_file() -> Path:
    """The app's settings file (JSON)."""
    return state_root() / "config.json"


def machines_dir() -> Path:
    """The default library folder for VMs that DesktopVM itself stores (QEMU)."""
    return state_root() / "machines"


def log_dir() -> Path:
    """Where logs go."""
    return state_root() / "logs"


def resources_dir() -> Path:
    """The shipped data folder, wherever this copy of DesktopVM runs from.

    A frozen app carries it beside the executable's bundle, a wheel inside the package
    (`desktopvm/_resources`, copied at build time), a source checkout at the repo top.
    """
    here = Path(__file__).resolve().parent
    candidates = [here / "_resources", here.parent / "resources"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "resources")
    for candidate in candidates:
        if (candidate / "os_catalog.json").is_file():
            return candidate
    raise FileNotFoundError(
        "DesktopVM's resources folder is missing (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); the installation is incomplete."
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half.

    The temporary file lives in the same folder (same filesystem) and is fsynced before
    the rename; on failure it is removed and the old file is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic write of UTF-8 text (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    """A file someone else may have placed (a backup set's, a machine's TPM state) opened for
    reading, which must be a regular file: opened non-blocking and without following a link,
    so a FIFO or device put there cannot hang the reader (OSError for anything but a regular
    file; the non-blocking flag changes nothing for one)."""
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_BINARY", 0))
    descriptor = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        file = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with file:
        yield file


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a small file someone else may have placed (see open_regular): OSError
    when it is not a regular file or holds more than `limit` bytes."""
    with open_regular(path) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data
