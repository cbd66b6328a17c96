"""Console helpers: RGB565 thumbnails to PNG (zlib only), key names to Windows virtual-key codes."""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from functools import cache

from desktopvm.protocol.keys import UnknownKey, check_typeable, require_keys

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


# Windows virtual-key codes (what Msvm_Keyboard.TypeKey/PressKey take), by the shared names of
# desktopvm.protocol.keys. SysRq has none: Hyper-V cannot send it.
MODIFIERS = {"ctrl": 0x11, "ctrl_r": 0xA3, "shift": 0x10, "shift_r": 0xA1, "alt": 0x12,
             "altgr": 0xA5, "win": 0x5B, "win_r": 0x5C}
VIRTUAL_KEYS = {
    **MODIFIERS,
    "enter": 0x0D, "esc": 0x1B, "tab": 0x09, "space": 0x20, "backspace": 0x08,
    "delete": 0x2E, "insert": 0x2D, "home": 0x24, "end": 0x23, "pageup": 0x21,
    "pagedown": 0x22, "up": 0x26, "down": 0x28, "left": 0x25, "right": 0x27,
    "printscreen": 0x2C, "pause": 0x13, "capslock": 0x14, "numlock": 0x90,
    "scrolllock": 0x91, "menu": 0x5D, "minus": 0xBD, "equal": 0xBB, "bracketleft": 0xDB,
    "bracketright": 0xDD, "backslash": 0xDC, "semicolon": 0xBA, "apostrophe": 0xDE,
    "grave": 0xC0, "comma": 0xBC, "dot": 0xBE, "slash": 0xBF,
    **{f"f{n}": 0x6F + n for n in range(1, 13)},
    **{chr(c): c - 32 for c in range(ord("a"), ord("z") + 1)},
    **{str(d): 0x30 + d for d in range(10)},
}
SENDABLE = frozenset(VIRTUAL_KEYS)
#: Msvm_Keyboard.TypeText takes at most this many characters per call (review H2).
TYPE_TEXT_LIMIT = 512


def combo(text: str) -> dict[str, object]:
    """'ctrl-alt-delete' / 'Ctrl+Alt+F2' / 'enter' -> a type_keys combo."""
    *held, key = require_keys(text, SENDABLE, "Hyper-V")
    if sorted(held) == ["alt", "ctrl"] and key == "delete":
        return {"CtrlAltDel": True, "Modifiers": [], "Key": 0}
    not_modifiers = [name for name in held if name not in MODIFIERS]
    if not_modifiers:
        raise UnknownKey(f"Hyper-V holds only Ctrl, Shift, Alt and Windows while it types a "
                         f"key; cannot hold {', '.join(not_modifiers)} (in {text!r})")
    return {"CtrlAltDel": False, "Modifiers": [MODIFIERS[name] for name in held],
            "Key": VIRTUAL_KEYS[key]}


def typeable(text: str) -> list[tuple[str, str]]:
    """Split text into ('text', ascii run) and ('key', 'enter') parts; non-ASCII raises.

    Runs are at most TYPE_TEXT_LIMIT characters each: TypeText refuses longer ones.
    """
    checked = check_typeable(text, "Hyper-V")
    parts: list[tuple[str, str]] = []
    for index, line in enumerate(checked.split("\n")):
        if index:
            parts.append(("key", "enter"))
        parts += [("text", line[i:i + TYPE_TEXT_LIMIT])
                  for i in range(0, len(line), TYPE_TEXT_LIMIT)]
    return parts
