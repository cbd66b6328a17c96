"""Debian's installer answered from its own initrd: `/preseed.cfg` appended as a cpio archive.

The installer's kernel and initrd are read off the install disc; a copy of the initrd gets a
second archive holding the answers.

Why this works (the two sources virt-install's `--initrd-inject` relies on too):

- The Linux kernel unpacks an initramfs that is several cpio archives one after the other,
  each compressed or not; zero bytes between them are skipped, and an uncompressed archive
  must start on a 4-byte boundary (Documentation/driver-api/early-userspace/buffer-format.rst,
  and `unpack_to_rootfs` in init/initramfs.c). So the disc's `initrd.gz`, padded to 4 bytes,
  followed by a plain "newc" archive holding `preseed.cfg`, unpacks to the installer's files
  plus ours.
- debian-installer loads a file named `preseed.cfg` in the root of its initrd by itself
  (Debian GNU/Linux Installation Guide, appendix B.2.2 "Loading the preseeding file":
  "initrd preseeding … a file named preseed.cfg in the root directory of the initrd").

Pure Python (the archive is a few headers; the disc is read with pycdlib), so it needs no
`cpio`, `gzip` or loop mounts on any host.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pycdlib  # type: ignore[import-untyped,unused-ignore]
from pycdlib.pycdlibexception import PyCdlibException  # type: ignore[import-untyped,unused-ignore]

# Where Debian's install discs keep the installer for each architecture (netinst, DVD, CD;
# the same folders their isolinux and GRUB menus boot from).
INSTALLER_FOLDERS = {"x86_64": "install.amd", "aarch64": "install.a64"}
MAX_KERNEL = 64 << 20
MAX_INITRD = 512 << 20
# What Debian 12's own boot menu passes (isolinux/txt.cfg and boot/grub/grub.cfg on the
# netinst: `vga=788 … --- quiet`); arguments after `---` are copied to the installed system.
MENU_ARGUMENTS = "vga=788"
MENU_AFTER = "quiet"
# auto=true: questions that a network preseed could answer wait until it would have been
# read; priority=critical: only questions that have no answer are asked (Installation Guide,
# B.2.3 "Auto mode").
AUTO = "auto=true priority=critical"
SERIAL_CONSOLE = "console=tty0 console=ttyS0,115200n8"
LABEL = "Debian installer with answers"


class NoInstaller(ValueError):
    """The disc has no Debian installer kernel and initrd where DesktopVM looks."""


@dataclass(frozen=True)
class InstallerBoot:
    """A first boot straight into the installer: its kernel, its initrd with the answers
    appended, and the kernel's command line. `initrd` holds the preseed (the password as a
    $6$ hash): it is written readable by its owner only, like the seed disc."""

    kernel: bytes
    initrd: bytes
    append: str
    label: str = LABEL


def _pad4(size: int) -> bytes:
    return b"\0" * (-size % 4)


def newc(files: dict[str, bytes]) -> bytes:
    """A cpio archive in the "newc" format (the one the kernel reads: magic 070701, 13 hex
    fields of 8 digits, name and data each padded to 4 bytes, ended by `TRAILER!!!`), with
    `files` as regular files (mode 0644, owner root) in its root, in the order given."""
    out = io.BytesIO()

    def entry(number: int, name: str, mode: int, data: bytes) -> None:
        raw = name.encode("utf-8") + b"\0"
        fields = (number, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0)
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        out.write(header + raw + _pad4(len(header) + len(raw)))
        out.write(data + _pad4(len(data)))

    for number, (name, data) in enumerate(files.items(), start=1):
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise ValueError(f"a plain file name is needed in the archive: {name!r}")
        entry(number, name, 0o100644, data)
    entry(0, "TRAILER!!!", 0, b"")
    return out.getvalue()


def with_preseed(initrd: bytes, preseed: bytes) -> bytes:
    """The installer's initrd followed by a newc archive holding `preseed.cfg`."""
    return initrd + _pad4(len(initrd)) + newc({"preseed.cfg": preseed})


def _read(iso: pycdlib.PyCdlib, path: str, limit: int) -> bytes | None:
    """A file by its real (Rock Ridge or Joliet) name; None when the disc has none there."""
    # Debian's discs carry both name extensions (xorriso -r -J); plain ISO 9660 names
    # (`INSTALL_AMD/VMLINUZ.;1`) are not looked up.
    lookups = []
    if iso.has_rock_ridge():
        lookups.append({"rr_path": path})
    if iso.has_joliet():
        lookups.append({"joliet_path": path})
    for lookup in lookups:
        try:
            record = iso.get_record(**lookup)
            if record.is_dir():
                continue
            size = record.get_data_length()
            if size > limit:
                raise NoInstaller(f"{path} on the disc is {size} bytes, more than an "
                                  "installer's could be")
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, **lookup)
            return out.getvalue()
        except PyCdlibException:
            continue
    return None


def read_installer(disc: Path, arch: str = "x86_64") -> tuple[bytes, bytes]:
    """The installer's kernel and initrd from a Debian install disc (`install.amd/vmlinuz`
    and `install.amd/initrd.gz`; `install.a64/` on ARM64). NoInstaller, in words, when the
    disc is no ISO or has no installer there."""
    folder = INSTALLER_FOLDERS.get(arch)
    if folder is None:
        raise NoInstaller(f"DesktopVM does not know where a Debian disc for {arch} keeps its "
                          "installer")
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(disc))
    except (PyCdlibException, OSError) as error:
        raise NoInstaller(f"{disc.name} cannot be read as a disc: {error}") from error
    try:
        kernel = _read(iso, f"/{folder}/vmlinuz", MAX_KERNEL)
        initrd = _read(iso, f"/{folder}/initrd.gz", MAX_INITRD)
    finally:
        iso.close()
    missing = [name for name, data in (("vmlinuz", kernel), ("initrd.gz", initrd)) if not data]
    if missing or kernel is None or initrd is None:
        raise NoInstaller(
            f"{disc.name} has no Debian installer in /{folder}/ ({' and '.join(missing)} "
            "missing), so DesktopVM cannot start it with the answers; use a Debian netinst, "
            "CD or DVD image")
    return kernel, initrd


def command_line(*, serial: bool) -> str:
    """The installer's kernel command line: auto mode at critical priority, the disc menu's
    own arguments, and — when the machine has a serial port — the installer on ttyS0 (the
    last `console=` is the one it talks on; the kernel writes to both)."""
    console = f" {SERIAL_CONSOLE}" if serial else ""
    return f"{AUTO} {MENU_ARGUMENTS}{console} --- {MENU_AFTER}"


def installer_boot(disc: Path, preseed: bytes, *, arch: str = "x86_64",
                   serial: bool = False) -> InstallerBoot:
    """The first boot that answers Debian's installer from `preseed` (see the module's
    docstring for why it is read)."""
    kernel, initrd = read_installer(disc, arch)
    return InstallerBoot(kernel, with_preseed(initrd, preseed), command_line(serial=serial))
