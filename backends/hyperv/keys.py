"""Windows virtual-key codes (what Msvm_Keyboard takes) for the shared key vocabulary."""

from __future__ import annotations

from desktopvm.protocol.keys import UnknownKey, check_typeable, require_keys

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
