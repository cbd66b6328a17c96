"""New identities for QEMU machines: MAC addresses in QEMU's locally administered range."""

from __future__ import annotations

import secrets

from desktopvm.model import MachineSpec


def random_mac() -> str:
    """A locally administered address in QEMU's 52:54:00 range."""
    tail = secrets.token_bytes(3)
    return "52:54:00:" + ":".join(f"{b:02X}" for b in tail)


def with_macs(spec: MachineSpec, *, fresh: bool = False) -> MachineSpec:
    """`spec` whose adapters all have a MAC: new ones for those without (or all, if `fresh`)."""
    network = tuple(n if n.mac and not fresh else n.model_copy(update={"mac": random_mac()})
                    for n in spec.network)
    return spec.model_copy(update={"network": network})
