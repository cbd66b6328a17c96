"""QEMU `send-key` qcodes for the shared key vocabulary (`desktopvm.protocol.keys`)."""

from __future__ import annotations

from desktopvm.protocol.keys import KEYS, parse_combo, require_keys, text_to_combos

#: Canonical name -> QEMU qcode (qapi/ui.json QKeyCode), where the two differ.
_RENAMED = {
    "enter": "ret", "space": "spc", "altgr": "alt_r", "win": "meta_l", "win_r": "meta_r",
    "pageup": "pgup", "pagedown": "pgdn", "printscreen": "print", "capslock": "caps_lock",
    "numlock": "num_lock", "scrolllock": "scroll_lock", "bracketleft": "bracket_left",
    "bracketright": "bracket_right", "grave": "grave_accent",
}
QCODES: dict[str, str] = {name: _RENAMED.get(name, name) for name in KEYS}

#: QEMU sends every key of the vocabulary.
SENDABLE = frozenset(QCODES)


def combo_qcodes(combo: str) -> list[str]:
    """'ctrl-alt-delete' or 'Ctrl+Alt+F2' -> ['ctrl', 'alt', 'delete'] / [..., 'f2']."""
    return [QCODES[name] for name in require_keys(combo, SENDABLE, "QEMU")]


def text_qcodes(text: str) -> list[list[str]]:
    """One qcode combination per character of `text` (US layout), e.g. 'A' -> ['shift', 'a']."""
    return [[QCODES[name] for name in combo] for combo in text_to_combos(text, "QEMU")]


def qmp_keys(qcodes: list[str]) -> list[dict[str, str]]:
    """The `keys` argument of QMP send-key."""
    return [{"type": "qcode", "data": code} for code in qcodes]


__all__ = ["QCODES", "SENDABLE", "combo_qcodes", "parse_combo", "qmp_keys", "text_qcodes"]
