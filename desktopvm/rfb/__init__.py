"""A Qt-free RFB (VNC) client: handshake, VNC auth, Raw/CopyRect/ZRLE and QEMU key events."""

from desktopvm.rfb.client import (
    AuthenticationFailed,
    RfbClient,
    RfbError,
    RfbListener,
    open_socket,
)
from desktopvm.rfb.decoders import DecodeError
from desktopvm.rfb.framebuffer import Framebuffer, Rect
from desktopvm.rfb.keys import KEYSYMS, combo_keys

__all__ = [
    "KEYSYMS",
    "AuthenticationFailed",
    "DecodeError",
    "Framebuffer",
    "Rect",
    "RfbClient",
    "RfbError",
    "RfbListener",
    "combo_keys",
    "open_socket",
]
