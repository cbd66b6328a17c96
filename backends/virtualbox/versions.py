"""Which VirtualBox this is, and every per-version difference of VBoxManage, in one place.

Everything that differs between 6.1, 7.0, 7.1 and 7.2 is decided here and nowhere else:
option spellings, which features exist, and which keys the machine-readable output uses.
Sources are named per entry (docs/virtualbox.md has the table with the evidence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from desktopvm.protocol import BackendUnavailable

VERSION_PATTERN = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)")
OLDEST_SUPPORTED = (6, 1)
NEWEST_KNOWN = (7, 2)


@dataclass(frozen=True, order=True)
class VBoxVersion:
    """A VirtualBox release, e.g. 7.0.6 from `7.0.6r155176`."""

    major: int
    minor: int
    patch: int
    raw: str = field(default="", compare=False)

    @property
    def series(self) -> tuple[int, int]:
        """(major, minor): the unit per-version differences are keyed by."""
        return (self.major, self.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_version(output: str) -> VBoxVersion:
    """The version from `VBoxManage --version` output.

    Skips `WARNING:` lines (printed before the version when the kernel driver is missing) and
    accepts distribution suffixes: `7.0.6r155176`, `6.1.38_Ubuntur153438`, `7.1.0_BETA1r1`.
    """
    for line in output.replace("\r\n", "\n").splitlines():
        if line.startswith("WARNING:") or not line.strip():
            continue
        match = VERSION_PATTERN.match(line)
        if match:
            major, minor, patch = (int(g) for g in match.groups())
            return VBoxVersion(major, minor, patch, line.strip())
    raise ValueError(f"no version number in VBoxManage output: {output.strip()[:200]!r}")


# modifyvm options renamed to hyphenated spellings in 7.0; the old ones stay accepted as
# aliases (VBoxManageModifyVM.cpp: OPT2("--nat-pf", "--natpf", ...)), but 6.1 knows only the old.
# key -> (6.1 spelling, 7.0+ spelling); a trailing "{n}" is the adapter/port number.
OPTION_SPELLINGS: dict[str, tuple[str, str]] = {
    "ostype": ("--ostype", "--os-type"),
    "nic_type": ("--nictype{n}", "--nic-type{n}"),
    "mac": ("--macaddress{n}", "--mac-address{n}"),
    "cable": ("--cableconnected{n}", "--cable-connected{n}"),
    "bridge": ("--bridgeadapter{n}", "--bridge-adapter{n}"),
    "host_only_adapter": ("--hostonlyadapter{n}", "--host-only-adapter{n}"),
    "nat_network": ("--natnetwork{n}", "--nat-network{n}"),
    "nat_pf": ("--natpf{n}", "--nat-pf{n}"),
    "uart_mode": ("--uartmode{n}", "--uart-mode{n}"),
    "monitor_count": ("--monitorcount", "--monitor-count"),
    "usb_ohci": ("--usbohci", "--usb-ohci"),
    "usb_ehci": ("--usbehci", "--usb-ehci"),
    "usb_xhci": ("--usbxhci", "--usb-xhci"),
}


@dataclass(frozen=True)
class Dialect:
    """How one VirtualBox series is spoken to. Build with `dialect_for(version)`."""

    series: tuple[int, int]
    hyphenated_options: bool  # 7.0 renamed modifyvm options (--os-type, --nic-type1, ...)
    x86_prefixed_options: bool  # 7.1 added --x86-nested-hw-virt & co (IPlatformX86)
    tpm: bool  # 7.0: --tpm-type
    secure_boot: bool  # 7.0: modifynvram inituefivarstore / enrollmssignatures / enrollorclpk
    secure_boot_switch: bool  # 7.1: modifynvram secureboot --enable|--disable
    host_only_networks: bool  # 7.0: hostonlynet (vmnet; macOS hosts only)
    platform_architecture: bool  # 7.1: createvm --platform-architecture=x86|arm
    machine_readable_secure_boot: bool  # 7.1: showvminfo prints SecureBoot="on|off" for EFI
    # 7.0 moved the USB 2.0 (EHCI) / 3.0 (xHCI) controllers and NVMe from the Oracle Extension
    # Pack into the base package; on 6.1 they work only with the pack installed (review V3).
    usb2_nvme_builtin: bool

    @property
    def name(self) -> str:
        """'7.0'."""
        return f"{self.series[0]}.{self.series[1]}"

    def option(self, key: str, number: int | None = None) -> str:
        """The spelling of a modifyvm option in this series, e.g. ('nic_type', 1)."""
        old, new = OPTION_SPELLINGS[key]
        spelling = new if self.hyphenated_options else old
        if "{n}" in spelling:
            if number is None:
                raise ValueError(f"option {key} needs an adapter or port number")
            return spelling.replace("{n}", str(number))
        return spelling

    def nested_virtualization_option(self) -> str:
        """--nested-hw-virt (6.0 to 7.0), --x86-nested-hw-virt (7.1+, old name kept as alias)."""
        return "--x86-nested-hw-virt" if self.x86_prefixed_options else "--nested-hw-virt"


def dialect_for(version: VBoxVersion) -> Dialect:
    """The dialect of `version`; newer than 7.2 speaks 7.2, older than 6.1 is refused."""
    if version.series < OLDEST_SUPPORTED:
        raise BackendUnavailable(
            f"VirtualBox {version} is too old; DesktopVM needs VirtualBox 6.1 or later",
            install_hint="Install VirtualBox 7 from https://www.virtualbox.org/wiki/Downloads",
        )
    series = min(version.series, NEWEST_KNOWN)
    at_least_70 = series >= (7, 0)
    at_least_71 = series >= (7, 1)
    return Dialect(
        series=series,
        hyphenated_options=at_least_70,
        x86_prefixed_options=at_least_71,
        tpm=at_least_70,
        secure_boot=at_least_70,
        secure_boot_switch=at_least_71,
        host_only_networks=at_least_70,
        platform_architecture=at_least_71,
        machine_readable_secure_boot=at_least_71,
        usb2_nvme_builtin=at_least_70,
    )


SERIES_NAMES = ("6.1", "7.0", "7.1", "7.2")


def dialect_named(name: str) -> Dialect:
    """The dialect of a series given as '7.0' (tests and golden data use this)."""
    major, minor = (int(part) for part in name.split("."))
    return dialect_for(VBoxVersion(major, minor, 0, name))
