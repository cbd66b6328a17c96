"""Names, namespaces, units and file-name checks shared by the OVF reader, writer and OVA code."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

OVF1_NS = "http://schemas.dmtf.org/ovf/envelope/1"
OVF2_NS = "http://schemas.dmtf.org/ovf/envelope/2"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
VBOX_NS = "http://www.virtualbox.org/ovf/machine"
VMW_NS = "http://www.vmware.com/schema/ovf"

STREAM_OPTIMIZED_VMDK = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

# A scheme ("http:", "file:") or a drive letter ("C:"): never a plain relative file name.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"^[0-9]{1,18}$")
# "byte * 2^20", "byte*10^6", "byte": DSP0004 programmatic units as OVF uses them.
# Digit counts are capped so that a hostile "byte * 9^99999999" cannot cost time or memory.
_PROGRAMMATIC_UNIT = re.compile(r"^byte(?:\s*\*\s*(\d{1,4})\s*\^\s*(\d{1,2}))?$", re.IGNORECASE)
# Unit words seen in the wild (OVF toolkit, Microsoft docs); binary multiples like VirtualBox.
_UNIT_WORDS = {
    "b": 1, "byte": 1, "bytes": 1,
    "kb": 1024, "kilobytes": 1024, "kib": 1024,
    "mb": 1024**2, "megabytes": 1024**2, "mib": 1024**2,
    "gb": 1024**3, "gigabytes": 1024**3, "gib": 1024**3,
    "tb": 1024**4, "terabytes": 1024**4, "tib": 1024**4,
}  # fmt: skip


class OvfError(Exception):
    """An OVF descriptor or OVA package is malformed, unsafe, or cannot be written."""


def check_href(href: str, where: str, what: str = "file reference") -> str:
    """`href` if it is a safe relative file name inside the package, else OvfError.

    Refused: empty names, absolute paths, drive letters, URLs, backslashes, NUL and other
    control characters, and "." or ".." components (the package may come from anyone).
    """
    problem = ""
    if not href:
        problem = "it is empty"
    elif _CONTROL.search(href):
        problem = "it contains control characters"
    elif "\\" in href:
        problem = "it contains a backslash"
    elif href.startswith("/"):
        problem = "it is an absolute path"
    elif _SCHEME.match(href):
        problem = "it is a URL or names a drive"
    elif any(part in ("", ".", "..") for part in href.split("/")):
        problem = "it has an empty, '.' or '..' path component"
    if problem:
        raise OvfError(f"{where}: refusing {what} {href!r}: {problem}")
    return href


def name_key(name: str) -> str:
    """A key under which names that one file system may treat as equal compare equal.

    Case-insensitive (Windows, macOS) and Unicode-normalising (macOS) file systems would
    store "Disk.vmdk" and "disk.vmdk", or NFC and NFD spellings, as one file.
    """
    return unicodedata.normalize("NFC", name).casefold()


def whole_number(raw: str) -> int | None:
    """A non-negative integer written in ASCII digits (at most 18 of them), else None.

    `str.isdigit` also accepts digits like "²" that `int` rejects, and `int` of a
    thousands-of-digits string costs time; neither belongs in an OVF number.
    """
    return int(raw) if _DIGITS.match(raw) else None


def unit_multiplier(units: str) -> int | None:
    """Bytes per unit for an allocation-units string, or None if it is not understood."""
    text = units.strip()
    if not text:
        return None
    match = _PROGRAMMATIC_UNIT.match(text)
    if match:
        base, exponent = match.groups()
        return int(base) ** int(exponent) if base is not None else 1
    return _UNIT_WORDS.get(text.replace(" ", "").lower())


def basename(href: str) -> str:
    """The last component of a package-relative name."""
    return PurePosixPath(href).name
