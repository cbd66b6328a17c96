"""Turns text and key-combination names into QEMU `send-key` qcodes (US keyboard layout)."""

from __future__ import annotations

from collections.abc import Iterator

UNSHIFTED = {
    **{c: c for c in "abcdefghijklmnopqrstuvwxyz0123456789"},
    " ": "spc", "\n": "ret", "\t": "tab", "-": "minus", "=": "equal", "[": "bracket_left",
    "]": "bracket_right", "\\": "backslash", ";": "semicolon", "'": "apostrophe",
    "`": "grave_accent", ",": "comma", ".": "dot", "/": "slash",
}
SHIFTED = {
    **{c.upper(): c for c in "abcdefghijklmnopqrstuvwxyz"},
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8", "(": "9",
    ")": "0", "_": "minus", "+": "equal", "{": "bracket_left", "}": "bracket_right",
    "|": "backslash", ":": "semicolon", '"': "apostrophe", "~": "grave_accent", "<": "comma",
    ">": "dot", "?": "slash",
}
ALIASES = {
    "control": "ctrl", "del": "delete", "esc": "esc", "escape": "esc", "enter": "ret",
    "return": "ret", "space": "spc", "printscreen": "print", "prtsc": "print",
    "backspace": "backspace", "win": "meta_l", "super": "meta_l", "alt": "alt",
    "altgr": "alt_r", "shift": "shift", "ctrl": "ctrl",
}


class UntypeableText(ValueError):
    """Text with characters a US keyboard cannot type."""


def text_to_combos(text: str) -> Iterator[list[str]]:
    """One qcode combination per character, e.g. 'A' -> ['shift', 'a']."""
    for char in text.replace("\r\n", "\n"):
        if char in UNSHIFTED:
            yield [UNSHIFTED[char]]
        elif char in SHIFTED:
            yield ["shift", SHIFTED[char]]
        else:
            raise UntypeableText(f"cannot type {char!r} with a US keyboard layout")


def combo_to_qcodes(combo: str) -> list[str]:
    """'ctrl-alt-delete' or 'Ctrl+Alt+F2' -> ['ctrl', 'alt', 'delete'] / [..., 'f2']."""
    parts = [p for p in combo.lower().replace("+", "-").split("-") if p]
    if not parts:
        raise UntypeableText(f"empty key combination {combo!r}")
    return [ALIASES.get(p, p) for p in parts]


def qmp_keys(qcodes: list[str]) -> list[dict[str, str]]:
    """The `keys` argument of QMP send-key."""
    return [{"type": "qcode", "data": code} for code in qcodes]
