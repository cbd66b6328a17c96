"""The .deb: the frozen app in /opt/desktopvm, commands in /usr/bin, a desktop entry and icon."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from installer import icon
from installer.project import DESCRIPTION, PUBLISHER, version

PACKAGE = "desktopvm"
INSTALL_DIR = Path("/opt/desktopvm")
COMMANDS = ("desktopvm", "desktopvm-cli")
# What the bundle links to outside itself: the libraries Qt needs on a minimal Debian
# (measured in a debootstrap minbase, ../shared/research/lab-qt-qemu.md) and glibc.
DEPENDS = (
    "libegl1", "libgl1", "libx11-6", "libdbus-1-3", "libfontconfig1", "libfreetype6",
    "libglib2.0-0", "libxkbcommon0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-render-util0", "libxcb-render0", "libxcb-shape0",
    "libxcb-util1", "libxcb-xkb1", "libxkbcommon-x11-0",
)
RECOMMENDS = ("qemu-system-x86", "qemu-utils")
SUGGESTS = ("ovmf", "swtpm", "libwayland-client0", "libwayland-cursor0", "libwayland-egl1")
DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=DesktopVM
GenericName=Virtual Machine Manager
Comment={comment}
Exec=/usr/bin/desktopvm
Icon=desktopvm
Terminal=false
Categories=System;Emulator;
Keywords=VM;virtual machine;QEMU;VirtualBox;Hyper-V;
StartupWMClass=desktopvm
"""


def glibc_version() -> str:
    """The C library version the bundle was built against (its minimum on the target)."""
    name = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.36"
    return name.split()[-1]


def control(installed_kib: int) -> str:
    """The DEBIAN/control text."""
    depends = ", ".join([f"libc6 (>= {glibc_version()})", *DEPENDS])
    summary, _, _ = DESCRIPTION.partition(":")
    return (
        f"Package: {PACKAGE}\n"
        f"Version: {version()}\n"
        "Section: admin\n"
        "Priority: optional\n"
        "Architecture: amd64\n"
        f"Maintainer: {PUBLISHER} <desktopvm@example.invalid>\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {depends}\n"
        f"Recommends: {', '.join(RECOMMENDS)}\n"
        f"Suggests: {', '.join(SUGGESTS)}\n"
        f"Description: {summary}\n"
        " DesktopVM manages the virtual machines of QEMU, VirtualBox and Hyper-V from one\n"
        " window and one command line (desktopvm-cli). This package carries a self-contained\n"
        " build (Python and Qt included) in /opt/desktopvm.\n"
    )


def _size_kib(root: Path) -> int:
    total = sum(path.lstat().st_size for path in root.rglob("*") if not path.is_dir())
    return (total + 1023) // 1024


def stage(bundle: Path, root: Path) -> Path:
    """Lay out the package tree at `root` (removed first) from the frozen app `bundle`."""
    shutil.rmtree(root, ignore_errors=True)
    opt = root / INSTALL_DIR.relative_to("/")
    shutil.copytree(bundle, opt, symlinks=True)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    for command in COMMANDS:
        (bin_dir / command).symlink_to(INSTALL_DIR / command)
    share = root / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    (share / "applications" / "desktopvm.desktop").write_text(
        DESKTOP_ENTRY.format(comment=DESCRIPTION.partition(":")[0]), encoding="utf-8")
    icons = share / "icons" / "hicolor"
    scalable = icons / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy2(icon.APP_SVG, scalable / "desktopvm.svg")
    for size in (48, 256):
        icon.write_png(icons / f"{size}x{size}" / "apps" / "desktopvm.png", size)
    doc = share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: DesktopVM\n\nFiles: *\nCopyright: {PUBLISHER}\n"
        "License: GPL-3.0-or-later\n On Debian systems the full text is in\n"
        " /usr/share/common-licenses/GPL-3.\n", encoding="utf-8")
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or bool(path.stat().st_mode & 0o100)
        path.chmod(0o755 if executable else 0o644)
    debian = root / "DEBIAN"
    debian.mkdir()
    (debian / "control").write_text(control(_size_kib(root)), encoding="utf-8")
    return root


def build_deb(root: Path, output: Path, *, fast: bool = False) -> Path:
    """dpkg-deb over the staged `root`; xz by default, zstd when `fast`."""
    output.mkdir(parents=True, exist_ok=True)
    target = output / f"{PACKAGE}_{version()}_amd64.deb"
    argv = ["dpkg-deb", "--root-owner-group", "-Zzstd" if fast else "-Zxz", "--build",
            str(root), str(target)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   timeout=1800)
    return target
