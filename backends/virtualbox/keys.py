"""Key combinations -> PS/2 set-1 scan codes for `controlvm keyboardputscancode`.

A combination like `ctrl-alt-delete` becomes: press each key in order, release in reverse.
Release codes are the make code with bit 7 set; extended keys carry an `e0` prefix (the
convention Packer's boot-command typing uses with the same VBoxManage command).
"""

from __future__ import annotations

PLAIN: dict[str, int] = {
    "esc": 0x01, "1": 0x02, "2": 0x03, "3": 0x04, "4": 0x05, "5": 0x06, "6": 0x07,
    "7": 0x08, "8": 0x09, "9": 0x0A, "0": 0x0B, "minus": 0x0C, "equal": 0x0D,
    "backspace": 0x0E, "tab": 0x0F, "q": 0x10, "w": 0x11, "e": 0x12, "r": 0x13, "t": 0x14,
    "y": 0x15, "u": 0x16, "i": 0x17, "o": 0x18, "p": 0x19, "bracketleft": 0x1A,
    "bracketright": 0x1B, "enter": 0x1C, "ctrl": 0x1D, "a": 0x1E, "s": 0x1F, "d": 0x20,
    "f": 0x21, "g": 0x22, "h": 0x23, "j": 0x24, "k": 0x25, "l": 0x26, "semicolon": 0x27,
    "apostrophe": 0x28, "grave": 0x29, "shift": 0x2A, "backslash": 0x2B, "z": 0x2C,
    "x": 0x2D, "c": 0x2E, "v": 0x2F, "b": 0x30, "n": 0x31, "m": 0x32, "comma": 0x33,
    "dot": 0x34, "slash": 0x35, "rshift": 0x36, "kpmultiply": 0x37, "alt": 0x38,
    "space": 0x39, "capslock": 0x3A, "f1": 0x3B, "f2": 0x3C, "f3": 0x3D, "f4": 0x3E,
    "f5": 0x3F, "f6": 0x40, "f7": 0x41, "f8": 0x42, "f9": 0x43, "f10": 0x44,
    "numlock": 0x45, "scrolllock": 0x46, "f11": 0x57, "f12": 0x58,
}
EXTENDED: dict[str, int] = {
    "rctrl": 0x1D, "altgr": 0x38, "home": 0x47, "up": 0x48, "pageup": 0x49, "left": 0x4B,
    "right": 0x4D, "end": 0x4F, "down": 0x50, "pagedown": 0x51, "insert": 0x52,
    "delete": 0x53, "win": 0x5B, "rwin": 0x5C, "menu": 0x5D,
}
ALIASES = {
    "control": "ctrl", "lctrl": "ctrl", "escape": "esc", "return": "enter", "ret": "enter",
    "del": "delete", "spc": "space", "pgup": "pageup", "pgdn": "pagedown", "ins": "insert",
    "super": "win", "meta": "win", "cmd": "win", "lalt": "alt", "ralt": "altgr",
    "lshift": "shift", "bksp": "backspace",
}
# keyboardputstring types these itself; anything else is refused before a process starts.
TYPEABLE = {chr(c) for c in range(0x20, 0x7F)} | {"\n", "\t"}


class UntypeableText(ValueError):
    """Text or a key name the VirtualBox keyboard commands cannot send."""


def _codes(name: str, release: bool) -> list[str]:
    key = ALIASES.get(name, name)
    bit = 0x80 if release else 0
    if key in PLAIN:
        return [f"{PLAIN[key] | bit:02x}"]
    if key in EXTENDED:
        return ["e0", f"{EXTENDED[key] | bit:02x}"]
    raise UntypeableText(f"unknown key {name!r}")


def combo_to_scancodes(combo: str) -> list[str]:
    """'ctrl-alt-delete' or 'Ctrl+Alt+F2' -> hex scan codes (press in order, release reversed)."""
    parts = [p for p in combo.lower().replace("+", "-").split("-") if p]
    if not parts:
        raise UntypeableText(f"empty key combination {combo!r}")
    pressed = [c for part in parts for c in _codes(part, release=False)]
    released = [c for part in reversed(parts) for c in _codes(part, release=True)]
    return pressed + released


def check_typeable(text: str) -> str:
    """The text with Windows line ends normalised, or UntypeableText naming the character."""
    text = text.replace("\r\n", "\n")
    for char in text:
        if char not in TYPEABLE:
            raise UntypeableText(f"cannot type {char!r}: VirtualBox types printable ASCII only")
    return text


def chunks(text: str, size: int = 512) -> list[str]:
    """Pieces short enough for one command line each."""
    return [text[i:i + size] for i in range(0, len(text), size)]
