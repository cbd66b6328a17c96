"""Bounded reads from an image: never before its start, past its end, or more than a cap."""

from __future__ import annotations

import os
from typing import IO

#: No single header read needs more; a hostile length field cannot make us allocate more.
MAX_READ = 1024 * 1024


class Damaged(Exception):
    """A header field points somewhere the image does not have (the file is damaged or forged)."""


class ImageReader:
    """Reads from a seekable binary file of known size, only inside [0, size)."""

    def __init__(self, file: IO[bytes], size: int | None = None) -> None:
        self._file = file
        if size is None:
            size = file.seek(0, os.SEEK_END)
        self.size = size

    def read(self, offset: int, length: int, *, what: str = "header") -> bytes:
        """Exactly `length` bytes at `offset`, or Damaged if they are not all in the image."""
        if length < 0 or length > MAX_READ:
            raise Damaged(f"the {what} claims an implausible size ({length} bytes)")
        if offset < 0 or offset + length > self.size:
            raise Damaged(f"the {what} lies outside the file (offset {offset}, "
                          f"{length} bytes, file {self.size} bytes)")
        self._file.seek(offset)
        data = self._file.read(length)
        if len(data) != length:
            raise Damaged(f"the {what} is cut short")
        return data

    def read_upto(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (fewer near the end; none outside the file)."""
        if offset < 0 or offset >= self.size or length <= 0:
            return b""
        length = min(length, self.size - offset, MAX_READ)
        self._file.seek(offset)
        return self._file.read(length)
