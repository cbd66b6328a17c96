"""Qt key events to X keysyms and, where the platform tells us, PC scancodes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent

from desktopvm.rfb.keys import evdev_to_qnum

K = Qt.Key
_SPECIAL: dict[Qt.Key, int] = {
    K.Key_Backspace: 0xFF08, K.Key_Tab: 0xFF09, K.Key_Backtab: 0xFF09, K.Key_Return: 0xFF0D,
    K.Key_Enter: 0xFF8D, K.Key_Escape: 0xFF1B, K.Key_Delete: 0xFFFF, K.Key_Insert: 0xFF63,
    K.Key_Home: 0xFF50, K.Key_End: 0xFF57, K.Key_PageUp: 0xFF55, K.Key_PageDown: 0xFF56,
    K.Key_Left: 0xFF51, K.Key_Up: 0xFF52, K.Key_Right: 0xFF53, K.Key_Down: 0xFF54,
    K.Key_Shift: 0xFFE1, K.Key_Control: 0xFFE3, K.Key_Alt: 0xFFE9, K.Key_AltGr: 0xFE03,
    K.Key_Meta: 0xFFEB, K.Key_Super_L: 0xFFEB, K.Key_Super_R: 0xFFEC, K.Key_Menu: 0xFF67,
    K.Key_CapsLock: 0xFFE5, K.Key_NumLock: 0xFF7F, K.Key_ScrollLock: 0xFF14,
    K.Key_Print: 0xFF61, K.Key_SysReq: 0xFF15, K.Key_Pause: 0xFF13, K.Key_Space: 0x20,
}
for _n in range(1, 13):
    _SPECIAL[Qt.Key(K.Key_F1.value + _n - 1)] = 0xFFBD + _n


def keysym_of(event: QKeyEvent) -> int:
    """The X keysym for a Qt key event (0 when unknown)."""
    key = Qt.Key(event.key())
    if key in _SPECIAL:
        return _SPECIAL[key]
    text = event.text()
    if len(text) == 1 and text.isprintable():
        code = ord(text)
        return code if code < 0x100 else 0x01000000 | code
    if 0x20 <= key.value < 0x7F:  # e.g. Ctrl+letter gives no text: use the key's character
        return ord(chr(key.value).lower())
    return 0


def scancode_of(event: QKeyEvent) -> int:
    """The QEMU scancode of the physical key, when the platform reports one (else 0)."""
    native = event.nativeScanCode()
    if not native:
        return 0
    platform = QGuiApplication.platformName()
    if platform in ("xcb", "wayland"):
        return evdev_to_qnum(native - 8)
    if platform == "windows":
        return (native & 0x7F) | (0x80 if native & 0x100 else 0)
    return 0
