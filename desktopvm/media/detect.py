"""`detect_os(facts)`: the OS a disc holds, as osinfo names it and as our catalog's entry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from desktopvm.media import osinfo
from desktopvm.media.facts import MediaFacts, parse_ini
from desktopvm.model import catalog
from desktopvm.model.catalog import OsCatalog, OsFamily
from desktopvm.model.machine import Firmware

# osinfo's <distro> → the prefix of our catalog's ids for it.
DISTRO_PREFIX = {
    "ubuntu": "ubuntu", "debian": "debian", "fedora": "fedora", "rhel": "rhel",
    "almalinux": "almalinux", "rocky": "rocky", "centos-stream": "centos-stream",
    "archlinux": "arch", "alpinelinux": "alpine", "nixos": "nixos", "freebsd": "freebsd",
    "openbsd": "openbsd", "linuxmint": "linux-mint", "kali": "kali",
}
# osinfo's Windows short ids → ours; older releases fall back to the oldest we have.
WINDOWS = {
    "win11": "windows11", "win10": "windows10", "win8.1": "windows8.1", "win8": "windows8.1",
    "win7": "windows7", "win2k25": "windows-server-2025", "win2k22": "windows-server-2022",
    "win2k19": "windows-server-2019", "win2k16": "windows-server-2019",
    "win2k12r2": "windows-server-2019", "win2k12": "windows-server-2019",
}
WINDOWS_EXACT = frozenset({"win11", "win10", "win8.1", "win7", "win2k25", "win2k22", "win2k19"})
# idwbinfo.txt's BuildBranch tells releases apart that share volume ids (Windows 10 and 11,
# Server 2019 and 2022 discs are named alike): the branch each was built from.
# Client and server releases built from one branch are told apart by which rules matched.
WINDOWS_BRANCHES = {
    "ge_release": ("win11", "win2k25"), "ni_release": ("win11",), "co_release": ("win11",),
    "vb_release": ("win10",), "19h1_release": ("win10",), "rs5_release": ("win10", "win2k19"),
    "fe_release": ("win2k22",),
}
FAMILY_FALLBACK = {"linux": "other-linux", "winnt": "windows7", "win9x": "other",
                   "freebsd": "freebsd13", "openbsd": "openbsd", "bsd": "freebsd13"}


@dataclass(frozen=True)
class Detection:
    """What the disc is: osinfo's release, our catalog entry, and how sure the match is."""

    os_id: str  # our catalog's id
    name: str  # the release's own name ('Ubuntu 22.04 LTS'), or the catalog's
    short_id: str  # osinfo's short id, '' when nothing matched
    exact: bool  # the catalog has this release itself, not only its family
    firmware: tuple[Firmware, ...]  # what the disc boots with, UEFI first
    architecture: str | None

    def summary(self) -> str:
        """'Ubuntu 22.04 LTS, boots with UEFI and BIOS' for the wizard and the CLI."""
        boots = " and ".join(kind.value.upper() for kind in self.firmware)
        how = f"boots with {boots}" if boots else "does not boot (no El Torito entry)"
        arch = f" ({self.architecture})" if self.architecture not in (None, "x86_64") else ""
        return f"{self.name}{arch}, {how}"


def ids_of(facts: MediaFacts) -> dict[str, str]:
    """The four ids the rules look at."""
    return {"volume_id": facts.volume_id, "publisher_id": facts.publisher_id,
            "application_id": facts.application_id, "system_id": facts.system_id}


def detect_os(facts: MediaFacts, os_catalog: OsCatalog | None = None) -> Detection:
    """The best osinfo match for the disc, mapped to our catalog; 'other' when none."""
    entries = os_catalog or catalog()
    firmware = tuple(kind for kind, boots in ((Firmware.UEFI, facts.uefi),
                                              (Firmware.BIOS, facts.bios)) if boots)
    found = osinfo.match(ids_of(facts), facts.architecture)
    rule = _windows_branch(facts, found) or (found[0] if found else None)
    if rule is None:
        entry = entries.get("other")
        name = facts.volume_id or (entry.name if entry else "Unknown OS")
        return Detection(os_id="other", name=f"Unknown OS ({name})" if facts.volume_id else
                         name, short_id="", exact=False, firmware=firmware,
                         architecture=facts.architecture)
    os_id, exact = catalog_id(rule, entries)
    return Detection(os_id=os_id, name=rule.name or rule.short_id, short_id=rule.short_id,
                     exact=exact, firmware=firmware, architecture=facts.architecture)


def _windows_branch(facts: MediaFacts, found: list[osinfo.MediaRule]
                    ) -> osinfo.MediaRule | None:
    """Among Windows matches, the one the disc's build branch names."""
    text = facts.release_files.get("sources/idwbinfo.txt", "")
    branch = parse_ini(text).get("buildinfo", {}).get("buildbranch", "").lower()
    wanted = WINDOWS_BRANCHES.get(branch, ())
    return next((rule for rule in found if rule.short_id in wanted), None)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2]) or (0,)


def catalog_id(rule: osinfo.MediaRule, entries: OsCatalog) -> tuple[str, bool]:
    """Our catalog id for an osinfo release, and whether it is that release exactly.

    The same distro's entry with the same version wins; then its nearest version; then the
    family's catch-all ('other-linux')."""
    if rule.distro == "win" or rule.short_id.startswith("win"):
        os_id = WINDOWS.get(rule.short_id)
        if os_id is not None and os_id in entries:
            return os_id, rule.short_id in WINDOWS_EXACT
        return ("windows7" if "windows7" in entries else "other"), False
    if rule.distro == "opensuse":
        os_id = "opensuse-tumbleweed" if "tumbleweed" in rule.short_id else "opensuse-leap"
        if os_id in entries:
            return os_id, True
    prefix = DISTRO_PREFIX.get(rule.distro)
    if prefix:
        same = [entry.id for entry in entries.entries
                if re.fullmatch(re.escape(prefix) + r"[\d.]*", entry.id)]
        if prefix in same:  # an unversioned entry ('fedora') takes every release
            return prefix, True
        want = _version_key(rule.version or rule.short_id[len(rule.distro):])
        for os_id in same:
            have = _version_key(os_id[len(prefix):])
            if have == want[:len(have)]:
                return os_id, True
        if same:
            nearest = min(same, key=lambda os_id: abs(
                _version_key(os_id[len(prefix):])[0] - want[0]))
            return nearest, False
    fallback = FAMILY_FALLBACK.get(rule.family, "other")
    if rule.family == "linux" or rule.distro in ("linux",):
        fallback = "other-linux"
    entry = entries.get(fallback)
    if entry is None or (entry.family is OsFamily.OTHER and fallback != "other"):
        return "other", False
    return fallback, False
