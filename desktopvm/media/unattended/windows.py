"""Windows Setup's autounattend.xml: the windowsPE, specialize and oobeSystem passes.

Windows Setup reads `autounattend.xml` from the root of any removable drive. The account's
password is in the file as Windows' answer files carry it: base64 of the UTF-16LE text of
password + "Password" with PlainText false — an obfuscation Windows requires, not
encryption. The seed disc holding it is removed after the first boot (docs/install-media.md).
"""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

from desktopvm.media.unattended.answers import AnswerError, Answers

ARCH = "amd64"
_COMPONENT = ('<component name="{name}" processorArchitecture="amd64" '
              'publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">')
# Microsoft's published generic keys choose the edition to install (Pro); they do not activate.
GENERIC_PRO_KEY = "VK7JG-NPHTM-C97JM-9MPGT-3V66T"
# IANA time zones to Windows' names (the common ones; a Windows name is taken as it is).
WINDOWS_ZONES = {
    "Etc/UTC": "UTC", "UTC": "UTC", "Europe/London": "GMT Standard Time",
    "Europe/Berlin": "W. Europe Standard Time", "Europe/Paris": "Romance Standard Time",
    "Europe/Madrid": "Romance Standard Time", "Europe/Rome": "W. Europe Standard Time",
    "Europe/Amsterdam": "W. Europe Standard Time", "Europe/Zurich": "W. Europe Standard Time",
    "Europe/Vienna": "W. Europe Standard Time", "Europe/Stockholm": "W. Europe Standard Time",
    "Europe/Warsaw": "Central European Standard Time", "Europe/Helsinki": "FLE Standard Time",
    "Europe/Moscow": "Russian Standard Time", "America/New_York": "Eastern Standard Time",
    "America/Chicago": "Central Standard Time", "America/Denver": "Mountain Standard Time",
    "America/Los_Angeles": "Pacific Standard Time", "America/Sao_Paulo":
    "E. South America Standard Time", "Asia/Tokyo": "Tokyo Standard Time",
    "Asia/Shanghai": "China Standard Time", "Asia/Kolkata": "India Standard Time",
    "Australia/Sydney": "AUS Eastern Standard Time",
}
_VIRTIO_DRIVERS = ("viostor", "vioscsi", "NetKVM")
# The virtio-win disc's folder per Windows release (viostor\<folder>\amd64).
VIRTIO_FOLDERS = {"windows11": "w11", "windows10": "w10", "windows8.1": "w8.1",
                  "windows7": "w7", "windows-server-2025": "2k25",
                  "windows-server-2022": "2k22", "windows-server-2019": "2k19"}


def windows_zone(zone: str) -> str:
    """Windows' name for a time zone."""
    if "/" not in zone:
        return zone.replace("_", " ")  # "W._Europe_Standard_Time" from a shell is fine too
    try:
        return WINDOWS_ZONES[zone]
    except KeyError:
        raise AnswerError(f"DesktopVM does not know Windows' name for {zone}; give it as "
                          "Windows writes it (e.g. W._Europe_Standard_Time).") from None


def encoded_password(password: str, suffix: str = "Password") -> str:
    """The Value Windows Setup reads with PlainText false."""
    return base64.b64encode((password + suffix).encode("utf-16-le")).decode("ascii")


def _t(value: str) -> str:
    return escape(value)


def _disks(uefi: bool) -> tuple[list[str], int]:
    """Wipe disk 0: GPT with EFI, MSR and Windows (UEFI), or MBR with a system partition."""
    if uefi:
        parts = [("1", "EFI", "100"), ("2", "MSR", "16"), ("3", "Primary", "")]
        formats = [("1", "1", "FAT32", "System"), ("3", "3", "NTFS", "Windows")]
        windows = 3
    else:
        parts = [("1", "Primary", "100"), ("2", "Primary", "")]
        formats = [("1", "1", "NTFS", "System"), ("2", "2", "NTFS", "Windows")]
        windows = 2
    out = ["<DiskConfiguration><Disk wcm:action=\"add\"><DiskID>0</DiskID>"
           "<WillWipeDisk>true</WillWipeDisk><CreatePartitions>"]
    for order, kind, size in parts:
        size_xml = f"<Size>{size}</Size>" if size else "<Extend>true</Extend>"
        out.append(f'<CreatePartition wcm:action="add"><Order>{order}</Order>'
                   f"<Type>{kind}</Type>{size_xml}</CreatePartition>")
    out.append("</CreatePartitions><ModifyPartitions>")
    for order, pid, fmt, label in formats:
        active = "<Active>true</Active>" if not uefi and pid == "1" else ""
        out.append(f'<ModifyPartition wcm:action="add"><Order>{order}</Order>'
                   f"<PartitionID>{pid}</PartitionID><Format>{fmt}</Format>"
                   f"<Label>{label}</Label>{active}</ModifyPartition>")
    out.append("</ModifyPartitions></Disk></DiskConfiguration>")
    return out, windows


def _driver_paths(folder: str) -> list[str]:
    """The virtio-win disc's drivers, wherever it is mounted (D: to F:); paths that are not
    there are skipped by Setup."""
    out = ["<DriverPaths>"]
    key = 1
    for letter in "DEF":
        for driver in _VIRTIO_DRIVERS:
            out.append(f'<PathAndCredentials wcm:action="add" wcm:keyValue="{key}">'
                       f"<Path>{letter}:\\{driver}\\{folder}\\amd64</Path></PathAndCredentials>")
            key += 1
    out.append("</DriverPaths>")
    return out


def autounattend(answers: Answers, *, uefi: bool, server: bool = False,
                 virtio_folder: str = "") -> str:
    """The whole autounattend.xml; `virtio_folder` (e.g. "w11") adds the virtio-win disc's
    drivers for that release."""
    zone = _t(windows_zone(answers.timezone))
    lang = answers.locale.split(".")[0].replace("_", "-")
    intl = (f"<InputLocale>{_t(lang)}</InputLocale><SystemLocale>{_t(lang)}</SystemLocale>"
            f"<UILanguage>{_t(lang)}</UILanguage><UserLocale>{_t(lang)}</UserLocale>")
    key = answers.product_key or ("" if server else GENERIC_PRO_KEY)
    disks, windows_partition = _disks(uefi)
    pe = [_COMPONENT.format(name="Microsoft-Windows-International-Core-WinPE"),
          f"<SetupUILanguage><UILanguage>{_t(lang)}</UILanguage></SetupUILanguage>{intl}",
          "</component>", _COMPONENT.format(name="Microsoft-Windows-Setup"), *disks,
          "<ImageInstall><OSImage><InstallTo><DiskID>0</DiskID>"
          f"<PartitionID>{windows_partition}</PartitionID></InstallTo></OSImage></ImageInstall>",
          "<UserData><AcceptEula>true</AcceptEula>"
          + (f"<ProductKey><Key>{_t(key)}</Key><WillShowUI>OnError</WillShowUI></ProductKey>"
             if key else "") + "</UserData>", "</component>"]
    if virtio_folder:
        pe += [_COMPONENT.format(name="Microsoft-Windows-PnpCustomizationsWinPE"),
               *_driver_paths(virtio_folder), "</component>"]
    specialize = [_COMPONENT.format(name="Microsoft-Windows-Shell-Setup"),
                  f"<ComputerName>{_t(answers.host())}</ComputerName>"
                  f"<TimeZone>{zone}</TimeZone>", "</component>"]
    password = f"<Password><Value>{encoded_password(answers.password)}</Value>" \
               "<PlainText>false</PlainText></Password>"
    oobe = [_COMPONENT.format(name="Microsoft-Windows-International-Core"), intl, "</component>",
            _COMPONENT.format(name="Microsoft-Windows-Shell-Setup"),
            "<OOBE><HideEULAPage>true</HideEULAPage>"
            "<HideOnlineAccountScreens>true</HideOnlineAccountScreens>"
            "<HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>"
            "<ProtectYourPC>3</ProtectYourPC></OOBE>",
            "<UserAccounts><LocalAccounts><LocalAccount wcm:action=\"add\">"
            f"{password}<DisplayName>{_t(answers.full_name or answers.user)}</DisplayName>"
            f"<Group>Administrators</Group><Name>{_t(answers.user)}</Name>"
            "</LocalAccount></LocalAccounts></UserAccounts>",
            f"<TimeZone>{zone}</TimeZone>", "</component>"]
    body = ['<?xml version="1.0" encoding="utf-8"?>',
            '<unattend xmlns="urn:schemas-microsoft-com:unattend" '
            'xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">',
            '<settings pass="windowsPE">', *pe, "</settings>",
            '<settings pass="specialize">', *specialize, "</settings>",
            '<settings pass="oobeSystem">', *oobe, "</settings>", "</unattend>"]
    return "\n".join(body) + "\n"
