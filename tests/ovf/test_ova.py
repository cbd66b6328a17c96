"""OVA files: hostile archives are refused without a trace, good ones extract, writes are atomic."""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from desktopvm.ovf import OvfError, extract_ova, read_manifest, read_ovf, write_ova
from desktopvm.ovf import ova as ova_module
from desktopvm.protocol import CancelToken, OperationCancelled
from tests.ovf.helpers import (
    build_tar,
    good_members,
    manifest_for,
    regular,
    special,
    tree,
    with_disk,
)

Members = list[tuple[tarfile.TarInfo, bytes | None]]
DESCRIPTOR = with_disk("disk1.vmdk")


def extracts_nothing(tmp_path: Path, members: Members, match: str) -> None:
    """The OVA is refused, and afterwards tmp_path holds exactly what it held before."""
    ova = build_tar(tmp_path / "in.ova", members)
    before = tree(tmp_path)
    with pytest.raises(OvfError, match=match):
        extract_ova(ova, tmp_path / "out" / "vm")
    assert tree(tmp_path) == before
    assert not (tmp_path.parent / "evil").exists()


def replace(members: Members, name: str, data: bytes) -> Members:
    return [regular(name, data) if info.name == name else (info, body) for info, body in members]


HOSTILE: dict[str, tuple[Callable[[], Members], str]] = {
    "absolute path": (lambda: [*good_members(), regular("/tmp/evil", b"x")], "absolute path"),
    "dot-dot": (lambda: [*good_members(), regular("../evil", b"x")], "'..'"),
    "nested dot-dot": (lambda: [*good_members(), regular("a/../../evil", b"x")], "'..'"),
    "backslash": (lambda: [*good_members(), regular("..\\evil", b"x")], "backslash"),
    "drive letter": (lambda: [*good_members(), regular("C:evil", b"x")], "drive"),
    "symlink": (lambda: [*good_members(), special("link", tarfile.SYMTYPE, "/etc/passwd")],
                "link"),
    "hardlink": (lambda: [*good_members(), special("hard", tarfile.LNKTYPE, "vm.ovf")], "link"),
    "character device": (lambda: [*good_members(), special("tty", tarfile.CHRTYPE)], "device"),
    "block device": (lambda: [*good_members(), special("sda", tarfile.BLKTYPE)], "device"),
    "fifo": (lambda: [*good_members(), special("pipe", tarfile.FIFOTYPE)], "FIFO"),
    "duplicate member": (lambda: [*good_members(), regular("disk1.vmdk", b"other")], "twice"),
    "duplicate by case": (lambda: [*good_members(), regular("DISK1.vmdk", b"other")], "twice"),
    "bad digest": (lambda: replace(good_members(), "disk1.vmdk", b"tampered"), "digest"),
    "manifest names a missing file": (
        lambda: [regular("vm.ovf", DESCRIPTOR),
                 regular("vm.mf", manifest_for({"vm.ovf": DESCRIPTOR, "disk1.vmdk": b"d"}))],
        "does not contain"),
    "file missing from the manifest": (
        lambda: [*good_members(), regular("extra.iso", b"unverified")], "not in the manifest"),
    "malformed manifest": (lambda: replace(good_members(), "vm.mf", b"MD5(vm.ovf)= 00\n"),
                           "line 1"),
    "two descriptors": (lambda: [*good_members(), regular("b.ovf", b"<x/>")], "exactly one"),
    "no descriptor": (lambda: good_members()[2:], "exactly one .ovf"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_ova_is_refused_without_a_trace(tmp_path: Path, case: str):
    build, match = HOSTILE[case]
    extracts_nothing(tmp_path, build(), match)


def test_bad_digest_after_earlier_files_were_written_removes_them(tmp_path: Path):
    # The descriptor and manifest come first and are written before the disk fails.
    members = replace(good_members(), "disk1.vmdk", b"tampered")
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(OvfError, match="digest"):
        extract_ova(build_tar(tmp_path / "in.ova", members), target)
    assert tree(target) == {"keep.txt"}  # the folder was there before, so it stays


def test_good_ova_extracts_and_verifies(tmp_path: Path):
    disk = bytes(range(256)) * 5000
    descriptor_path = extract_ova(build_tar(tmp_path / "in.ova", good_members(disk)),
                                  tmp_path / "vm")
    assert descriptor_path == (tmp_path / "vm" / "vm.ovf").resolve()
    assert tree(tmp_path / "vm") == {"vm.ovf", "vm.mf", "disk1.vmdk"}
    assert (tmp_path / "vm" / "disk1.vmdk").read_bytes() == disk
    appliance = read_ovf(descriptor_path.read_bytes(), str(descriptor_path))
    assert (descriptor_path.parent / appliance.disks[0].file_href).is_file()


def test_sha1_manifest_dot_slash_names_and_no_manifest(tmp_path: Path):
    disk = b"d" * 100
    sha1 = manifest_for({"vm.ovf": DESCRIPTOR, "disk1.vmdk": disk}, "SHA1")
    members = [regular("./vm.ovf", DESCRIPTOR), regular("./vm.mf", sha1),
               regular("./disk1.vmdk", disk)]
    assert extract_ova(build_tar(tmp_path / "a.ova", members), tmp_path / "a").name == "vm.ovf"
    unsigned = [regular("vm.ovf", DESCRIPTOR), regular("disk1.vmdk", disk)]
    assert extract_ova(build_tar(tmp_path / "b.ova", unsigned), tmp_path / "b").is_file()


def test_existing_files_in_the_target_are_never_replaced(tmp_path: Path):
    target = tmp_path / "vm"
    target.mkdir()
    (target / "disk1.vmdk").write_bytes(b"precious")
    with pytest.raises(OvfError, match="cannot extract"):
        extract_ova(build_tar(tmp_path / "in.ova", good_members()), target)
    assert tree(target) == {"disk1.vmdk"}
    assert (target / "disk1.vmdk").read_bytes() == b"precious"


def test_a_symlinked_folder_in_the_target_cannot_redirect_writes(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "vm"
    target.mkdir()
    try:
        (target / "sub").symlink_to(outside, target_is_directory=True)
    except OSError as error:  # Windows without the privilege to create symlinks
        pytest.skip(f"cannot create a symlink here: {error}")
    descriptor = with_disk("sub/disk1.vmdk")
    members = [regular("vm.ovf", descriptor), regular("sub/disk1.vmdk", b"x")]
    with pytest.raises(OvfError, match="outside"):
        extract_ova(build_tar(tmp_path / "in.ova", members), target)
    assert list(outside.iterdir()) == []


def test_not_a_tar_and_compressed_tar_are_refused(tmp_path: Path):
    junk = tmp_path / "junk.ova"
    junk.write_bytes(b"this is not a tar archive" * 100)
    with pytest.raises(OvfError, match="not an OVA"):
        extract_ova(junk, tmp_path / "a")
    plain = build_tar(tmp_path / "plain.ova", good_members())
    compressed = tmp_path / "compressed.ova"
    compressed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(OvfError, match="not an OVA"):
        extract_ova(compressed, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ova_module, "MAX_MEMBERS", 3)
    extracts_nothing(tmp_path, [*good_members(), regular("x", b"")], "more than 3 members")


def test_cancel_mid_extract_removes_everything(tmp_path: Path):
    token = CancelToken()
    stages: list[str] = []

    def progress(fraction: float | None, stage: str, /) -> None:
        stages.append(stage)
        if stage.startswith("Extracting disk1"):
            token.cancel()

    ova = build_tar(tmp_path / "in.ova", good_members(b"z" * (3 * ova_module.CHUNK)))
    with pytest.raises(OperationCancelled):
        extract_ova(ova, tmp_path / "vm", progress=progress, cancel=token)
    assert not (tmp_path / "vm").exists()
    assert any(s.startswith("Extracting disk1") for s in stages)


def test_write_ova_layout_and_round_trip(tmp_path: Path):
    disk = tmp_path / "disk1.vmdk"
    disk.write_bytes(b"vmdk" * 300_000)
    reports: list[float | None] = []
    ova = tmp_path / "out" / "vm.ova"
    ova.parent.mkdir()
    write_ova(ova, "vm.ovf", DESCRIPTOR, [disk], progress=lambda f, s, /: reports.append(f))
    assert tree(ova.parent) == {"vm.ova"}  # no temporary file left behind
    with tarfile.open(ova) as tar:
        assert tar.getnames() == ["vm.ovf", "vm.mf", "disk1.vmdk"]
        manifest = tar.extractfile("vm.mf").read().decode()  # type: ignore[union-attr]
    assert set(read_manifest(manifest)) == {"vm.ovf", "disk1.vmdk"}
    assert all(line.startswith("SHA256(") for line in manifest.splitlines())
    assert ova.read_bytes()[257:265] == b"ustar\x0000"  # POSIX USTAR, like VirtualBox
    assert reports[-1] == 1.0
    extracted = extract_ova(ova, tmp_path / "back")
    assert (extracted.parent / "disk1.vmdk").read_bytes() == disk.read_bytes()


def test_cancel_mid_write_leaves_no_partial_file(tmp_path: Path):
    disk = tmp_path / "disk1.vmdk"
    disk.write_bytes(b"v" * (3 * ova_module.CHUNK))
    token = CancelToken()

    def progress(fraction: float | None, stage: str, /) -> None:
        if stage.startswith("Writing"):
            token.cancel()

    with pytest.raises(OperationCancelled):
        write_ova(tmp_path / "vm.ova", "vm.ovf", DESCRIPTOR, [disk], progress=progress,
                  cancel=token)
    assert tree(tmp_path) == {"disk1.vmdk"}


def test_a_file_changing_during_export_fails_cleanly(tmp_path: Path):
    disk = tmp_path / "disk1.vmdk"
    disk.write_bytes(b"a" * (3 * ova_module.CHUNK))

    def progress(fraction: float | None, stage: str, /) -> None:
        if stage.startswith("Writing"):
            disk.write_bytes(b"b" * (3 * ova_module.CHUNK))  # same size, other content

    with pytest.raises(OvfError, match="changed while"):
        write_ova(tmp_path / "vm.ova", "vm.ovf", DESCRIPTOR, [disk], progress=progress)
    assert tree(tmp_path) == {"disk1.vmdk"}


@pytest.mark.parametrize(("ovf_name", "files", "match"), [
    ("vm.txt", [], "ending in .ovf"),
    ("sub/vm.ovf", [], "plain name"),
    ("vm.ovf", ["vm.mf"], "would be named"),
    ("vm.ovf", ["a.vmdk", "A.vmdk"], "would be named"),
    ("vm.ovf", ["x" * 100 + ".vmdk"], "longer than"),
])
def test_write_ova_refuses_bad_names(tmp_path: Path, ovf_name: str, files: list[str], match: str):
    paths = []
    for index, name in enumerate(files):
        folder = tmp_path / str(index)
        folder.mkdir()
        paths.append(folder / name)
        paths[-1].write_bytes(b"x")
    with pytest.raises(OvfError, match=match):
        write_ova(tmp_path / "vm.ova", ovf_name, DESCRIPTOR, paths)
    assert not (tmp_path / "vm.ova").exists()


def test_a_missing_input_file_is_an_ovf_error(tmp_path: Path):
    with pytest.raises(OvfError, match="cannot write"):
        write_ova(tmp_path / "vm.ova", "vm.ovf", DESCRIPTOR, [tmp_path / "gone.vmdk"])
    assert tree(tmp_path) == set()


def test_sizes_of_8_gib_and_more_use_the_base_256_extension():
    info = ova_module._UstarInfo("big.vmdk")
    info.size = 9 * 1024**3
    header = info.tobuf(tarfile.USTAR_FORMAT)
    assert header[257:265] == b"ustar\x0000" and header[124] == 0x80
    parsed = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")  # checks the checksum
    assert parsed.size == 9 * 1024**3 and parsed.name == "big.vmdk"
    small = ova_module._UstarInfo("small.vmdk")
    small.size = 1024
    header = small.tobuf(tarfile.USTAR_FORMAT)
    assert tarfile.TarInfo.frombuf(header, "utf-8", "strict").size == 1024


def test_read_manifest():
    sha1, sha256, sha512 = "a" * 40, "B" * 64, "c" * 128
    text = (f"SHA1(vm.ovf)= {sha1}\n\nSHA256(disk (1).vmdk)={sha256}\r\n"
            f"  SHA512(x.iso) = {sha512}  \n")
    assert read_manifest(text) == {"vm.ovf": ("sha1", sha1), "disk (1).vmdk": ("sha256", "b" * 64),
                                   "x.iso": ("sha512", sha512)}


@pytest.mark.parametrize(("text", "match"), [
    ("MD5(vm.ovf)= " + "a" * 32, "not 'SHA256"),
    ("SHA256(vm.ovf)= " + "a" * 40, "64 hex digits"),
    ("SHA1(vm.ovf)= " + "g" * 40, "not 'SHA256"),
    (f"SHA1(a)= {'a' * 40}\nSHA256(a)= {'b' * 64}", "listed twice"),
    ("garbage", "line 1"),
])
def test_read_manifest_refuses_malformed_text(text: str, match: str):
    with pytest.raises(OvfError, match=match):
        read_manifest(text)
