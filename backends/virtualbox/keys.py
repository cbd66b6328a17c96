"""PS/2 set-1 scan codes for `controlvm keyboardputscancode`, from the shared key vocabulary.

A combination like `ctrl-alt-delete` becomes: press each key in order, release in reverse
(the convention Packer's boot-command typing uses with the same VBoxManage command). The
codes themselves, extended prefixes, PrintScreen's and Pause's sequences included, are the
shared table's (`desktopvm.protocol.keys`): VirtualBox passes any scan code to the guest.
"""

from __future__ import annotations

from desktopvm.protocol.keys import KEYS, check_typeable, require_keys

#: VirtualBox sends every key of the vocabulary (as raw scan codes).
SENDABLE = frozenset(KEYS)


def combo_to_scancodes(combo: str) -> list[str]:
    """'ctrl-alt-delete' or 'Ctrl+Alt+F2' -> hex scan codes (press in order, release reversed)."""
    names = require_keys(combo, SENDABLE, "VirtualBox")
    pressed = [code for name in names for code in KEYS[name].make()]
    released = [code for name in reversed(names) for code in KEYS[name].release()]
    return [f"{code:02x}" for code in pressed + released]


def typeable(text: str) -> str:
    """The text with Windows line ends normalised (keyboardputstring types printable ASCII)."""
    return check_typeable(text, "VirtualBox")


def chunks(text: str, size: int = 512) -> list[str]:
    """Pieces short enough for one command line each."""
    return [text[i:i + size] for i in range(0, len(text), size)]
