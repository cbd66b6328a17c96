"""The initrd injection: the newc archive (golden bytes, read back by busybox cpio), the
initrd with the archive appended (what the kernel's unpacker expects), and the installer
looked up on discs with and without it."""

from __future__ import annotations

import gzip
import io
import subprocess
from pathlib import Path

import pytest

from desktopvm.media.unattended import build_seed_iso
from desktopvm.media.unattended.initrd import (
    NoInstaller,
    command_line,
    installer_boot,
    newc,
    read_installer,
    with_preseed,
)
from desktopvm.testing.guest.build_iso import BUSYBOX

# newc({"preseed.cfg": b"d-i x\n"}), checked by hand against the format (magic 070701; ino,
# mode 100644, uid, gid, nlink 1, mtime, filesize 6, devmajor, devminor, rdevmajor,
# rdevminor, namesize 12 incl. NUL, check 0; header + name padded to 4; data padded to 4)
# and read back by busybox below.
GOLDEN = (
    b"070701" b"00000001" b"000081A4" b"00000000" b"00000000" b"00000001" b"00000000"
    b"00000006" b"00000000" b"00000000" b"00000000" b"00000000" b"0000000C" b"00000000"
    b"preseed.cfg\0" b"\0\0"
    b"d-i x\n" b"\0\0"
    b"070701" b"00000000" b"00000000" b"00000000" b"00000000" b"00000001" b"00000000"
    b"00000000" b"00000000" b"00000000" b"00000000" b"00000000" b"0000000B" b"00000000"
    b"TRAILER!!!\0" b"\0\0\0"
)


def _busybox() -> Path:
    if not BUSYBOX.is_file():
        pytest.skip("needs busybox (Debian package busybox-static) to read the archive back")
    return BUSYBOX


def _extract(archive: bytes, into: Path) -> dict[str, bytes]:
    into.mkdir()
    subprocess.run([str(_busybox()), "cpio", "-i", "-d"], input=archive, cwd=into,
                   check=True, capture_output=True)
    return {p.name: p.read_bytes() for p in into.iterdir()}


def test_newc_archive_is_the_golden_bytes_and_busybox_reads_it(tmp_path: Path):
    archive = newc({"preseed.cfg": b"d-i x\n"})
    assert archive == GOLDEN
    listing = subprocess.run([str(_busybox()), "cpio", "-t", "-v"], input=archive,
                             capture_output=True, check=True).stdout.decode()
    assert listing.split()[0] == "-rw-r--r--" and listing.split()[-1] == "preseed.cfg"
    data = b"d-i passwd/user-password-crypted password $6$salt$hash\n" * 300 + b"\xe2\x82"
    assert _extract(newc({"preseed.cfg": data, "b": b""}), tmp_path / "out") == {
        "preseed.cfg": data, "b": b""}


@pytest.mark.parametrize("name", ["", "a/b", "..", "x\0y"])
def test_newc_refuses_names_that_are_not_plain(name: str):
    with pytest.raises(ValueError, match="plain file name"):
        newc({name: b""})


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 4097])
def test_the_archive_follows_the_initrd_on_a_four_byte_boundary(size: int, tmp_path: Path):
    initrd = b"\x1f\x8b" * size  # any length
    joined = with_preseed(initrd, b"d-i x\n")
    assert joined.startswith(initrd)
    start = joined.index(b"070701", len(initrd))
    # The kernel skips NUL padding between archives and reads a plain one only at an offset
    # that is a multiple of 4 (buffer-format.rst; init/initramfs.c).
    assert start % 4 == 0 and set(joined[len(initrd):start]) <= {0}
    assert _extract(joined[start:], tmp_path / "out") == {"preseed.cfg": b"d-i x\n"}


def test_a_gzip_initrd_then_the_archive_unpacks_to_both(tmp_path: Path):
    inner = newc({"init": b"#!/bin/sh\n"})
    initrd = gzip.compress(inner + b"\0" * 3)  # 3: gzip output of any length
    joined = with_preseed(initrd, b"d-i answers\n")
    # What the kernel does: the gzip member, NULs skipped, then the next archive.
    first = gzip.GzipFile(fileobj=io.BytesIO(joined)).read1(1 << 20)
    assert first.startswith(inner)
    rest = joined[len(initrd):].lstrip(b"\0")
    assert _extract(rest, tmp_path / "out") == {"preseed.cfg": b"d-i answers\n"}


def _disc(tmp_path: Path, files: dict[str, bytes], *, rock_ridge: bool = True) -> Path:
    tree = tmp_path / "tree"
    for name, data in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    tree.mkdir(exist_ok=True)
    disc = tmp_path / "disc.iso"
    # xorriso writes Rock Ridge unless told not to (-rockridge off): then Joliet only.
    options = ["-r", "-J"] if rock_ridge else ["-J", "--norock"]
    subprocess.run(["xorriso", "-as", "mkisofs", *options, "-V", "Debian 12 amd64 n",
                    "-o", str(disc), str(tree)], check=True, capture_output=True)
    return disc


def test_the_installer_is_read_from_a_netinst_layout(tmp_path: Path):
    disc = _disc(tmp_path, {"install.amd/vmlinuz": b"KERNEL", "install.amd/initrd.gz": b"INIT",
                            ".disk/info": b"Debian GNU/Linux 12"})
    assert read_installer(disc) == (b"KERNEL", b"INIT")
    boot = installer_boot(disc, b"d-i x\n", serial=True)
    assert boot.kernel == b"KERNEL" and boot.initrd == b"INIT" + newc({"preseed.cfg": b"d-i x\n"})
    assert boot.label == "Debian installer with answers"


def test_the_installer_is_found_by_its_joliet_name_alone(tmp_path: Path):
    disc = _disc(tmp_path, {"install.amd/vmlinuz": b"K", "install.amd/initrd.gz": b"I"},
                 rock_ridge=False)
    assert read_installer(disc) == (b"K", b"I")


def test_an_arm64_disc_keeps_its_installer_in_install_a64(tmp_path: Path):
    disc = _disc(tmp_path, {"install.a64/vmlinuz": b"K", "install.a64/initrd.gz": b"I"})
    assert read_installer(disc, "aarch64") == (b"K", b"I")
    with pytest.raises(NoInstaller, match=r"no Debian installer in /install.amd/"):
        read_installer(disc)


def test_a_disc_without_the_installer_is_refused_in_words(tmp_path: Path):
    seed = tmp_path / "seed.iso"
    seed.write_bytes(build_seed_iso("PRESEED", {"preseed.cfg": b"d-i x\n"}))
    with pytest.raises(NoInstaller, match=r"seed.iso has no Debian installer in /install.amd/ "
                                          r"\(vmlinuz and initrd.gz missing\).*netinst"):
        read_installer(seed)
    half = _disc(tmp_path, {"install.amd/vmlinuz": b"K"})
    with pytest.raises(NoInstaller, match=r"\(initrd.gz missing\)"):
        read_installer(half)
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"not a disc" * 1000)
    with pytest.raises(NoInstaller, match=r"junk\.iso cannot be read as a disc"):
        read_installer(junk)
    with pytest.raises(NoInstaller, match="for riscv64"):
        read_installer(seed, "riscv64")


def test_the_command_line_is_auto_mode_with_the_menu_arguments():
    plain = command_line(serial=False)
    assert plain == "auto=true priority=critical vga=788 --- quiet"
    serial = command_line(serial=True)
    before, _, after = serial.partition(" --- ")
    # The last console= is the one the installer talks on: the serial port.
    assert before.split()[-1] == "console=ttyS0,115200n8" and after == "quiet"


def test_a_kernel_larger_than_any_installer_is_refused_before_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from desktopvm.media.unattended import initrd

    monkeypatch.setattr(initrd, "MAX_KERNEL", 5)
    disc = _disc(tmp_path, {"install.amd/vmlinuz": b"KERNEL", "install.amd/initrd.gz": b"I"})
    with pytest.raises(NoInstaller, match=r"vmlinuz on the disc is 6 bytes, more than"):
        read_installer(disc)
