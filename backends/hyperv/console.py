"""Console helpers: RGB565 thumbnails to PNG (zlib only), key names to Windows virtual-key codes."""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from functools import cache

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@cache
def _rgb565_table() -> list[bytes]:
    """Every 16-bit RGB565 value as its 3 RGB bytes (5/6 bits widened to 8)."""
    table = []
    for value in range(65536):
        red, green, blue = value >> 11, (value >> 5) & 0x3F, value & 0x1F
        table.append(bytes(((red << 3) | (red >> 2), (green << 2) | (green >> 4),
                            (blue << 3) | (blue >> 2))))
    return table


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def rgb565_to_png(data: bytes, width: int, height: int) -> bytes:
    """A PNG of a raw little-endian RGB565 frame (what GetVirtualSystemThumbnailImage returns)."""
    if width <= 0 or height <= 0 or len(data) < width * height * 2:
        raise ValueError(f"{len(data)} bytes are not a {width}x{height} RGB565 image")
    pixels = array("H")
    pixels.frombytes(data[: width * height * 2])
    if sys.byteorder == "big":
        pixels.byteswap()
    table = _rgb565_table()
    rows = []
    for row in range(height):
        line = pixels[row * width:(row + 1) * width]
        rows.append(b"\x00" + b"".join([table[p] for p in line]))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + _chunk(b"IEND", b""))


# Windows virtual-key codes (what Msvm_Keyboard.TypeKey/PressKey take).
MODIFIERS = {"ctrl": 0x11, "control": 0x11, "shift": 0x10, "alt": 0x12, "win": 0x5B,
             "super": 0x5B, "meta": 0x5B}
KEYS = {
    "enter": 0x0D, "return": 0x0D, "ret": 0x0D, "esc": 0x1B, "escape": 0x1B, "tab": 0x09,
    "space": 0x20, "spc": 0x20, "backspace": 0x08, "delete": 0x2E, "del": 0x2E,
    "insert": 0x2D, "home": 0x24, "end": 0x23, "pageup": 0x21, "pagedown": 0x22,
    "up": 0x26, "down": 0x28, "left": 0x25, "right": 0x27, "printscreen": 0x2C,
    "print": 0x2C, "pause": 0x13, "capslock": 0x14, "menu": 0x5D,
    **{f"f{n}": 0x6F + n for n in range(1, 13)},
    **{chr(c): c - 32 for c in range(ord("a"), ord("z") + 1)},
    **{str(d): 0x30 + d for d in range(10)},
}


class UnknownKey(ValueError):
    """A key name without a virtual-key code."""


def combo(text: str) -> dict[str, object]:
    """'ctrl-alt-delete' / 'Ctrl+Alt+F2' / 'enter' -> a type_keys combo."""
    parts = [p for p in text.lower().replace("+", "-").split("-") if p]
    if not parts:
        raise UnknownKey(f"empty key combination {text!r}")
    *held, key = parts
    if sorted(held) == ["alt", "ctrl"] and key in ("delete", "del"):
        return {"CtrlAltDel": True, "Modifiers": [], "Key": 0}
    unknown = [p for p in held if p not in MODIFIERS] + ([key] if key not in KEYS else [])
    if unknown:
        raise UnknownKey(f"cannot send {', '.join(unknown)} (in {text!r})")
    return {"CtrlAltDel": False, "Modifiers": [MODIFIERS[p] for p in held], "Key": KEYS[key]}


def typeable(text: str) -> list[tuple[str, str]]:
    """Split text into ('text', ascii run) and ('key', 'enter') parts; non-ASCII raises."""
    bad = sorted({c for c in text if not (" " <= c <= "~" or c in "\n\r\t")})
    if bad:
        raise UnknownKey("Hyper-V's virtual keyboard types ASCII only; cannot type "
                         + " ".join(repr(c) for c in bad))
    parts: list[tuple[str, str]] = []
    for index, line in enumerate(text.replace("\r\n", "\n").split("\n")):
        if index:
            parts.append(("key", "enter"))
        if line:
            parts.append(("text", line))
    return parts
