"""Install discs made with xorriso for the tests, carrying real releases' identifiers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ISOLINUX = Path("/usr/lib/ISOLINUX/isolinux.bin")
# Identifiers as real discs carry them (isoinfo -d on the published ISOs).
UBUNTU_2204 = {"-V": "Ubuntu 22.04.3 LTS amd64", "-sysid": "LINUX"}
UBUNTU_2204_INFO = 'Ubuntu 22.04.3 LTS "Jammy Jellyfish" - Release amd64 (20230807.2)\n'
DEBIAN_11 = {"-V": "Debian 11.7.0 amd64 n", "-sysid": "LINUX"}
FEDORA_37_ARM = {"-V": "Fedora-S-dvd-aarch64-37", "-sysid": "LINUX"}
WINDOWS_11 = {"-V": "CCCOMA_X64FRE_EN-US_DV9", "-publisher": "MICROSOFT CORPORATION",
              "-sysid": ""}
WIN11_IDWBINFO = ("[BUILDINFO]\r\nBuildArch=amd64\r\nBuildBranch=ni_release\r\n"
                  "BuildFlavor=fre\r\n")


def need_xorriso() -> None:
    """Skip, saying what to install, where xorriso is missing (.ci/setup installs it)."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (apt install xorriso)")


def make_iso(out: Path, ids: dict[str, str], files: dict[str, bytes], *, bios: bool = False,
             efi: bool = False, udf: bool = False, efi_loaders: tuple[str, ...] = ()) -> Path:
    """An ISO with `files` (path → content), the ids, and the El Torito entries asked for;
    the EFI entry's FAT image holds `efi_loaders` in EFI/BOOT (empty when none are named)."""
    need_xorriso()
    tree = out.with_suffix(".tree")
    for path, content in files.items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    tree.mkdir(exist_ok=True)
    cmd = ["xorriso", "-as", "mkisofs", "-quiet", "-o", str(out), "-J", "-r"]
    for flag, value in ids.items():
        if value:
            cmd += [flag, value]
    if bios:
        (tree / "isolinux").mkdir(exist_ok=True)
        shutil.copy(ISOLINUX, tree / "isolinux" / "isolinux.bin")
        cmd += ["-c", "boot.cat", "-b", "isolinux/isolinux.bin", "-no-emul-boot",
                "-boot-load-size", "4", "-boot-info-table"]
    if efi:
        if "efi.img" not in files:  # a test may bring its own
            efi_image(tree / "efi.img", efi_loaders)
        if bios:
            cmd += ["-eltorito-alt-boot"]
        else:
            cmd += ["-c", "boot.cat"]
        cmd += ["-e", "efi.img", "-no-emul-boot"]
    if udf:
        cmd += ["-udf"]  # accepted and ignored by xorriso: see udf_iso for real UDF
    subprocess.run([*cmd, str(tree)], check=True, capture_output=True)
    return out


def efi_image(out: Path, loaders: tuple[str, ...], *, fat32: bool = False) -> Path:
    """A FAT image made by mtools (as grub-mkrescue and live-build make theirs) holding
    EFI/BOOT/<loader> for each loader named."""
    if shutil.which("mformat") is None:
        pytest.skip("mtools is not installed (apt install mtools)")
    size = ["-F", "-T", "66600"] if fat32 else ["-f", "1440"]
    subprocess.run(["mformat", "-C", *size, "-i", str(out), "::"], check=True,
                   capture_output=True)
    if loaders:
        subprocess.run(["mmd", "-i", str(out), "::/EFI", "::/EFI/BOOT"], check=True,
                       capture_output=True)
        stub = out.with_suffix(".efi")
        stub.write_bytes(b"MZ")
        for loader in loaders:
            subprocess.run(["mcopy", "-i", str(out), str(stub), f"::/EFI/BOOT/{loader}"],
                           check=True, capture_output=True)
        stub.unlink()
    return out


def udf_iso(out: Path, volume_id: str, publisher: str, files: dict[str, bytes]) -> Path:
    """A Windows-like disc: ISO 9660 with only a README, every file in UDF (pycdlib)."""
    import io

    import pycdlib

    disc = pycdlib.PyCdlib()
    disc.new(interchange_level=3, udf="2.60", vol_ident=volume_id, pub_ident_str=publisher)
    readme = b"This disc contains a UDF file system\n"
    disc.add_fp(io.BytesIO(readme), len(readme), "/README.TXT;1")
    # Windows' two El Torito entries: etfsboot.com (BIOS) and efisys.bin (UEFI).
    disc.add_directory("/BOOT")
    disc.add_fp(io.BytesIO(b"\0" * 4096), 4096, "/BOOT/ETFSBOOT.COM;1")
    disc.add_fp(io.BytesIO(b"\0" * 1440 * 1024), 1440 * 1024, "/BOOT/EFISYS.BIN;1")
    disc.add_eltorito("/BOOT/ETFSBOOT.COM;1", "/BOOT/BOOT.CAT;1", media_name="noemul",
                      boot_load_size=8)
    disc.add_eltorito("/BOOT/EFISYS.BIN;1", "/BOOT/BOOT.CAT;1", media_name="noemul",
                      efi=True)
    made: set[str] = set()
    for path, content in files.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if folder not in made:
                disc.add_directory(udf_path=folder)
                made.add(folder)
        disc.add_fp(io.BytesIO(content), len(content), udf_path="/" + path)
    disc.write(str(out))
    disc.close()
    return out
