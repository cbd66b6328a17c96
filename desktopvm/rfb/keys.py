"""Key names to X keysyms and QEMU "qnum" scancodes (PC set 1, 0x80 bit = 0xE0 prefix)."""

from __future__ import annotations

from desktopvm.protocol.keys import KEYS, UnknownKey, parse_combo

#: Canonical key name (desktopvm.protocol.keys) -> (X keysym, QEMU qnum scan code).
KEYSYMS: dict[str, tuple[int, int]] = {name: (key.keysym, key.qnum) for name, key in KEYS.items()}

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
        return [KEYSYMS[name] for name in parse_combo(combo)]
    except UnknownKey as error:
        raise ValueError(str(error)) from None
