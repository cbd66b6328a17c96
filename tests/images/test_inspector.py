"""The header inspector on real images of every format qemu-img makes, and on each trick."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from desktopvm.images import UnsafeImage, check_untrusted, inspect_image
from desktopvm.model import DiskFormat
from tests.images import hostile
from tests.images.hostile import MIB, TRICKS, canary, qemu_img

CLEAN = [  # (qemu-img create arguments, format, subformat)
    (["-f", "qcow2"], "qcow2", "v3"),
    (["-f", "qcow2", "-o", "compat=0.10"], "qcow2", "v2"),
    (["-f", "vmdk"], "vmdk", "monolithicSparse"),
    (["-f", "vmdk", "-o", "subformat=streamOptimized"], "vmdk", "streamOptimized"),
    (["-f", "vpc", "-o", "subformat=fixed"], "vhd", "fixed"),
    (["-f", "vpc"], "vhd", "dynamic"),
    (["-f", "vhdx"], "vhdx", ""),
    (["-f", "vdi"], "vdi", "dynamic"),
    (["-f", "vdi", "-o", "static=on"], "vdi", "fixed"),
    (["-f", "raw"], "raw", ""),
]


@pytest.mark.parametrize(("args", "fmt", "subformat"), CLEAN, ids=str)
def test_clean_images_of_every_format_are_recognised_and_self_contained(
        tmp_path: Path, args: list[str], fmt: str, subformat: str):
    image = tmp_path / "disk.img"
    qemu_img("create", "-q", *args, str(image), "64M")
    facts = inspect_image(image)
    assert (facts.format, facts.subformat) == (fmt, subformat)
    assert facts.self_contained, facts.references
    # VHD rounds up to its CHS geometry; everything else is exact.
    assert 64 * MIB <= facts.virtual_size <= 64 * MIB + 64 * 1024


#: Why each trick must be refused (the words the refusal uses).
REASONS = {
    "qcow2 backing file, absolute": "backing file",
    "qcow2 backing file, relative": "backing file '../../host/secret.txt'",
    "qcow2 backing file, json: pseudo-protocol": "backing file 'json:",
    "qcow2 backing file, vvfat folder": "backing file 'fat:ro:",
    "qcow2 external data file": "external data file",
    "qcow2 named .vmdk, declared VMDK": "backing file",
    "VMDK descriptor, absolute extent": "refers to extent",
    "VMDK descriptor, relative extent": "refers to extent '../../host/secret.txt'",
    "VMDK sparse, zero capacity, embedded descriptor": "createType 'monolithicFlat'",
    "VHD differencing": "parent disk",
    "VHDX with a parent": "parent disk",
    "VDI differencing": "parent disk",
}


def test_every_trick_has_its_reason():
    assert set(REASONS) == set(TRICKS)


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_every_trick_is_refused(tmp_path: Path, trick: str):
    host = canary(tmp_path / "host")
    package = tmp_path / "downloads" / "pkg"
    package.mkdir(parents=True)
    build, _url = TRICKS[trick]
    disk = build(package, host)
    with pytest.raises(UnsafeImage) as refused:
        check_untrusted(disk, label=disk.name)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(disk.name) and "refused" in message
    assert REASONS[trick] in message


def test_a_qcow2_backing_file_is_reported_by_name(tmp_path: Path):
    disk = hostile.qcow2_backing(tmp_path / "d.qcow2", "nbd://127.0.0.1:10809/x")
    facts = inspect_image(disk)
    assert facts.backing_file == "nbd://127.0.0.1:10809/x"
    assert facts.references == ("backing file 'nbd://127.0.0.1:10809/x'",)


def test_a_split_vmdk_is_taken_only_with_its_extents_beside_it(tmp_path: Path):
    folder = tmp_path / "vmware"
    folder.mkdir()
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse",
             str(folder / "disk.vmdk"), "5G")
    facts = check_untrusted(folder / "disk.vmdk", local_extents=True)
    assert (facts.format, facts.subformat, len(facts.extents)) == \
        ("vmdk", "twoGbMaxExtentSparse", 3)
    with pytest.raises(UnsafeImage, match="extent"):
        check_untrusted(folder / "disk.vmdk")  # not from a package
    # An extent replaced by a symbolic link to a host file is refused.
    host = canary(tmp_path / "host")
    extent = folder / facts.extents[0]
    extent.unlink()
    extent.symlink_to(host)
    with pytest.raises(UnsafeImage, match="not a plain file"):
        check_untrusted(folder / "disk.vmdk", local_extents=True)


def test_a_flat_vmdk_descriptor_with_a_far_extent_is_refused_even_locally(tmp_path: Path):
    host = canary(tmp_path / "host")
    descriptor = hostile.vmdk_descriptor(tmp_path / "d.vmdk", str(host))
    with pytest.raises(UnsafeImage, match="outside its own folder"):
        check_untrusted(descriptor, local_extents=True)


def test_the_declared_format_must_match_the_contents(tmp_path: Path):
    disk = tmp_path / "disk.vmdk"
    qemu_img("create", "-q", "-f", "qcow2", str(disk), "1M")
    assert check_untrusted(disk, DiskFormat.QCOW2).format == "qcow2"
    with pytest.raises(UnsafeImage, match="declared as vmdk but its contents are a qcow2"):
        check_untrusted(disk, DiskFormat.VMDK)
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"QFI\xfb" + bytes(1020))  # a "raw" disk that QEMU would probe as qcow2
    with pytest.raises(UnsafeImage):
        check_untrusted(raw, DiskFormat.RAW)


@pytest.mark.parametrize(("magic", "name"), [(b"QED\0", "qed"), (b"LUKS\xba\xbe", "luks"),
                                             (b"WithoutFreeSpace", "parallels"),
                                             (b"COWD", "vmdk3")])
def test_formats_we_do_not_take_are_named_and_refused(magic: bytes, name: str):
    data = magic + bytes(8192)
    assert inspect_image(io.BytesIO(data)).format == f"other:{name}"
    with pytest.raises(UnsafeImage, match=f"is a {name} image"):
        hostile_file = io.BytesIO(data)
        from desktopvm.images import check_untrusted_file
        check_untrusted_file(hostile_file, size=len(data), label="x")


def test_an_iso_is_raw_data(tmp_path: Path):
    data = bytearray(64 * 1024)
    data[0x8001:0x8006] = b"CD001"
    assert inspect_image(io.BytesIO(bytes(data))).format == "iso"
    path = tmp_path / "x.iso"
    path.write_bytes(bytes(data))
    assert check_untrusted(path, DiskFormat.RAW).format == "iso"


def test_devices_fifos_and_folders_are_refused(tmp_path: Path):
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(UnsafeImage, match="not a regular file"):
        check_untrusted(fifo)
    with pytest.raises(UnsafeImage, match="not a regular file"):
        check_untrusted(tmp_path)


@pytest.mark.parametrize("header", [
    b"QFI\xfb\x00\x00\x00\x03" + bytes(64),  # cut short
    b"QFI\xfb\x00\x00\x00\x09" + bytes(200),  # no such version
    b"QFI\xfb\x00\x00\x00\x02" + (2**62).to_bytes(8, "big") + (100).to_bytes(4, "big")
    + (16).to_bytes(4, "big") + bytes(200),  # backing name far past the end
    b"vhdxfile" + bytes(300 * 1024),  # no region table
    b"KDMV" + bytes(4) + bytes(20) + (2**40).to_bytes(8, "little") + (4).to_bytes(8, "little")
    + bytes(600),  # embedded descriptor past the end
])
def test_damaged_headers_are_refused_not_crashed_on(header: bytes):
    with pytest.raises(UnsafeImage, match="damaged or forged"):
        inspect_image(io.BytesIO(header), name="bad")
