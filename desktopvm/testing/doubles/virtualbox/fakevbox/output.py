"""What the double prints: showvminfo/snapshot list --machinereadable, lists, per version.

The layout follows VBoxManageInfo.cpp (VirtualBox/virtualbox @ 44a0f07 for 7.1/7.2, the
7.0 copy in the same index for 7.0) and the real captures in ../shared/fixtures: 7.0 prints a
raw `Encryption:     disabled` line and `BIOS NVRAM File=`; 7.1+ prints `encryption=`,
`platformArchitecture=`, `NvramFile=` and `SecureBoot=`; 6.1 prints none of these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.virtualbox.fakevbox.state import Vm, series

OS_DESCRIPTIONS = {
    "Other": "Other/Unknown", "Other_64": "Other/Unknown (64-bit)",
    "Linux26_64": "Linux 2.6 / 3.x / 4.x / 5.x (64-bit)", "Ubuntu_64": "Ubuntu (64-bit)",
    "Ubuntu20_LTS_64": "Ubuntu 20.04 LTS (Focal Fossa) (64-bit)",
    "Ubuntu22_LTS_64": "Ubuntu 22.04 LTS (Jammy Jellyfish) (64-bit)",
    "Ubuntu24_LTS_64": "Ubuntu 24.04 LTS (Noble Numbat) (64-bit)",
    "Debian_64": "Debian (64-bit)", "Debian11_64": "Debian 11 Bullseye (64-bit)",
    "Debian12_64": "Debian 12 Bookworm (64-bit)", "Fedora_64": "Fedora (64-bit)",
    "RedHat_64": "Red Hat (64-bit)", "RedHat8_64": "Red Hat 8.x (64-bit)",
    "RedHat9_64": "Red Hat 9.x (64-bit)", "ArchLinux_64": "Arch Linux (64-bit)",
    "OpenSUSE_64": "openSUSE (64-bit)", "OpenSUSE_Leap_64": "openSUSE Leap (64-bit)",
    "OpenSUSE_Tumbleweed_64": "openSUSE Tumbleweed (64-bit)",
    "FreeBSD_64": "FreeBSD (64-bit)", "OpenBSD_64": "OpenBSD (64-bit)",
    "Windows7_64": "Windows 7 (64-bit)", "Windows81_64": "Windows 8.1 (64-bit)",
    "Windows10_64": "Windows 10 (64-bit)", "Windows11_64": "Windows 11 (64-bit)",
    "Windows2019_64": "Windows 2019 (64-bit)", "Windows2022_64": "Windows 2022 (64-bit)",
    "Windows2025_64": "Windows Server 2025 (64-bit)",
}
# Types that appeared after 6.1 (the OS catalog's fallbacks exist for these).
NEWER_THAN_61 = {"Ubuntu22_LTS_64", "Ubuntu24_LTS_64", "Debian12_64", "Debian11_64",
                 "RedHat8_64", "RedHat9_64", "OpenSUSE_Leap_64", "OpenSUSE_Tumbleweed_64",
                 "Windows11_64", "Windows2022_64", "Windows2025_64", "Ubuntu20_LTS_64"}
REAL_72_OSTYPES = (Path(__file__).resolve().parents[5]
                   / "tests/data/virtualbox/7.2/list_ostypes.txt")
STATE_NAMES = {"poweroff", "running", "paused", "saved", "aborted"}


def escape(value: str) -> str:
    """outputMachineReadableString's escaping (6.1+): backslash before `"` and `\\`."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def pair(key: str, value: str, *, quote_key: bool = False) -> str:
    """`key="value"` as VBoxManage prints it."""
    shown = f'"{escape(key)}"' if quote_key or "=" in key else key
    return f'{shown}="{escape(value)}"'


def ostypes(state: dict[str, Any]) -> str:
    """`list ostypes` (7.0 layout: ID, Description, Family ID, Family Desc, 64 bit); 7.2
    prints the real 7.2.22 list (its own layout: `ID / Description: X -- Y`)."""
    if series(state) >= (7, 2):
        text = REAL_72_OSTYPES.read_text(encoding="utf-8")
        return text[text.index("Supported guest OS types:"):]
    blocks = []
    for type_id, description in OS_DESCRIPTIONS.items():
        if series(state) < (7, 0) and type_id in NEWER_THAN_61:
            continue
        family = "Windows" if type_id.startswith("Windows") else "Linux"
        blocks.append(f"ID:          {type_id}\nDescription: {description}\n"
                      f"Family ID:   {family}\nFamily Desc: {family}\n"
                      f"64 bit:      {'true' if type_id.endswith('_64') else 'false'}\n")
    return "\n".join(blocks)


def vm_list(vms: list[Vm]) -> str:
    """`list vms` / `list runningvms`."""
    return "".join(f'"{vm["name"]}" {{{vm["uuid"]}}}\n' for vm in vms)


def snapshot_lines(vm: Vm) -> list[str]:
    """SnapshotName-1-2=... with raw (unescaped) names and descriptions, as VirtualBox does."""
    lines: list[str] = []

    def walk(parent: str, suffix: str) -> None:
        children = [s for s in vm["snapshots"] if s["parent"] == parent]
        for index, snap in enumerate(children, start=1):
            path = suffix if not parent else f"{suffix}-{index}"
            lines.append(f'SnapshotName{path}="{snap["name"]}"')
            lines.append(f'SnapshotUUID{path}="{snap["uuid"]}"')
            if snap["description"]:
                lines.append(f'SnapshotDescription{path}="{snap["description"]}"')
            if snap["uuid"] == vm["current"]:
                lines.extend([f'CurrentSnapshotName="{snap["name"]}"',
                              f'CurrentSnapshotUUID="{snap["uuid"]}"',
                              f'CurrentSnapshotNode="SnapshotName{path}"'])
            walk(snap["uuid"], path)

    walk("", "")
    return lines


def _firmware_lines(vm: Vm, version: tuple[int, int]) -> list[str]:
    lines = ['acpi="on"', 'ioapic="on"', 'biosapic="apic"', "biossystemtimeoffset=0"]
    efi = vm["firmware"] != "BIOS"
    nvram = vm["cfg"][:-len(".vbox")] + ".nvram"
    if version >= (7, 1) and efi:
        lines += [pair("NvramFile", nvram), pair("SecureBoot", "on" if vm["secureboot"] else "off")]
    elif version == (7, 0) and efi:
        lines.append(f'BIOS NVRAM File="{escape(nvram)}"')
    return lines


def _storage_lines(vm: Vm) -> list[str]:
    lines = []
    for index, ctl in enumerate(vm["controllers"]):
        lines += [pair(f"storagecontrollername{index}", ctl["name"]),
                  pair(f"storagecontrollertype{index}", ctl["type"]),
                  f'storagecontrollerinstance{index}="0"',
                  f'storagecontrollermaxportcount{index}="{ctl["maxports"]}"',
                  f'storagecontrollerportcount{index}="{ctl["portcount"]}"',
                  f'storagecontrollerbootable{index}="on"']
    for ctl in vm["controllers"]:
        devices = 2 if ctl["bus"] == "ide" else 1
        for port in range(ctl["portcount"]):
            for device in range(devices):
                slot = ctl["attachments"].get(f"{port}-{device}")
                key = f"{ctl['name']}-{port}-{device}"
                if slot is None:
                    lines.append(pair(key, "none", quote_key=True))
                    continue
                lines.append(pair(key, slot["medium"] or "emptydrive", quote_key=True))
                if slot["medium"]:
                    lines.append(pair(f"{ctl['name']}-ImageUUID-{port}-{device}", slot["uuid"],
                                      quote_key=True))
                if slot["type"] == "dvddrive":
                    lines.append(pair(f"{ctl['name']}-IsEjected-{port}-{device}", "off",
                                      quote_key=True))
    return lines


def _nic_lines(vm: Vm, version: tuple[int, int] = (7, 0)) -> list[str]:
    lines = []
    for number in range(1, 9):
        nic = vm["nics"].get(str(number))
        if nic is None or nic["type"] == "none":
            lines.append(f'nic{number}="none"')
            continue
        kind = nic["type"]
        if kind == "nat":
            lines.append(f'natnet{number}="nat"')
        key = {"bridged": "bridgeadapter", "intnet": "intnet", "hostonly": "hostonlyadapter",
               "natnetwork": "nat-network", "hostonlynet": "hostonly-network"}.get(kind)
        if key:
            lines.append(pair(f"{key}{number}", nic["net"]))
        shown = {"hostonlynet": "hostonlynetwork", "null": "null"}.get(kind, kind)
        lines += [f'macaddress{number}="{nic["mac"]}"',
                  f'cableconnected{number}="{"on" if nic["cable"] else "off"}"',
                  f'nic{number}="{shown}"', f'nictype{number}="{nic["nictype"]}"',
                  f'nicspeed{number}="0"']
        if kind == "nat":
            lines += ['mtu="0"', 'sockSnd="64"', 'sockRcv="64"', 'tcpWndSnd="64"',
                      'tcpWndRcv="64"']
            if version >= (7, 2):
                lines += ['localhostReachable="0"', 'forwardBroadcast="0"', 'enableTFTP="0"']
            lines += [f'Forwarding({i})="{rule}"' for i, rule in enumerate(nic["forwards"])]
    return lines


def _uart_lines(vm: Vm, version: tuple[int, int]) -> list[str]:
    lines = []
    for number in range(1, 5):
        uart = vm["uarts"].get(str(number))
        if uart is None:
            lines.append(f'uart{number}="off"')
            continue
        io = f"0x{int(uart['io'], 16):04x}" if version >= (7, 2) else uart["io"].lower()
        lines += [f'uart{number}="{io},{uart["irq"]}"',
                  f'uartmode{number}="{uart["mode"]}"', f'uarttype{number}="16550A"']
    return lines


def real_72_descriptions() -> dict[str, str]:
    """Type id -> description from the real 7.2 `list ostypes` capture."""
    pairs = {}
    for line in REAL_72_OSTYPES.read_text(encoding="utf-8").splitlines():
        if line.startswith("ID / Description:"):
            type_id, _, description = line.partition(":")[2].strip().partition(" -- ")
            pairs[type_id] = description
    return pairs


def showvminfo_72(vm: Vm) -> str:
    """7.2's layout, key for key as the real 7.2.22 prints it (tests/data/virtualbox/7.2:
    showvminfo_ubuntu_made_by_virtualbox.txt, showvminfo_ubuntu_configured.txt,
    showvminfo_win11_efi_secureboot_tpm.txt)."""
    efi = vm["firmware"] != "BIOS"
    lines = [pair("name", vm["name"]), 'encryption="disabled"', 'groups="/"',
             'platformArchitecture="x86"',
             pair("ostype", real_72_descriptions().get(vm["ostype"]) or str(vm["ostype"])),
             f'UUID="{vm["uuid"]}"', pair("CfgFile", vm["cfg"]),
             pair("SnapFldr", vm["folder"] + "/Snapshots"),
             pair("LogFldr", vm["folder"] + "/Logs"),
             f'hardwareuuid="{vm["uuid"]}"', f'memory={vm["memory"]}', 'pagefusion="off"',
             f'vram={vm["vram"]}', "cpuexecutioncap=100", 'cpu-profile="host"',
             'chipset="piix3"', f'firmware="{vm["firmware"]}"', f'cpus={vm["cpus"]}',
             'hpet="off"', 'pae="off"', 'longmode="on"', 'triplefaultreset="off"', 'apic="on"',
             'x2apic="on"', f'nested-hw-virt="{"on" if vm["nested"] else "off"}"',
             'hwvirtex="on"', 'nestedpaging="on"', 'largepages="off"', 'vtxvpid="on"',
             'vtxux="on"', 'virtvmsavevmload="on"', "cpuid-portability-level=0",
             'bootmenu="messageandmenu"']
    lines += [f'boot{i}="{dev}"' for i, dev in enumerate(vm["boot"], start=1)]
    lines += ['acpi="on"', 'ioapic="on"', 'biosapic="apic"', "biossystemtimeoffset=0",
              pair("NvramFile", vm["cfg"][:-len(".vbox")] + ".nvram")]
    if efi:
        lines.append(pair("SecureBoot", "on" if vm["secureboot"] else "off"))
    lines += ['rtcuseutc="on"', 'iommu="none"', 'paravirtprovider="default"',
              'effparavirtprovider="kvm"', f'VMState="{vm["state"]}"',
              f'VMStateChangeTime="{vm["state_time"]}"']
    if vm["state"] == "saved":
        lines.append(pair("VMStateFile", vm["folder"] + "/Snapshots/saved.sav"))
    lines += [f'graphicscontroller="{vm["graphics"]}"', f'monitorcount={vm["monitors"]}',
              'accelerate3d="off"', 'teleporterenabled="off"', "teleporterport=0",
              'teleporteraddress=""', 'teleporterpassword=""', 'tracing-enabled="off"',
              'tracing-allow-vm-access="off"', 'tracing-config=""', 'autostart-enabled="off"',
              "autostart-delay=0", 'defaultfrontend=""', 'vmprocpriority="default"']
    lines += _storage_lines(vm)
    lines += _nic_lines(vm, (7, 2))
    lines += [f'hidpointing="{vm["mouse"]}"', 'hidkeyboard="ps2kbd"']
    lines += _uart_lines(vm, (7, 2))
    lines += ['lpt1="off"', 'lpt2="off"', 'audio="default"', 'audio_out="off"',
              'audio_in="off"', 'clipboard="disabled"', 'clipboard_file_transfers="off"',
              'draganddrop="disabled"']
    if vm["state"] in ("running", "paused"):
        lines += ['SessionName="headless"', 'VideoMode="720,400,0"@0,0 1']
    lines += ['vrde="off"', f'usb="{"on" if vm["usb"]["ohci"] else "off"}"',
              f'ehci="{"on" if vm["usb"]["ehci"] else "off"}"',
              f'xhci="{"on" if vm["usb"]["xhci"] else "off"}"',
              'recording_started="off"', 'recording_enabled="off"',
              f"recording_screens={vm['monitors']}"]
    for screen in range(vm["monitors"]):
        lines += [f" rec_screen{screen}", f'rec_screen_enabled="{"on" if screen == 0 else "off"}"',
                  f"rec_screen_id={screen}", 'rec_screen_video_enabled="on"',
                  'rec_screen_audio_enabled="off"', 'rec_screen_dest="File"',
                  pair("rec_screen_dest_filename", f"{vm['folder']}/{vm['name']}-screen{screen}"
                       ".webm"), 'rec_screen_opts="ac_profile=med"',
                  'rec_screen_video_res_xy="1024x768"', "rec_screen_video_rate_kbps=512",
                  "rec_screen_video_fps=25"]
    if vm["description"]:
        lines.append(pair("description", vm["description"]))
    lines += snapshot_lines(vm)
    lines.append("GuestMemoryBalloon=0")
    return "\n".join(lines) + "\n"


def showvminfo(vm: Vm, state: dict[str, Any]) -> str:
    """`showvminfo --machinereadable` of `vm`."""
    version = series(state)
    if version >= (7, 2):
        return showvminfo_72(vm)
    lines = [pair("name", vm["name"])]
    if version == (7, 0):
        lines.append("Encryption:     disabled")
    elif version >= (7, 1):
        lines.append('encryption="disabled"')
    lines.append('groups="/"')
    if version >= (7, 1):
        lines.append('platformArchitecture="x86"')
    lines += [pair("ostype", str(OS_DESCRIPTIONS.get(vm["ostype"], vm["ostype"]))),
              f'UUID="{vm["uuid"]}"', pair("CfgFile", vm["cfg"]),
              pair("SnapFldr", vm["folder"] + "/Snapshots"),
              pair("LogFldr", vm["folder"] + "/Logs"),
              f'hardwareuuid="{vm["uuid"]}"', f'memory={vm["memory"]}', 'pagefusion="off"',
              f'vram={vm["vram"]}', "cpuexecutioncap=100", 'hpet="off"', 'chipset="piix3"',
              f'firmware="{vm["firmware"]}"', f'cpus={vm["cpus"]}', 'pae="on"', 'longmode="on"',
              'triplefaultreset="off"', 'apic="on"', 'x2apic="on"',
              f'nested-hw-virt="{"on" if vm["nested"] else "off"}"',
              "cpuid-portability-level=0", 'bootmenu="messageandmenu"']
    lines += [f'boot{i}="{dev}"' for i, dev in enumerate(vm["boot"], start=1)]
    lines += _firmware_lines(vm, version)
    lines += ['rtcuseutc="on"', 'hwvirtex="on"', 'nestedpaging="on"', 'largepages="on"',
              'vtxvpid="on"', 'vtxux="on"', 'paravirtprovider="default"',
              'effparavirtprovider="kvm"', f'VMState="{vm["state"]}"',
              f'VMStateChangeTime="{vm["state_time"]}"']
    if vm["state"] == "saved":
        lines.append(pair("VMStateFile", vm["folder"] + "/Snapshots/saved.sav"))
    lines += [f'graphicscontroller="{vm["graphics"]}"', f'monitorcount={vm["monitors"]}',
              'accelerate3d="off"', 'teleporterenabled="off"', "teleporterport=0",
              'defaultfrontend=""', 'vmprocpriority="default"']
    lines += _storage_lines(vm)
    lines += _nic_lines(vm)
    lines += [f'hidpointing="{vm["mouse"]}"', 'hidkeyboard="ps2kbd"']
    lines += _uart_lines(vm, version)
    lines += ['lpt1="off"', 'lpt2="off"', 'audio="none"', 'audio_out="off"', 'audio_in="off"',
              'clipboard="disabled"', 'draganddrop="disabled"']
    if vm["state"] in ("running", "paused"):
        lines += ['SessionName="headless"', 'VideoMode="720,400,0"@0,0 1']
    lines += ['vrde="off"', f'usb="{"on" if vm["usb"]["ohci"] else "off"}"',
              f'ehci="{"on" if vm["usb"]["ehci"] else "off"}"',
              f'xhci="{"on" if vm["usb"]["xhci"] else "off"}"']
    if version >= (7, 0):
        lines += ['recording_enabled="off"', "recording_screens=1", " rec_screen0",
                  'rec_screen_enabled="on"']
    if vm["description"]:
        lines.append(pair("description", vm["description"]))
    lines += snapshot_lines(vm)
    lines.append("GuestMemoryBalloon=0")
    return "\n".join(lines) + "\n"
