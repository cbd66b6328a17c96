"""Option parsing the way RTGetOpt does it (`--opt=value` or `--opt value`), per version."""

from __future__ import annotations

import re

from desktopvm.testing.doubles.virtualbox.fakevbox.state import syntax

# modifyvm options by the release that introduced the spelling ("N" = adapter/port number).
MODIFYVM_61 = {
    "--name", "--description", "--ostype", "--memory", "--vram", "--cpus", "--firmware",
    "--graphicscontroller", "--monitorcount", "--mouse", "--bootN", "--nicN", "--nictypeN",
    "--macaddressN", "--cableconnectedN", "--bridgeadapterN", "--hostonlyadapterN",
    "--intnetN", "--natnetworkN", "--natpfN", "--uartN", "--uartmodeN", "--usbohci",
    "--usbehci", "--usbxhci", "--nested-hw-virt",
}
MODIFYVM_70 = MODIFYVM_61 | {
    "--os-type", "--monitor-count", "--nic-typeN", "--mac-addressN", "--cable-connectedN",
    "--bridge-adapterN", "--host-only-adapterN", "--host-only-netN", "--nat-networkN",
    "--nat-pfN", "--uart-modeN", "--usb-ohci", "--usb-ehci", "--usb-xhci", "--tpm-type",
}
MODIFYVM_71 = MODIFYVM_70 | {"--x86-nested-hw-virt"}


def modifyvm_options(version: tuple[int, int]) -> set[str]:
    """The modifyvm spellings the emulated version accepts."""
    if version >= (7, 1):
        return MODIFYVM_71
    return MODIFYVM_70 if version >= (7, 0) else MODIFYVM_61


class Parsed:
    """Options in order as (canonical name, number, values), and the positional arguments."""

    def __init__(self) -> None:  # no dataclass: importing dataclasses costs each call 8 ms
        self.options: list[tuple[str, int, list[str]]] = []
        self.positional: list[str] = []

    def get(self, name: str, default: str = "") -> str:
        """The last value of an option without a number."""
        values = [v for n, _, v in self.options if n == name]
        return values[-1][0] if values and values[-1] else default

    def has(self, name: str) -> bool:
        """Whether the option was given."""
        return any(n == name for n, _, _ in self.options)


def canonical(name: str) -> tuple[str, int]:
    """'--nic-type1' -> ('--nic-typeN', 1); '--memory' -> ('--memory', 0)."""
    match = re.fullmatch(r"(--[a-z0-9-]*?[a-z-])(\d+)", name)
    if match and not name.startswith("--x86"):
        return match.group(1) + "N", int(match.group(2))
    return name, 0


def extra_values(name: str, first: str) -> int:
    """How many further arguments an option takes after its value (VBoxManage's quirks)."""
    if name == "--uartN":
        return 0 if first == "off" else 1  # --uart1 <io base> <irq>
    if name in ("--uartmodeN", "--uart-modeN"):
        return 0 if first == "disconnected" else 1  # --uart-mode1 server <path>
    if name in ("--natpfN", "--nat-pfN"):
        return 1 if first == "delete" else 0
    return 0


def parse(args: list[str], accepted: set[str], flags: frozenset[str] = frozenset()) -> Parsed:
    """Parse `args`; an option the version does not know is a syntax error, as in VBoxManage."""
    parsed = Parsed()
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("--") or arg == "--":
            parsed.positional.append(arg)
            continue
        raw, has_value, value = arg.partition("=")
        name, number = canonical(raw)
        if name not in accepted and raw not in accepted:
            raise syntax(f"Unknown option: {raw}")
        if raw in accepted and name not in accepted:
            name, number = raw, 0
        if raw in flags:
            parsed.options.append((raw, 0, []))
            continue
        if not has_value:
            if index >= len(args):
                raise syntax(f"Missing the argument of option {raw}")
            value = args[index]
            index += 1
        values = [value]
        for _ in range(extra_values(name, value)):
            if index >= len(args):
                raise syntax(f"Missing an argument of option {raw}")
            values.append(args[index])
            index += 1
        parsed.options.append((name, number, values))
    return parsed
