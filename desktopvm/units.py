"""Sizes as people write and read them: '4G' -> bytes, bytes -> '4.0 GiB'."""

from __future__ import annotations

import re

SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_size(text: str, default_unit: str) -> int | None:
    """'4G', '4096M', '1.5T', '40' (in `default_unit`) -> bytes; None if it is not a size."""
    match = SIZE_PATTERN.match(text)
    if not match:
        return None
    number, unit = float(match.group(1)), (match.group(2) or default_unit).upper()
    return int(number * UNITS[unit])


def format_size(size: int) -> str:
    """Bytes as a short human size."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
