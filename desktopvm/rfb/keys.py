"""Key names to X keysyms and QEMU "qnum" scancodes (PC set 1, 0x80 bit = 0xE0 prefix)."""

from __future__ import annotations

KEYSYMS: dict[str, tuple[int, int]] = {
    "ctrl": (0xFFE3, 0x1D), "ctrl_r": (0xFFE4, 0x9D), "shift": (0xFFE1, 0x2A),
    "shift_r": (0xFFE2, 0x36), "alt": (0xFFE9, 0x38), "alt_r": (0xFFEA, 0xB8),
    "meta": (0xFFEB, 0xDB), "meta_r": (0xFFEC, 0xDC), "menu": (0xFF67, 0xDD),
    "delete": (0xFFFF, 0xD3), "insert": (0xFF63, 0xD2), "backspace": (0xFF08, 0x0E),
    "tab": (0xFF09, 0x0F), "ret": (0xFF0D, 0x1C), "esc": (0xFF1B, 0x01),
    "spc": (0x0020, 0x39), "home": (0xFF50, 0xC7), "end": (0xFF57, 0xCF),
    "pgup": (0xFF55, 0xC9), "pgdn": (0xFF56, 0xD1), "left": (0xFF51, 0xCB),
    "up": (0xFF52, 0xC8), "right": (0xFF53, 0xCD), "down": (0xFF54, 0xD0),
    "print": (0xFF61, 0xB7), "sysrq": (0xFF15, 0x54), "scroll_lock": (0xFF14, 0x46),
    "caps_lock": (0xFFE5, 0x3A), "num_lock": (0xFF7F, 0x45),
}
for _n in range(1, 11):
    KEYSYMS[f"f{_n}"] = (0xFFBD + _n, 0x3A + _n)
KEYSYMS["f11"], KEYSYMS["f12"] = (0xFFC8, 0x57), (0xFFC9, 0x58)
for _row, _first in (("1234567890", 0x02), ("qwertyuiop", 0x10), ("asdfghjkl", 0x1E),
                     ("zxcvbnm", 0x2C)):
    for _i, _ch in enumerate(_row):
        KEYSYMS[_ch] = (ord(_ch), _first + _i)

# Linux evdev key codes (X11 keycode - 8) whose qnum differs from the code itself.
_EVDEV_EXTENDED = {
    96: 0x9C, 97: 0x9D, 98: 0xB5, 99: 0xB7, 100: 0xB8, 102: 0xC7, 103: 0xC8, 104: 0xC9,
    105: 0xCB, 106: 0xCD, 107: 0xCF, 108: 0xD0, 109: 0xD1, 110: 0xD2, 111: 0xD3, 119: 0xC6,
    125: 0xDB, 126: 0xDC, 127: 0xDD,
}


def evdev_to_qnum(code: int) -> int:
    """The QEMU scancode of a Linux evdev key code (0 when unknown)."""
    if 1 <= code <= 88 and code not in (84, 85):
        return code
    return _EVDEV_EXTENDED.get(code, 0)


def combo_keys(combo: str) -> list[tuple[int, int]]:
    """(keysym, scancode) of each key in a combination such as "ctrl-alt-delete"."""
    try:
        return [KEYSYMS[name] for name in combo.lower().split("-")]
    except KeyError as error:
        raise ValueError(f"Unknown key {error.args[0]!r} in {combo!r}") from None
