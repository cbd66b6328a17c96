"""Keys: vmrun has no key events, so the VMware backend sends none.

vmrun's only keyboard command is `typeKeystrokesInGuest` (the 17.0 help), a guest operation:
it needs VMware Tools running and a guest user name and password (`-gu/-gp`), and types text,
not key combinations (research/vmware.md §A.4: "There is no scancode/keyboard-event command in
vmrun"; a tool reports that `vmcli MKS sendKeyEvent` "silently does nothing"). The way to send
keys is Workstation's VNC server (console.py), through DesktopVM's own RFB console.
"""

from __future__ import annotations

from desktopvm.protocol import UnsupportedOperation

#: Shared key name -> this tool's code: none (see above).
KEYS: dict[str, int] = {}

WHY = ("vmrun cannot send keys or type text without a guest login and VMware Tools; turn on "
       "the machine's VNC server (VM Settings -> Options -> VNC Connections) and use the "
       "console")


def refuse() -> None:
    """UnsupportedOperation, saying why and what to use instead."""
    raise UnsupportedOperation(WHY)
