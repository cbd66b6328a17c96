"""OVF/OVA export and import (HttpNfcLease): not built yet, and saying so."""

from __future__ import annotations

from desktopvm.protocol import UnsupportedOperation

MISSING = ("Export and import of OVA/OVF with ESXi is not in DesktopVM yet; use the host's "
           "web client (Export / Deploy OVF template) or VMware's ovftool meanwhile")


def unsupported() -> UnsupportedOperation:
    """What export() and import_machine() say."""
    return UnsupportedOperation(MISSING)
