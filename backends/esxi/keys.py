"""USB HID usage codes (what PutUsbScanCodes takes) for the shared key vocabulary."""

from __future__ import annotations

from typing import Any

from backends.esxi.session import vim
from desktopvm.protocol.keys import UnknownKey, require_keys

#: Held keys become the event's modifier flags (pyVmomi's UsbScanCodeSpecModifierType).
MODIFIERS = {"ctrl": "leftControl", "shift": "leftShift", "alt": "leftAlt", "win": "leftGui",
             "ctrl_r": "rightControl", "shift_r": "rightShift", "altgr": "rightAlt",
             "win_r": "rightGui"}
#: USB HID Usage Tables, keyboard page 0x07. SysRq has no key of its own there: not sendable.
HID = {
    **{chr(c): 0x04 + c - ord("a") for c in range(ord("a"), ord("z") + 1)},
    **{str(d): 0x1E + d - 1 for d in range(1, 10)}, "0": 0x27,
    "enter": 0x28, "esc": 0x29, "backspace": 0x2A, "tab": 0x2B, "space": 0x2C, "minus": 0x2D,
    "equal": 0x2E, "bracketleft": 0x2F, "bracketright": 0x30, "backslash": 0x31,
    "semicolon": 0x33, "apostrophe": 0x34, "grave": 0x35, "comma": 0x36, "dot": 0x37,
    "slash": 0x38, "capslock": 0x39, **{f"f{n}": 0x3A + n - 1 for n in range(1, 13)},
    "printscreen": 0x46, "scrolllock": 0x47, "pause": 0x48, "insert": 0x49, "home": 0x4A,
    "pageup": 0x4B, "delete": 0x4C, "end": 0x4D, "pagedown": 0x4E, "right": 0x4F,
    "left": 0x50, "down": 0x51, "up": 0x52, "numlock": 0x53, "menu": 0x65,
    # A modifier pressed on its own is its own key.
    "ctrl": 0xE0, "shift": 0xE1, "alt": 0xE2, "win": 0xE3, "ctrl_r": 0xE4, "shift_r": 0xE5,
    "altgr": 0xE6, "win_r": 0xE7,
}
SENDABLE = frozenset(HID)


def usb_code(name: str) -> int:
    """The usbHidCode field's form: the usage code in the upper 16 bits, page 7 below."""
    return (HID[name] << 16) | 0x0007


def event(names: tuple[str, ...]) -> Any:
    """One key event: the last key pressed while the others are held."""
    *held, key = names
    not_modifiers = [name for name in held if name not in MODIFIERS]
    if not_modifiers:
        raise UnknownKey(f"ESXi holds only Ctrl, Shift, Alt and Windows while it types a key; "
                         f"cannot hold {', '.join(not_modifiers)}")
    flags = vim.UsbScanCodeSpec.ModifierType(**{MODIFIERS[name]: True for name in held})
    return vim.UsbScanCodeSpec.KeyEvent(usbHidCode=usb_code(key), modifiers=flags)


def combo_event(text: str) -> Any:
    """'ctrl-alt-delete' / 'Ctrl+Alt+F2' / 'enter' -> one key event."""
    return event(require_keys(text, SENDABLE, "ESXi"))
