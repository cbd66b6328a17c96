"""`inspect_media(path)`: what an install ISO says about itself, as one immutable value."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from desktopvm.media import iso, udf
from desktopvm.media.efi_image import efi_loaders
from desktopvm.media.iso import PLATFORM_BIOS, PLATFORM_EFI, IsoError
from desktopvm.model.catalog import BootMedia

# EFI/BOOT/BOOT<arch>.EFI is where firmware looks for a removable disc's loader (UEFI spec
# 3.5.1.1); the suffix names the architecture.
EFI_LOADERS = {"x64": "x86_64", "ia32": "i686", "aa64": "aarch64", "arm": "armv7l",
               "riscv64": "riscv64", "loongarch64": "loongarch64"}
RELEASE_FILES = (".disk/info", ".treeinfo", "sources/idwbinfo.txt")
WINDOWS_IMAGES = ("sources/install.wim", "sources/install.esd")
# Words in release files and volume ids that name an architecture.
ARCH_WORDS = {"amd64": "x86_64", "x86_64": "x86_64", "x64": "x86_64", "arm64": "aarch64",
              "aarch64": "aarch64", "i386": "i686", "i686": "i686", "x86": "i686"}


class MediaError(Exception):
    """The file cannot be inspected as install media; one line for a person."""


@dataclass(frozen=True)
class MediaFacts:
    """What one ISO says: its identifiers, how it boots, its release files."""

    path: str
    size: int
    volume_id: str
    publisher_id: str
    application_id: str
    system_id: str
    bios: bool
    uefi: bool
    efi_architectures: tuple[str, ...]
    architecture: str | None
    udf: bool
    windows_image: str | None
    release_files: dict[str, str] = field(default_factory=dict)
    boot_platforms: tuple[str, ...] = ()

    @property
    def bootable(self) -> bool:
        """Whether any firmware can start it."""
        return self.bios or self.uefi

    def firmware_words(self) -> str:
        """'UEFI and BIOS', 'BIOS only', … for messages."""
        if self.uefi and self.bios:
            return "UEFI and BIOS"
        if self.uefi:
            return "UEFI only"
        if self.bios:
            return "BIOS only"
        return "not bootable"


def inspect_media(path: str | Path) -> MediaFacts:
    """Read an ISO's descriptors, boot catalog and release files; MediaError if it is not one."""
    target = Path(path).expanduser()
    try:
        with target.open("rb") as handle:
            size = target.stat().st_size
            return inspect_handle(handle, size, str(target))
    except IsoError as error:
        raise MediaError(f"{target.name}: {error}") from error
    except IsADirectoryError as error:
        raise MediaError(f"{target} is a folder, not an ISO file") from error
    except OSError as error:
        raise MediaError(f"cannot read {target}: {error.strerror or error}") from error


def inspect_handle(handle: BinaryIO, size: int, name: str = "") -> MediaFacts:
    """The same over an open file; IsoError when the structures are broken."""
    volume = iso.read_volume(handle, size)
    platforms = {entry.platform_id for entry in volume.boot_entries}
    bios = PLATFORM_BIOS in platforms
    uefi = PLATFORM_EFI in platforms
    names = set(iso.list_directory(handle, volume, "EFI/BOOT"))
    for entry in volume.boot_entries:
        if entry.platform_id == PLATFORM_EFI:
            try:
                names.update(efi_loaders(handle, size, entry.load_rba))
            except IsoError:
                continue  # a damaged EFI image: the disc still says it boots with UEFI
    loaders = sorted(name for name in names
                     if name.lower().startswith("boot") and name.lower().endswith(".efi"))
    releases = {}
    for release in RELEASE_FILES:
        text = iso.read_small_file(handle, volume, release)
        if text is not None:
            releases[release] = text
    windows_image = next((image for image in WINDOWS_IMAGES
                          if iso.lookup(handle, volume, image) is not None), None)
    if volume.udf and (windows_image is None or not loaders or "sources/idwbinfo.txt"
                       not in releases):
        # Windows discs keep everything in UDF; the ISO 9660 side holds only a README.
        tree = udf.read_tree(handle, size)
        if tree is not None:
            windows_image = windows_image or next(
                (image for image in WINDOWS_IMAGES if tree.exists(image)), None)
            loaders = loaders or [name for name in tree.list("efi/boot")
                                  if name.lower().startswith("boot")
                                  and name.lower().endswith(".efi")]
            text = tree.read("sources/idwbinfo.txt")
            if text is not None:
                releases.setdefault("sources/idwbinfo.txt", text)
    efi_arches = tuple(sorted({EFI_LOADERS[key] for name in loaders
                               if (key := name.lower()[4:-4]) in EFI_LOADERS}))
    facts = MediaFacts(
        path=name, size=size, volume_id=volume.volume_id, publisher_id=volume.publisher_id,
        application_id=volume.application_id, system_id=volume.system_id, bios=bios,
        uefi=uefi, efi_architectures=efi_arches if uefi else (), architecture=None,
        udf=volume.udf, windows_image=windows_image, release_files=releases,
        boot_platforms=tuple(sorted({entry.platform for entry in volume.boot_entries})),
    )
    return _with_architecture(facts)


def _with_architecture(facts: MediaFacts) -> MediaFacts:
    """The architecture: the release files say it best, then the EFI loaders, then the ids.
    A BIOS El Torito image is x86 code, so a BIOS-bootable disc is x86 at least."""
    from dataclasses import replace

    arch = release_architecture(facts.release_files)
    if arch is None and len(facts.efi_architectures) == 1:
        arch = facts.efi_architectures[0]
    if arch is None and "x86_64" in facts.efi_architectures:
        arch = "x86_64"
    if arch is None:
        arch = _arch_word(facts.volume_id)
    if arch is None and facts.bios:
        arch = "x86_64" if facts.uefi else None
    return replace(facts, architecture=arch)


# An architecture word between separators ('_' counts: FreeBSD's '14_1_RELEASE_AMD64_CD');
# x86_64 is tried before x64 and x86 so its own underscore does not split it.
_ARCH_PATTERN = re.compile(r"(?<![a-z0-9])(" + "|".join(
    sorted(ARCH_WORDS, key=len, reverse=True)) + r")(?![a-z0-9])")


def _arch_word(text: str) -> str | None:
    match = _ARCH_PATTERN.search(text.lower())
    return ARCH_WORDS[match.group(1)] if match else None


def release_architecture(files: dict[str, str]) -> str | None:
    """The architecture a release file names (.treeinfo's arch, idwbinfo's BuildArch,
    .disk/info's words)."""
    treeinfo = parse_ini(files.get(".treeinfo", ""))
    for section, key in (("general", "arch"), ("tree", "arch")):
        value = treeinfo.get(section, {}).get(key, "")
        if value.lower() in ARCH_WORDS:
            return ARCH_WORDS[value.lower()]
    build = parse_ini(files.get("sources/idwbinfo.txt", "")).get("buildinfo", {})
    if build.get("buildarch", "").lower() in ARCH_WORDS:
        return ARCH_WORDS[build["buildarch"].lower()]
    info = files.get(".disk/info", "")
    return _arch_word(info) if info else None


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """An INI file's sections (lower-case names); {} for anything unreadable."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}
    return {section.lower(): {key.lower(): value for key, value in parser[section].items()}
            for section in parser.sections()}


def boot_media(facts: MediaFacts) -> BootMedia:
    """What the model needs to know of a disc: how it boots, for which architecture."""
    return BootMedia(bios=facts.bios, uefi=facts.uefi, architecture=facts.architecture)
