"""Checks an OVA or OVF package's disks, in place, before any hypervisor's tool opens them."""

from __future__ import annotations

import tarfile
from pathlib import Path

from desktopvm.images import UnsafeImage, check_package_disk, check_untrusted_file
from desktopvm.ovf.common import OvfError, check_href
from desktopvm.ovf.ova import checked_members, open_ova, single_member
from desktopvm.ovf.reader import Appliance, read_ovf

MAX_DESCRIPTOR_BYTES = 16 * 1024 * 1024
_NOT_IMAGES = (".ovf", ".mf", ".cert")


def check_appliance(path: Path) -> Appliance:
    """The appliance at `path` (.ova or .ovf), once every disk in it passed the image rules.

    For hypervisors whose own tool reads the package (VBoxManage import, an upload to ESXi):
    each disk must be a self-contained image of the format the descriptor declares, and a
    member of the package (no links, nothing outside it). Raises OvfError naming the member
    in one line; the caller names the package.
    """
    try:
        if path.suffix.lower() == ".ova":
            return _check_ova(path)
        return _check_ovf_folder(path)
    except UnsafeImage as error:
        raise OvfError(str(error)) from error


def _check_ova(ova: Path) -> Appliance:
    with open_ova(ova) as tar:
        members = checked_members(tar, Path("/nonexistent-ova-root"), ova)
        descriptor_name = single_member(members, ".ovf", ova, required=True)
        descriptor = members[descriptor_name]
        if descriptor.size > MAX_DESCRIPTOR_BYTES:
            raise OvfError(f"the descriptor {descriptor_name} is implausibly large")
        appliance = read_ovf(_read(tar, descriptor, ova), descriptor_name)
        folder = descriptor_name.rpartition("/")[0]
        declared = {}
        for disk in appliance.disks:
            name = f"{folder}/{disk.file_href}" if folder else disk.file_href
            check_href(disk.file_href, descriptor_name)
            if name not in members:
                raise OvfError(f"the disk file {disk.file_href} is not in the package")
            declared[name] = disk.format
        for name, member in members.items():
            if name.lower().endswith(_NOT_IMAGES) and name not in declared:
                continue
            # Every other member too (an ISO, a stray image): whatever reads it reads only it.
            file = tar.extractfile(member)
            if file is None:
                raise OvfError(f"cannot read archive member {name!r}")
            check_untrusted_file(file, size=member.size, label=name, declared=declared.get(name))
    return appliance


def _check_ovf_folder(descriptor: Path) -> Appliance:
    try:
        data = descriptor.read_bytes()
    except OSError as error:
        raise OvfError(f"{descriptor}: cannot read the descriptor: {error.strerror}") from error
    appliance = read_ovf(data, descriptor.name)
    for disk in appliance.disks:
        check_package_disk(descriptor.parent, check_href(disk.file_href, descriptor.name),
                           disk.format)
    return appliance


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, ova: Path) -> bytes:
    file = tar.extractfile(member)
    if file is None:
        raise OvfError(f"cannot read archive member {member.name!r}")
    return file.read()
