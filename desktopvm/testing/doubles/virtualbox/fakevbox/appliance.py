"""The double's OVA files: shaped like VirtualBox's (descriptor, manifest, stream VMDKs).

Real VBoxManage export writes a USTAR archive with `NAME.ovf`, `NAME.mf` (with --manifest)
and one streamOptimized VMDK per disk. The double writes the same members, so that
DesktopVM's package checks read what they would read from VirtualBox; the disks are
headers only (a real "KDMV" sparse header, no data), and the machine the double knows is
carried in an XML comment of the descriptor so that its import can rebuild it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import tarfile
from pathlib import Path
from typing import Any

MARK = "fake-appliance:"  # how the double knows its own appliances
_VMDK_URL = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"


def stream_vmdk(capacity_bytes: int) -> bytes:
    """A streamOptimized VMDK sparse header (VMware's hosted sparse extent format, §4)."""
    header = bytearray(512)
    struct.pack_into("<4sIIQQQQIQQQB4sH", header, 0, b"KDMV", 3, 0x30001,
                     capacity_bytes // 512, 128, 0, 0, 512, 0, 0, 128, 0, b"\n \r\n", 1)
    return bytes(header)


def _descriptor(vm: dict[str, Any], disks: list[tuple[str, int]]) -> str:
    refs = "".join(f'<File ovf:href="{name}" ovf:id="file{i}"/>' for i, (name, _) in
                   enumerate(disks, 1))
    sections = "".join(f'<Disk ovf:capacity="{size}" ovf:diskId="vmdisk{i}" '
                       f'ovf:fileRef="file{i}" ovf:format="{_VMDK_URL}"/>'
                       for i, (_, size) in enumerate(disks, 1))
    items = "".join(
        f"<Item><rasd:AddressOnParent>{i - 1}</rasd:AddressOnParent>"
        f"<rasd:HostResource>/disk/vmdisk{i}</rasd:HostResource>"
        f"<rasd:InstanceID>{10 + i}</rasd:InstanceID><rasd:Parent>3</rasd:Parent>"
        "<rasd:ResourceType>17</rasd:ResourceType></Item>" for i in range(1, len(disks) + 1))
    comment = json.dumps(vm).replace("--", "\\u002d\\u002d")
    return f"""<?xml version="1.0"?>
<!-- {MARK}{comment} -->
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>{refs}</References>
  <DiskSection><Info>List of the virtual disks used in the package</Info>{sections}</DiskSection>
  <VirtualSystem ovf:id="{vm.get('name', 'vm')}">
    <Info>A virtual machine</Info>
    <VirtualHardwareSection><Info>Virtual hardware requirements</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>512</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType></Item>
      {items}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def write_ova(target: Path, vm: dict[str, Any], disks: list[int], *, manifest: bool) -> None:
    """`target` as VirtualBox writes it; `disks` are the capacities in bytes."""
    stem = target.stem
    files = [(f"{stem}-disk{i:03}.vmdk", stream_vmdk(size)) for i, size in enumerate(disks, 1)]
    ovf = _descriptor(vm, [(name, size) for (name, _), size in
                           zip(files, disks, strict=True)]).encode()
    members = [(f"{stem}.ovf", ovf)]
    if manifest:
        lines = "".join(f"SHA256({name}) = {hashlib.sha256(data).hexdigest()}\n"
                        for name, data in [(f"{stem}.ovf", ovf), *files])
        members.append((f"{stem}.mf", lines.encode()))
    if target.suffix.lower() == ".ovf":  # the descriptor, its manifest and disks side by side
        for name, data in [*members, *files]:
            (target.parent / name).write_bytes(data)
        return
    with tarfile.open(target, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in [*members, *files]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _descriptor_text(source: Path) -> str:
    """The OVF descriptor of an .ovf file or inside an .ova."""
    if source.suffix.lower() == ".ovf":
        return source.read_text(encoding="utf-8")
    with tarfile.open(source, "r:") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".ovf"))
        file = tar.extractfile(member)
        return file.read().decode("utf-8") if file is not None else ""


def read_capacities(source: Path) -> list[int]:
    """The capacities in bytes of the disks an appliance's descriptor declares, in order."""
    return [int(size) for size in re.findall(r'ovf:capacity="(\d+)"', _descriptor_text(source))]


def read_ova(source: Path) -> dict[str, Any]:
    """The machine an appliance written by `write_ova` carries (KeyError/ValueError if none)."""
    text = _descriptor_text(source)
    start = text.index(MARK) + len(MARK)
    vm: dict[str, Any] = json.loads(text[start:text.index(" -->", start)])
    return vm
