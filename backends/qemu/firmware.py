"""Finds UEFI firmware through QEMU's firmware descriptors (the files libvirt reads too)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DESCRIPTOR_DIRS = (
    Path("/etc/qemu/firmware"),
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "qemu" / "firmware",
    Path("/usr/share/qemu/firmware"),
    Path("/usr/local/share/qemu/firmware"),
    Path("/opt/homebrew/share/qemu/firmware"),
)


@dataclass(frozen=True)
class Firmware:
    """One UEFI build: its code, the template of its variable store, and what it needs."""

    description: str
    code: Path
    vars_template: Path
    secure_boot: bool
    requires_smm: bool


def _parse(path: Path) -> Firmware | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mapping = data["mapping"]
        if "uefi" not in data.get("interface-types", []) or mapping.get("device") != "flash":
            return None
        if not any(t.get("architecture") == "x86_64" for t in data.get("targets", [])):
            return None
        features = set(data.get("features", []))
        code = Path(mapping["executable"]["filename"])
        template = Path(mapping["nvram-template"]["filename"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.debug("ignoring firmware descriptor %s: %r", path, error)
        return None
    if not (code.is_file() and template.is_file()):
        return None
    secure = {"secure-boot", "enrolled-keys"} <= features
    if "secure-boot" in features and not secure:
        return None  # Secure Boot without Microsoft's keys enrolled boots nothing we offer
    return Firmware(data.get("description", path.name), code, template, secure,
                    "requires-smm" in features)


def find_firmware(dirs: tuple[Path, ...] = DESCRIPTOR_DIRS) -> tuple[Firmware | None,
                                                                    Firmware | None]:
    """(plain UEFI, UEFI with Secure Boot and Microsoft keys); None where not installed.

    Descriptors are read in QEMU's order: file names sort by priority, and a name in an
    earlier folder overrides the same name in a later one.
    """
    chosen: dict[str, Path] = {}
    for folder in dirs:
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                chosen.setdefault(path.name, path)
    plain: Firmware | None = None
    secure: Firmware | None = None
    for name in sorted(chosen):
        firmware = _parse(chosen[name])
        if firmware is None:
            continue
        if firmware.secure_boot and secure is None:
            secure = firmware
        elif not firmware.secure_boot and not firmware.requires_smm and plain is None:
            plain = firmware
    return plain, secure
