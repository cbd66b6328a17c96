"""Discs made with xorriso and pycdlib, carrying real releases' ids → OS, firmware, arch."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopvm.media import MediaError, inspect_media, iso
from desktopvm.media.detect import detect_os
from desktopvm.model.machine import Firmware
from desktopvm.testing.doubles.media import isos

BIOS, UEFI = Firmware.BIOS, Firmware.UEFI


def test_hybrid_ubuntu_boots_both_ways_and_is_named(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "u.iso", isos.UBUNTU_2204, {
        ".disk/info": isos.UBUNTU_2204_INFO.encode(),
        "EFI/BOOT/BOOTX64.EFI": b"MZ", "EFI/BOOT/BOOTIA32.EFI": b"MZ",
    }, bios=True, efi=True)
    facts = inspect_media(disc)
    assert (facts.volume_id, facts.system_id) == ("Ubuntu 22.04.3 LTS amd64", "LINUX")
    assert facts.bios and facts.uefi
    assert facts.efi_architectures == ("i686", "x86_64")
    assert facts.architecture == "x86_64"
    assert facts.release_files[".disk/info"] == isos.UBUNTU_2204_INFO
    found = detect_os(facts)
    assert (found.os_id, found.short_id, found.exact) == ("ubuntu22.04", "ubuntu22.04", True)
    assert found.firmware == (UEFI, BIOS)
    assert found.summary() == "Ubuntu 22.04 LTS, boots with UEFI and BIOS"


def test_bios_only_debian(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "d.iso", isos.DEBIAN_11, {"README.txt": b"hi"}, bios=True)
    facts = inspect_media(disc)
    assert facts.bios and not facts.uefi and facts.efi_architectures == ()
    found = detect_os(facts)
    assert (found.os_id, found.firmware) == ("debian11", (BIOS,))
    assert found.summary() == "Debian 11, boots with BIOS"


def test_uefi_only_arm64_fedora(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "f.iso", isos.FEDORA_37_ARM, {
        "EFI/BOOT/BOOTAA64.EFI": b"MZ",
        ".treeinfo": b"[general]\nfamily = Fedora\nversion = 37\narch = aarch64\n",
    }, efi=True)
    facts = inspect_media(disc)
    assert facts.uefi and not facts.bios
    assert facts.efi_architectures == ("aarch64",) and facts.architecture == "aarch64"
    found = detect_os(facts)
    assert (found.os_id, found.short_id, found.firmware) == ("fedora", "fedora37", (UEFI,))
    assert found.summary() == "Fedora Linux 37 (aarch64), boots with UEFI"


def test_windows_layout_in_udf(tmp_path: Path):
    disc = isos.udf_iso(tmp_path / "w.iso", isos.WINDOWS_11["-V"], "MICROSOFT CORPORATION", {
        "sources/install.wim": b"MSWIM\0\0\0", "efi/boot/bootx64.efi": b"MZ",
        "sources/idwbinfo.txt": isos.WIN11_IDWBINFO.encode(),
    })
    facts = inspect_media(disc)
    assert facts.udf and facts.windows_image == "sources/install.wim"
    assert facts.efi_architectures == ("x86_64",) and facts.bios and facts.uefi
    found = detect_os(facts)
    # Windows 10 and 11 discs share volume ids; the build branch in idwbinfo.txt tells them apart.
    assert (found.os_id, found.short_id) == ("windows11", "win11")


def test_unknown_disc_is_other_and_keeps_its_name(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "x.iso", {"-V": "MY_TOOLS"}, {"a.txt": b"a"})
    found = detect_os(inspect_media(disc))
    assert (found.os_id, found.exact, found.firmware) == ("other", False, ())
    assert found.summary() == "Unknown OS (MY_TOOLS), does not boot (no El Torito entry)"


def test_a_sparse_4_gb_disc_is_read_by_its_descriptors(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "big.iso", isos.UBUNTU_2204, {"a": b"a"}, bios=True,
                         efi=True)
    with disc.open("r+b") as handle:
        handle.truncate(4 * 1024**3)  # sparse: the reader must not care what lies past the tree
    facts = inspect_media(disc)
    assert facts.size == 4 * 1024**3 and detect_os(facts).os_id == "ubuntu22.04"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "too small for an ISO 9660 image"),
    (b"\0" * 40000, "not an ISO 9660 image"),
])
def test_not_an_iso_is_one_line(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.iso"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as raised:
        inspect_media(path)
    assert "\n" not in str(raised.value)


def test_a_truncated_disc_says_so(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "t.iso", isos.DEBIAN_11, {"a": b"a"}, bios=True)
    data = disc.read_bytes()
    disc.write_bytes(data[: 17 * 2048 + 100])
    with pytest.raises(MediaError, match="truncated"):
        inspect_media(disc)


def test_folder_and_missing_file(tmp_path: Path):
    with pytest.raises(MediaError, match="is a folder"):
        inspect_media(tmp_path)
    with pytest.raises(MediaError, match="cannot read"):
        inspect_media(tmp_path / "missing.iso")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("branch", "os_id"), [
    ("ge_release", "windows-server-2025"), ("fe_release", "windows-server-2022"),
    ("rs5_release", "windows-server-2019"),
])
def test_windows_server_discs_share_ids_and_differ_by_branch(tmp_path: Path, branch: str,
                                                             os_id: str):
    info = f"[BUILDINFO]\r\nBuildArch=amd64\r\nBuildBranch={branch}\r\n".encode()
    disc = isos.udf_iso(tmp_path / "s.iso", "SSS_X64FREV_EN-US_DV9", "MICROSOFT CORPORATION",
                        {"sources/install.wim": b"MSWIM", "sources/idwbinfo.txt": info})
    assert detect_os(inspect_media(disc)).os_id == os_id


@pytest.mark.parametrize("fat32", [False, True])
def test_efi_architectures_from_the_boot_image_alone(tmp_path: Path, fat32: bool):
    """No EFI folder in the ISO 9660 tree (as on FreeBSD's discs): the El Torito EFI image's
    own EFI/BOOT names the architectures."""
    image = isos.efi_image(tmp_path / "fat.img", ("BOOTX64.EFI", "BOOTAA64.EFI"), fat32=fat32)
    disc = isos.make_iso(tmp_path / "f.iso", {"-V": "14_1_RELEASE_AMD64_CD"},
                         {"efi.img": image.read_bytes()}, efi=True)
    facts = inspect_media(disc)
    assert facts.uefi and facts.efi_architectures == ("aarch64", "x86_64")
    assert facts.architecture == "x86_64"  # two loaders: the volume id's AMD64 decides


def test_a_damaged_efi_image_still_boots_with_uefi(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "u.iso", isos.UBUNTU_2204, {"EFI/BOOT/BOOTX64.EFI": b"MZ"},
                         efi=True, efi_loaders=("BOOTAA64.EFI",))
    good = inspect_media(disc)
    assert good.efi_architectures == ("aarch64", "x86_64")  # the image's and the tree's
    with disc.open("r+b") as handle:
        handle.seek(good_rba(disc) * 2048 + 510)
        handle.write(b"\0\0")  # no FAT boot signature any more
    damaged = inspect_media(disc)
    assert damaged.uefi and damaged.efi_architectures == ("x86_64",)


def good_rba(disc: Path) -> int:
    with disc.open("rb") as handle:
        volume = iso.read_volume(handle, disc.stat().st_size)
    return next(e.load_rba for e in volume.boot_entries if e.platform == "EFI")
