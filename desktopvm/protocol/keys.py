"""One key vocabulary for every backend and the VNC client: names, aliases, scan codes, keysyms.

A key combination is written like `ctrl-alt-delete` or `Ctrl+Alt+F2`: names joined by `-` or
`+`, pressed in order and released in reverse. `parse_combo` turns it into canonical names;
each backend keeps only a table from canonical names to its own codes (QEMU qcodes, PS/2
scan codes for VirtualBox, Windows virtual-key codes for Hyper-V, X keysyms for RFB), and its
capabilities list the keys it can send, so the console offers only those.

Text is typed on a US keyboard layout: `text_to_combos` gives the combination of each
character (`A` is `shift-a`).
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownKey(ValueError):
    """A key name, combination or character that cannot be sent."""


@dataclass(frozen=True, slots=True)
class Key:
    """One key: its PC set-1 make code (with the E0 prefix for extended keys) and X keysym."""

    name: str
    scancode: int
    extended: bool = False
    keysym: int = 0

    @property
    def qnum(self) -> int:
        """QEMU's "qnum" for RFB's extended key event: set-1 code, 0x80 bit for E0."""
        return self.scancode | (0x80 if self.extended else 0)

    def make(self) -> list[int]:
        """The bytes a PS/2 keyboard sends when the key goes down."""
        if self.name == "printscreen":  # fake shift, then the key (what Windows expects)
            return [0xE0, 0x2A, 0xE0, 0x37]
        if self.name == "pause":  # no break code at all
            return [0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]
        return [0xE0, self.scancode] if self.extended else [self.scancode]

    def release(self) -> list[int]:
        """The bytes a PS/2 keyboard sends when the key comes up."""
        if self.name == "printscreen":
            return [0xE0, 0xB7, 0xE0, 0xAA]
        if self.name == "pause":
            return []
        code = self.scancode | 0x80
        return [0xE0, code] if self.extended else [code]


def _keys() -> dict[str, Key]:
    table = [
        Key("esc", 0x01, keysym=0xFF1B), Key("backspace", 0x0E, keysym=0xFF08),
        Key("tab", 0x0F, keysym=0xFF09), Key("enter", 0x1C, keysym=0xFF0D),
        Key("ctrl", 0x1D, keysym=0xFFE3), Key("ctrl_r", 0x1D, True, 0xFFE4),
        Key("shift", 0x2A, keysym=0xFFE1), Key("shift_r", 0x36, keysym=0xFFE2),
        Key("alt", 0x38, keysym=0xFFE9), Key("altgr", 0x38, True, 0xFFEA),
        Key("win", 0x5B, True, 0xFFEB), Key("win_r", 0x5C, True, 0xFFEC),
        Key("menu", 0x5D, True, 0xFF67), Key("space", 0x39, keysym=0x0020),
        Key("capslock", 0x3A, keysym=0xFFE5), Key("numlock", 0x45, keysym=0xFF7F),
        Key("scrolllock", 0x46, keysym=0xFF14), Key("sysrq", 0x54, keysym=0xFF15),
        Key("printscreen", 0x37, True, 0xFF61), Key("pause", 0x46, True, 0xFF13),
        Key("insert", 0x52, True, 0xFF63), Key("delete", 0x53, True, 0xFFFF),
        Key("home", 0x47, True, 0xFF50), Key("end", 0x4F, True, 0xFF57),
        Key("pageup", 0x49, True, 0xFF55), Key("pagedown", 0x51, True, 0xFF56),
        Key("left", 0x4B, True, 0xFF51), Key("up", 0x48, True, 0xFF52),
        Key("right", 0x4D, True, 0xFF53), Key("down", 0x50, True, 0xFF54),
        Key("minus", 0x0C, keysym=ord("-")), Key("equal", 0x0D, keysym=ord("=")),
        Key("bracketleft", 0x1A, keysym=ord("[")), Key("bracketright", 0x1B, keysym=ord("]")),
        Key("backslash", 0x2B, keysym=ord("\\")), Key("semicolon", 0x27, keysym=ord(";")),
        Key("apostrophe", 0x28, keysym=ord("'")), Key("grave", 0x29, keysym=ord("`")),
        Key("comma", 0x33, keysym=ord(",")), Key("dot", 0x34, keysym=ord(".")),
        Key("slash", 0x35, keysym=ord("/")),
    ]
    table += [Key(f"f{n}", 0x3A + n, keysym=0xFFBD + n) for n in range(1, 11)]
    table += [Key("f11", 0x57, keysym=0xFFC8), Key("f12", 0x58, keysym=0xFFC9)]
    for row, first in (("1234567890", 0x02), ("qwertyuiop", 0x10), ("asdfghjkl", 0x1E),
                       ("zxcvbnm", 0x2C)):
        table += [Key(char, first + i, keysym=ord(char)) for i, char in enumerate(row)]
    return {key.name: key for key in table}


#: Every key, by canonical name.
KEYS: dict[str, Key] = _keys()

#: Other names people (and the older tables) use for the same keys.
ALIASES: dict[str, str] = {
    "control": "ctrl", "lctrl": "ctrl", "rctrl": "ctrl_r", "lshift": "shift",
    "rshift": "shift_r", "lalt": "alt", "ralt": "altgr", "alt_r": "altgr", "option": "alt",
    "super": "win", "meta": "win", "cmd": "win", "command": "win", "meta_l": "win",
    "rwin": "win_r", "meta_r": "win_r", "escape": "esc", "return": "enter", "ret": "enter",
    "spc": "space", "bksp": "backspace", "del": "delete", "ins": "insert",
    "pgup": "pageup", "pgdn": "pagedown", "print": "printscreen", "prtsc": "printscreen",
    "prtscn": "printscreen", "caps_lock": "capslock", "num_lock": "numlock",
    "scroll_lock": "scrolllock", "bracket_left": "bracketleft",
    "bracket_right": "bracketright", "grave_accent": "grave", "period": "dot",
    "apps": "menu", "break": "pause",
}

MODIFIERS = frozenset({"ctrl", "ctrl_r", "shift", "shift_r", "alt", "altgr", "win", "win_r"})

#: The combinations the console offers (label, combination); a backend offers those whose
#: keys are all in its capabilities' `keys`.
COMMON_COMBOS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Alt+Del", "ctrl-alt-delete"), ("Ctrl+Alt+Backspace", "ctrl-alt-backspace"),
    *((f"Ctrl+Alt+F{n}", f"ctrl-alt-f{n}") for n in range(1, 13)),
    ("Alt+Tab", "alt-tab"), ("Alt+F4", "alt-f4"), ("Windows", "win"),
    ("PrintScreen", "printscreen"), ("Alt+SysRq", "alt-sysrq"), ("Escape", "esc"),
)


def canonical(name: str) -> str:
    """The canonical name of one key (case and aliases folded), or UnknownKey."""
    folded = name.strip().lower()
    folded = ALIASES.get(folded, folded)
    if folded not in KEYS:
        raise UnknownKey(f"unknown key {name!r}")
    return folded


def parse_combo(combo: str) -> tuple[str, ...]:
    """'Ctrl+Alt+Del' or 'ctrl-alt-delete' -> ('ctrl', 'alt', 'delete')."""
    parts = combo.replace("+", "-").split("-")
    if not all(part.strip() for part in parts):
        raise UnknownKey(f"a key is missing in the combination {combo!r}")
    return tuple(canonical(part) for part in parts)


def combo_allowed(combo: str, keys: frozenset[str]) -> bool:
    """Whether every key of `combo` is among `keys` (a backend's sendable keys)."""
    try:
        return set(parse_combo(combo)) <= keys
    except UnknownKey:
        return False


def require_keys(combo: str, keys: frozenset[str] | set[str], backend: str) -> tuple[str, ...]:
    """The canonical keys of `combo`, or UnknownKey naming those `backend` cannot send."""
    names = parse_combo(combo)
    missing = [name for name in names if name not in keys]
    if missing:
        raise UnknownKey(f"{backend} cannot send {', '.join(missing)} (in {combo!r})")
    return names


# -- text on a US keyboard layout ---------------------------------------------------------------
_UNSHIFTED = {
    **{c: c for c in "abcdefghijklmnopqrstuvwxyz0123456789"},
    " ": "space", "\n": "enter", "\t": "tab", "-": "minus", "=": "equal", "[": "bracketleft",
    "]": "bracketright", "\\": "backslash", ";": "semicolon", "'": "apostrophe", "`": "grave",
    ",": "comma", ".": "dot", "/": "slash",
}
_SHIFTED = {
    **{c.upper(): c for c in "abcdefghijklmnopqrstuvwxyz"},
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8", "(": "9",
    ")": "0", "_": "minus", "+": "equal", "{": "bracketleft", "}": "bracketright",
    "|": "backslash", ":": "semicolon", '"': "apostrophe", "~": "grave", "<": "comma",
    ">": "dot", "?": "slash",
}
#: Every character a US keyboard types (printable ASCII, newline, tab).
US_TYPEABLE = frozenset(_UNSHIFTED) | frozenset(_SHIFTED)


def check_typeable(text: str, backend: str, allowed: frozenset[str] = US_TYPEABLE) -> str:
    """`text` with Windows line ends made "\\n", or UnknownKey naming what cannot be typed."""
    text = text.replace("\r\n", "\n")
    bad = sorted({char for char in text if char not in allowed})
    if bad:
        raise UnknownKey(f"{backend} types printable ASCII only (a US keyboard layout); "
                         "cannot type " + " ".join(repr(char) for char in bad))
    return text


def text_to_combos(text: str, backend: str = "The keyboard") -> list[tuple[str, ...]]:
    """The combination that types each character, e.g. 'A' -> ('shift', 'a')."""
    combos: list[tuple[str, ...]] = []
    for char in check_typeable(text, backend):
        if char in _UNSHIFTED:
            combos.append((_UNSHIFTED[char],))
        else:
            combos.append(("shift", _SHIFTED[char]))
    return combos
