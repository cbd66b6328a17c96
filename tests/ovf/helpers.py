"""Builders shared by the OVF tests: minimal descriptors and hand-made (hostile) OVA files."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

# The real exports live beside the repository (../shared/fixtures), read-only, never copied in.
FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures"
DATA = Path(__file__).parent / "data"

ENVELOPE = """<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vmw="http://www.vmware.com/schema/ovf"
  xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>{refs}</References>
  <DiskSection><Info>disks</Info>{disks}</DiskSection>
  <VirtualSystem ovf:id="test-vm">
    <Info>A virtual machine</Info>
    {os}
    <VirtualHardwareSection>
      <Info>hardware</Info>
      {items}
    </VirtualHardwareSection>
    {extra}
  </VirtualSystem>
</Envelope>
"""

CPU_AND_MEMORY = """
<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType>
  <rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
<Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
  <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>
  <rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
"""

SATA_WITH_DISK = """
<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
  <rasd:ResourceType>20</rasd:ResourceType></Item>
<Item><rasd:AddressOnParent>0</rasd:AddressOnParent>
  <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
  <rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent>
  <rasd:ResourceType>17</rasd:ResourceType></Item>
"""

ONE_DISK = """<Disk ovf:capacity="1073741824" ovf:diskId="vmdisk1" ovf:fileRef="file1"
  ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>"""


def envelope(*, items: str = CPU_AND_MEMORY, refs: str = "", disks: str = "", os: str = "",
             extra: str = "") -> bytes:
    """A small OVF 1.0 descriptor with the given pieces."""
    return ENVELOPE.format(items=items, refs=refs, disks=disks, os=os, extra=extra).encode()


def with_disk(href: str = "disk1.vmdk", *, file_attrs: str = "") -> bytes:
    """A descriptor with one SATA disk whose file is `href`."""
    return envelope(items=CPU_AND_MEMORY + SATA_WITH_DISK,
                    refs=f'<File ovf:href="{href}" ovf:id="file1" {file_attrs}/>',
                    disks=ONE_DISK)


def fixtures_dir() -> Path:
    """The shared real-export folder, or skip the test with the reason."""
    if not FIXTURES.is_dir():
        pytest.skip(f"the real OVF exports are not available: {FIXTURES} (../shared/fixtures "
                    "beside the repository) does not exist")
    return FIXTURES


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    """A regular-file tar member."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    """A link, device or FIFO member (no data)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def build_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]],
              fmt: int = tarfile.USTAR_FORMAT) -> Path:
    """Write exactly these members, in order, without any of tarfile's own name cleaning."""
    with tarfile.open(path, "w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_for(files: dict[str, bytes], algorithm: str = "SHA256") -> bytes:
    """Manifest text for these contents."""
    return "".join(f"{algorithm}({name})= {hashlib.new(algorithm.lower(), data).hexdigest()}\n"
                   for name, data in files.items()).encode()


def good_members(disk: bytes = b"disk data " * 1000) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """descriptor, manifest, disk: a well-formed OVA's members."""
    descriptor = with_disk("disk1.vmdk")
    files = {"vm.ovf": descriptor, "disk1.vmdk": disk}
    return [regular("vm.ovf", descriptor), regular("vm.mf", manifest_for(files)),
            regular("disk1.vmdk", disk)]


def tree(root: Path) -> set[str]:
    """Every path below `root`, relative, for before/after comparisons."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
