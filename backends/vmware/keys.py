"""Keys: the shared key names → X keysyms, sent over Workstation's VNC server (console.py).

vmrun has no key events: its only keyboard command is `typeKeystrokesInGuest` (the 17.0 help),
a guest operation that needs VMware Tools and a guest user name and password and types text,
not combinations (research/vmware.md §A.4; a tool reports that `vmcli MKS sendKeyEvent`
"silently does nothing"). Workstation's VNC server takes RFB key events, which name keys by
their X keysym, so every key of the shared vocabulary can be sent that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from desktopvm.protocol import UnsupportedOperation
from desktopvm.protocol.keys import KEYS as SHARED
from desktopvm.protocol.keys import UnknownKey, parse_combo, text_to_combos

#: Shared key name -> X keysym (RFB KeyEvent). VMware's server gets no QEMU scan codes.
KEYS: dict[str, int] = {name: key.keysym for name, key in SHARED.items() if key.keysym}

NO_VNC = ("{name} has no VNC server turned on, and vmrun cannot send keys, type text or take "
          "screenshots without a guest login and VMware Tools; start it from DesktopVM (which "
          "turns VNC on for its own machines) or turn it on in VMware (VM Settings -> Options "
          "-> VNC Connections)")


def combos_keysyms(combos: Sequence[str]) -> list[list[int]]:
    """The keysyms of each combination, all checked before any is sent."""
    try:
        return [[_keysym(name) for name in parse_combo(combo)] for combo in combos]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error


def text_keysyms(text: str) -> list[list[int]]:
    """The keys that type each character on a US layout, as keysyms (all checked first).

    A printable character is sent as its own keysym (X keysyms of ASCII are its codes), with
    Shift held where the US layout needs it: RFB names the symbol the key makes (RFC 6143
    7.5.4), so a server with another layout still types the right character.
    """
    try:
        combos = text_to_combos(text, "VMware's VNC keyboard")
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    typed = []
    for char, combo in zip(text, combos, strict=True):
        if char.isprintable() and char != " ":
            typed.append([*(KEYS[m] for m in combo[:-1]), ord(char)])
        else:  # space, Enter, Tab: the key's own keysym
            typed.append([KEYS[name] for name in combo])
    return typed


def _keysym(name: str) -> int:
    if name not in KEYS:
        raise UnknownKey(f"VMware's VNC server has no keysym for {name!r}")
    return KEYS[name]
