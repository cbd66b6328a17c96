"""Guest OS mapping between OVF (CIM OsType numbers, VMware/VirtualBox type ids) and our catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass

from desktopvm.model import catalog

OTHER = "other"
OTHER_LINUX = "other-linux"

# CIM_OperatingSystem.OSType values (DMTF CIM schema 2.52; VirtualBox's ovfreader.h lists
# the same). Only the ones that decide a family or name one of our catalog entries.
CIM_OTHER = 1
CIM_LINUX_64 = 101
CIM_OPENBSD = 65
CIM_FREEBSD_64 = 78
CIM_RHEL_64 = 80
CIM_SUSE_64 = 83
CIM_UBUNTU_64 = 94
CIM_DEBIAN_64 = 96
CIM_WINDOWS_7 = 105
CIM_CENTOS_64 = 107
CIM_WINDOWS_8_1_64 = 117
CIM_WINDOWS_SERVER_2016 = 118  # VirtualBox also writes it for 2019+: CIM has nothing newer
CIM_WINDOWS_10_64 = 120  # VirtualBox also writes it for Windows 11, for the same reason

_CIM_EXACT = {105: "windows7", 116: "windows8.1", 117: "windows8.1", 119: "windows10",
              120: "windows10"}
_CIM_LINUX = {36, 79, 80, 82, 83, 84, 85, 87, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101,
              106, 107, 108, 109}  # fmt: skip
_CIM_OPENBSD = {65}

# Checked in order on each hint (the OVF Description, vmw:osType or vbox:OSType text), most
# specific first: (pattern capturing the version, catalog id per version, id otherwise).
_VERSIONED: list[tuple[re.Pattern[str], dict[str, str], str]] = [
    (re.compile(r"ubuntu\D{0,3}(\d{2})(?:[._ ]?04)?(?!\d)"),
     {"24": "ubuntu24.04", "22": "ubuntu22.04", "20": "ubuntu20.04"}, OTHER_LINUX),
    (re.compile(r"debian\D{0,3}(\d{1,2})(?!\d)"),
     {"13": "debian13", "12": "debian12", "11": "debian11"}, OTHER_LINUX),
    (re.compile(r"centos\D{0,10}?(\d{1,2})(?!\d)"), {"9": "centos-stream9"}, OTHER_LINUX),
    (re.compile(r"alma\s*linux\D{0,3}(\d{1,2})(?!\d)"), {"9": "almalinux9"}, OTHER_LINUX),
    (re.compile(r"rocky\s*(?:linux)?\D{0,3}(\d{1,2})(?!\d)"), {"9": "rocky9"}, OTHER_LINUX),
    (re.compile(r"(?:rhel|red\s*hat)\D{0,30}?(\d{1,2})(?!\d)"),
     {"9": "rhel9", "8": "rhel8"}, OTHER_LINUX),
    (re.compile(r"freebsd\D{0,3}(\d{2})(?!\d)"), {"14": "freebsd14", "13": "freebsd13"}, OTHER),
]  # fmt: skip
_NAMED: list[tuple[re.Pattern[str], str]] = [
    # VMware's windows7Server64Guest is Server 2008 R2, not Windows 7.
    (re.compile(r"windows\s*7\s*server|server\s*2008|windows\s*2008"), OTHER),
    (re.compile(r"windows\s*11|\bwin\s*11"), "windows11"),
    (re.compile(r"server\s*2025|windows\s*2025|windows2022srvnext"), "windows-server-2025"),
    (re.compile(r"server\s*2022|windows\s*2022|windows2019srvnext"), "windows-server-2022"),
    (re.compile(r"server\s*2019|windows\s*2019"), "windows-server-2019"),
    # VMware calls Windows 10 "windows9"; its windows8 is 8 and 8.1 alike, so not mapped.
    (re.compile(r"windows\s*10|\bwin\s*10|windows9(?:_64)?guest"), "windows10"),
    (re.compile(r"windows\s*8\.1|windows\s*81|\bwin\s*81"), "windows8.1"),
    (re.compile(r"windows\s*7|\bwin\s*7"), "windows7"),
    (re.compile(r"linux\s*mint|linuxmint"), "linux-mint"),
    (re.compile(r"\barch\s*linux|archlinux"), "arch"),
    (re.compile(r"fedora"), "fedora"),
    (re.compile(r"opensuse\W*leap"), "opensuse-leap"),
    (re.compile(r"opensuse\W*tumbleweed"), "opensuse-tumbleweed"),
    (re.compile(r"alpine"), "alpine"),
    (re.compile(r"\bkali"), "kali"),
    (re.compile(r"nixos"), "nixos"),
    (re.compile(r"openbsd"), "openbsd"),
]
_LINUXISH = re.compile(r"linux|ubuntu|debian|rhel|red\s*hat|centos|suse|sles|oracle|mandriva|"
                       r"gentoo|turbolinux|alma|rocky|xandros|asianux|photon|coreos|amazon")
_WINDOWSISH = re.compile(r"windows|\bwin")


@dataclass(frozen=True)
class OvfOs:
    """How one catalog OS is written into an OVF OperatingSystemSection."""

    cim_id: int
    description: str
    vbox_type: str = ""
    vmw_type: str = ""


# Our id -> (CIM id, VMware guestId). VMware ids only where VMware has an exact one.
_EXPORT: dict[str, tuple[int, str]] = {
    "windows11": (CIM_WINDOWS_10_64, "windows11_64Guest"),
    "windows10": (CIM_WINDOWS_10_64, "windows9_64Guest"),
    "windows-server-2025": (CIM_WINDOWS_SERVER_2016, "windows2022srvNext_64Guest"),
    "windows-server-2022": (CIM_WINDOWS_SERVER_2016, "windows2019srvNext_64Guest"),
    "windows-server-2019": (CIM_WINDOWS_SERVER_2016, "windows2019srv_64Guest"),
    "windows8.1": (CIM_WINDOWS_8_1_64, "windows8_64Guest"),
    "windows7": (CIM_WINDOWS_7, "windows7_64Guest"),
    "ubuntu24.04": (CIM_UBUNTU_64, "ubuntu64Guest"),
    "ubuntu22.04": (CIM_UBUNTU_64, "ubuntu64Guest"),
    "ubuntu20.04": (CIM_UBUNTU_64, "ubuntu64Guest"),
    "linux-mint": (CIM_UBUNTU_64, "ubuntu64Guest"),
    "debian13": (CIM_DEBIAN_64, ""),
    "debian12": (CIM_DEBIAN_64, "debian12_64Guest"),
    "debian11": (CIM_DEBIAN_64, "debian11_64Guest"),
    "kali": (CIM_DEBIAN_64, ""),
    "rhel9": (CIM_RHEL_64, "rhel9_64Guest"),
    "rhel8": (CIM_RHEL_64, "rhel8_64Guest"),
    "almalinux9": (CIM_RHEL_64, "almalinux_64Guest"),
    "rocky9": (CIM_RHEL_64, "rockylinux_64Guest"),
    "centos-stream9": (CIM_CENTOS_64, "centos9_64Guest"),
    "opensuse-leap": (CIM_SUSE_64, "opensuse64Guest"),
    "opensuse-tumbleweed": (CIM_SUSE_64, "opensuse64Guest"),
    "fedora": (CIM_LINUX_64, "fedora64Guest"),
    "freebsd14": (CIM_FREEBSD_64, "freebsd14_64Guest"),
    "freebsd13": (CIM_FREEBSD_64, "freebsd13_64Guest"),
    "openbsd": (CIM_OPENBSD, ""),
    "other": (CIM_OTHER, ""),
}


def os_for_export(os_id: str) -> OvfOs:
    """The OperatingSystemSection values for one of our OS ids (best effort)."""
    entry = catalog().get(os_id) or catalog().get(OTHER)
    if entry is None:  # a catalog without "other" is an installation problem; stay usable
        return OvfOs(CIM_OTHER, os_id)
    # Linux entries not in the table (arch, alpine, nixos, other-linux...) are "Linux 64-bit".
    default = (CIM_LINUX_64 if entry.family.value == "linux" else CIM_OTHER, "")
    cim_id, vmw_type = _EXPORT.get(entry.id, default)
    # The fallback type is known to older VirtualBox releases too; an unknown vbox:OSType
    # would make VirtualBox refuse the import, and our own reader uses the description.
    ids = entry.backend_ids
    vbox_type = ids.get("virtualbox_fallback") or ids.get("virtualbox", "")
    return OvfOs(cim_id, entry.name, vbox_type, vmw_type)


def _match_hint(hint: str) -> str | None:
    """The catalog id one hint names, OTHER_LINUX/OTHER for a known family, or None."""
    text = hint.lower()
    for pattern, os_id in _NAMED:
        if pattern.search(text):
            return os_id
    for pattern, versions, otherwise in _VERSIONED:
        match = pattern.search(text)
        if match:
            return versions.get(match.group(1), otherwise)
    if _LINUXISH.search(text):
        return OTHER_LINUX
    if _WINDOWSISH.search(text) or "bsd" in text:
        return OTHER
    return None


def _from_cim(cim_id: int | None) -> str:
    if cim_id is None:
        return OTHER
    if cim_id in _CIM_EXACT:
        return _CIM_EXACT[cim_id]
    if cim_id in _CIM_LINUX:
        return OTHER_LINUX
    if cim_id in _CIM_OPENBSD:
        return "openbsd"
    return OTHER


def os_from_ovf(cim_id: int | None, hints: list[str]) -> tuple[str, str | None]:
    """Our catalog id for an OVF guest OS, and a warning when we had to fall back.

    Hints (description, vmw:osType, vbox:OSType) win over the CIM number because exporters
    reuse numbers (VirtualBox writes Windows 11 as CIM "Windows 10 64-bit").
    """
    results = [r for r in (_match_hint(h) for h in hints if h.strip()) if r is not None]
    from_cim = _from_cim(cim_id)
    # An exact hint, else an exact CIM number, else the family a hint or the number names.
    exact = [r for r in [*results, from_cim] if r not in (OTHER, OTHER_LINUX)]
    if exact:
        return exact[0], None
    os_id = results[0] if results else from_cim
    described = next((h.strip() for h in hints if h.strip()), "")
    entry = catalog().get(os_id)
    shown = entry.name if entry else os_id
    if described and _norm(described) != _norm(shown):
        return os_id, (f"The appliance's guest OS {described!r} is not one DesktopVM knows "
                       f"exactly; the machine is set to {shown!r}. Choose the exact OS in "
                       "its settings if you know it.")
    return os_id, None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())
