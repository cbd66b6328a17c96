"""Each hypervisor's own disk formats: what a backup holds when the user asks for them."""

from __future__ import annotations

from desktopvm.model.devices import DiskFormat

#: By backend kind; the first is what a disk in any other format becomes. A disk already in
#: one of the others is kept as it is (a VirtualBox machine's VMDK stays VMDK).
OWN_FORMATS: dict[str, tuple[DiskFormat, ...]] = {
    "qemu": (DiskFormat.QCOW2,),
    "virtualbox": (DiskFormat.VDI, DiskFormat.VMDK),
    "hyperv": (DiskFormat.VHDX,),
    "vmware": (DiskFormat.VMDK,),
    "esxi": (DiskFormat.VMDK,),
}


def own_formats(kind: str) -> tuple[DiskFormat, ...]:
    """The own formats of a backend kind ('qemu', 'hyperv' …); qcow2 for any other."""
    return OWN_FORMATS.get(kind, (DiskFormat.QCOW2,))


def own_format_words(kind: str) -> str:
    """'VDI or VMDK', 'VHDX' …: for people."""
    return " or ".join(fmt.value.upper() for fmt in own_formats(kind))
