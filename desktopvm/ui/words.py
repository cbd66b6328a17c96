"""Sizes in the one format the main window uses: '512 MiB', '4 GiB', '1.5 GiB'. Free of the
model, so the first paint does not load it."""

from __future__ import annotations

GIB_IN_MIB = 1024


def format_mib(mib: int) -> str:
    """A memory size in the unit people think in."""
    if mib < GIB_IN_MIB:
        return f"{mib} MiB"
    gib = mib / GIB_IN_MIB
    return f"{gib:.0f} GiB" if gib == int(gib) else f"{gib:.1f} GiB"


def format_bytes(size: int) -> str:
    """A disk size: '64 GiB', '512 MiB'."""
    return format_mib(size // (1024 * 1024))
