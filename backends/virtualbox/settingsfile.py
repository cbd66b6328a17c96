"""Facts `showvminfo --machinereadable` leaves out, read from the machine's `.vbox` file.

The machine-readable output has no TPM line (VBoxManageInfo.cpp prints none in 7.0 to 7.2),
no Secure Boot state before 7.1, and no snapshot times. The `.vbox` settings file (XML,
written by VBoxSVC) has all three, and our own extra-data markers, at no process cost. Reading
is tolerant: a missing or unreadable file gives empty facts, never an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXml

log = logging.getLogger(__name__)

# Extra-data keys DesktopVM writes with `setextradata` (VirtualBox keeps them in the .vbox).
OS_KEY = "DesktopVM/OS"
SECURE_BOOT_KEY = "DesktopVM/SecureBoot"
TPM_TYPES = {"v1_2": "1.2", "v2_0": "2.0", "host": "host", "swtpm": "swtpm"}


@dataclass(frozen=True)
class SnapshotFacts:
    """What the settings file says about one snapshot."""

    created: str = ""  # ISO 8601 as VirtualBox writes it (UTC, 'Z')
    has_memory: bool = False  # a saved state belongs to the snapshot (taken while running)


@dataclass(frozen=True)
class SettingsFacts:
    """The facts DesktopVM reads from a `.vbox` file."""

    tpm: str = ""  # "", "1.2", "2.0", "host", "swtpm"
    extra_data: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, SnapshotFacts] = field(default_factory=dict)  # by lower-case UUID


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _walk(element: Element, name: str) -> list[Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _children(element: Element, name: str) -> list[Element]:
    return [e for e in element if _local(e.tag) == name]


def read_settings_file(path: str | Path) -> SettingsFacts:
    """The facts in the `.vbox` file at `path` (empty facts if it cannot be read)."""
    if not path:
        return SettingsFacts()
    try:
        root = SafeXml.parse(str(path)).getroot()
    except (OSError, SafeXml.ParseError, ValueError) as error:
        log.debug("cannot read VirtualBox settings %s: %s", path, error)
        return SettingsFacts()
    return facts_from_xml(root)


def facts_from_xml(root: Element) -> SettingsFacts:
    """Facts from a parsed settings document (split out for tests)."""
    machine = next(iter(_walk(root, "Machine")), root)
    tpm = ""
    # The machine's own hardware is its direct child; snapshots carry copies further down.
    for hardware in _children(machine, "Hardware")[:1]:
        for element in _children(hardware, "TrustedPlatformModule"):
            tpm = TPM_TYPES.get(element.get("type", ""), "")
    extra = {item.get("name", ""): item.get("value", "")
             for data in _children(machine, "ExtraData")
             for item in _children(data, "ExtraDataItem") if item.get("name")}
    snapshots = {}
    for snapshot in _walk(machine, "Snapshot"):
        uuid = snapshot.get("uuid", "").strip("{}").lower()
        if uuid:
            snapshots[uuid] = SnapshotFacts(created=snapshot.get("timeStamp", ""),
                                            has_memory=bool(snapshot.get("stateFile")))
    return SettingsFacts(tpm=tpm, extra_data=extra, snapshots=snapshots)
