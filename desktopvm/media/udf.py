"""The UDF side of a disc (Windows keeps all its files there), read through pycdlib.

pycdlib parses the whole directory tree when it opens a disc, so it is only asked when the
disc announces UDF and the ISO 9660 side did not answer; anything it raises on a damaged or
hostile disc means "no UDF answer", never a crash, and files are read through a bounded read.
"""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

log = logging.getLogger(__name__)
MAX_FILE_BYTES = 64 * 1024


class UdfTree:
    """Look-ups by path in a disc's UDF file system."""

    def __init__(self, cdlib: Any) -> None:
        self._cdlib = cdlib

    def exists(self, path: str) -> bool:
        """Whether `path` names a file or folder (case-insensitive, as Windows treats it)."""
        return self._resolve(path) is not None

    def list(self, path: str) -> list[str]:
        """The names in a folder, [] when there is none."""
        resolved = self._resolve(path)
        if resolved is None:
            return []
        try:
            return [child.file_identifier().decode("utf-8", "replace")
                    for child in self._cdlib.list_children(udf_path=resolved)
                    if child is not None and not child.is_dot()
                    and not child.is_dotdot()]
        except Exception:  # a damaged tree is "nothing there", see the module doc
            return []

    def read(self, path: str) -> str | None:
        """A small file's text (its first 64 KiB), or None."""
        resolved = self._resolve(path)
        if resolved is None:
            return None
        try:
            with self._cdlib.open_file_from_iso(udf_path=resolved) as handle:
                data: bytes = handle.read(MAX_FILE_BYTES)
        except Exception:
            return None
        # idwbinfo.txt is UTF-16 with a BOM on some releases, ASCII on others.
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16", "replace")
        return data.decode("utf-8", "replace")

    def _resolve(self, path: str) -> str | None:
        """The disc's own spelling of `path`, matching each part case-insensitively."""
        current = ""
        for part in path.strip("/").split("/"):
            try:
                children = self._cdlib.list_children(udf_path=current or "/")
                names = [child.file_identifier().decode("utf-8", "replace")
                         for child in children if child is not None and not child.is_dot()
                         and not child.is_dotdot()]
            except Exception:
                return None
            match = next((name for name in names if name.lower() == part.lower()), None)
            if match is None:
                return None
            current = f"{current}/{match}"
        return current or "/"


def read_tree(handle: BinaryIO, size: int) -> UdfTree | None:
    """The disc's UDF tree, or None when pycdlib is missing or cannot read it."""
    try:
        import pycdlib
    except ImportError:  # an install without it still reads the ISO 9660 side
        log.info("pycdlib is not installed; the UDF side of discs is not read")
        return None
    cdlib = pycdlib.PyCdlib()
    try:
        handle.seek(0)
        cdlib.open_fp(handle)
    except Exception as error:  # RecursionError included: a hostile tree is "no answer"
        log.info("the UDF side of a disc of %d bytes is unreadable: %s", size, error)
        return None
    if not cdlib.has_udf():
        return None
    return UdfTree(cdlib)
