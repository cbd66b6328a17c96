"""What an unattended install is told (user, password, host name, …) and the checks on it.

The values are checked here, once, in words a user understands; the writers for each format
then only have to keep them data (escaping), never to judge them. The password and the product
key are not shown by repr(), so a logged or printed Answers does not reveal them.
"""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum

from desktopvm.model.catalog import OsEntry, OsFamily

LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
WINDOWS_USER_FORBIDDEN = set('"/\\[]:;|=,+*?<>@')
HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
TIME_ZONE = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,2}$")
LOCALE = re.compile(r"^[a-z]{2,3}_[A-Z]{2}(?:\.UTF-8)?$")
KEYBOARD = re.compile(r"^[a-z]{2,8}(?:-[a-z0-9]{1,16})?$")
PRODUCT_KEY = re.compile(r"^[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}$")
SSH_KEY = re.compile(r"^(?:ssh|ecdsa|sk)-[A-Za-z0-9@._+-]+ [A-Za-z0-9+/=]+(?: [^\r\n]*)?$")
PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_:-]{0,127}$")


class Kind(StrEnum):
    """The answer-file format an installer family reads."""

    WINDOWS = "windows"  # autounattend.xml
    UBUNTU = "ubuntu"  # autoinstall through a NoCloud (cidata) seed
    DEBIAN = "debian"  # preseed
    KICKSTART = "kickstart"  # Fedora, RHEL, AlmaLinux, Rocky, CentOS Stream


_LINUX_PREFIXES = (("ubuntu", Kind.UBUNTU), ("debian", Kind.DEBIAN), ("fedora", Kind.KICKSTART),
                   ("rhel", Kind.KICKSTART), ("almalinux", Kind.KICKSTART),
                   ("rocky", Kind.KICKSTART), ("centos-stream", Kind.KICKSTART))


def kind_for(entry: OsEntry) -> Kind | None:
    """The answer-file format for a catalog entry; None when we have none for it."""
    if entry.family is OsFamily.WINDOWS:
        return Kind.WINDOWS
    for prefix, kind in _LINUX_PREFIXES:
        if entry.id.startswith(prefix):
            return kind
    return None


class AnswerError(ValueError):
    """An answer an installer cannot take; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Answers:
    """The user's answers. Empty host name: one made from the user name."""

    user: str
    password: str = dataclasses.field(repr=False)
    full_name: str = ""
    hostname: str = ""
    timezone: str = "Etc/UTC"
    locale: str = "en_US.UTF-8"
    keyboard: str = "us"
    product_key: str = dataclasses.field(default="", repr=False)
    guest_tools: bool = True  # the hypervisor's guest agent / VirtIO drivers where known
    ssh_keys: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()

    def host(self) -> str:
        """The host name to give the machine."""
        if self.hostname:
            return self.hostname
        made = re.sub(r"[^A-Za-z0-9-]", "-", self.user).strip("-")[:12].strip("-")
        return f"vm-{made}" if made.isdigit() else made or "desktopvm"


def _no_control(field: str, value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 or c in "\x85\u2028\u2029" for c in value):
        raise AnswerError(f"The {field} cannot hold line breaks or control characters.")


def _check_user(answers: Answers, kind: Kind | None) -> None:
    if kind is Kind.WINDOWS:
        if not answers.user or len(answers.user) > 20 or set(answers.user) & \
                WINDOWS_USER_FORBIDDEN or not answers.user.strip(". "):
            raise AnswerError('A Windows user name is 1-20 characters, not only dots or spaces, '
                              'and none of " / \\ [ ] : ; | = , + * ? < > @.')
        _no_control("user name", answers.user)
        if answers.product_key and not PRODUCT_KEY.match(answers.product_key):
            raise AnswerError("A product key is five groups of five letters or digits, "
                              "like XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.")
    elif not LINUX_USER.match(answers.user):
        raise AnswerError("A Linux user name starts with a lower-case letter or _, then up to "
                          "31 lower-case letters, digits, _ or -.")
    elif ":" in answers.full_name:
        raise AnswerError("A Linux user's full name cannot hold a colon.")


def check(answers: Answers, kind: Kind | None) -> None:
    """Raise AnswerError for the first answer `kind`'s installer cannot take."""
    _check_user(answers, kind)
    if not answers.password:
        raise AnswerError("The password is empty.")
    _no_control("password", answers.password)
    if "\ufffe" in answers.password or "\uffff" in answers.password:
        raise AnswerError("The password holds a character that is not text (U+FFFE/U+FFFF).")
    _no_control("full name", answers.full_name)
    host = answers.host()
    if not HOST_NAME.match(host) or (kind is Kind.WINDOWS and len(host) > 15) or host.isdigit():
        raise AnswerError(f"The host name {host!r} must be letters, digits and - (not at the "
                          "ends, not all digits)" + (", at most 15 for Windows." if kind is
                                                       Kind.WINDOWS else ", at most 63."))
    if not TIME_ZONE.match(answers.timezone):
        raise AnswerError(f"{answers.timezone!r} is not a time zone name like Europe/Berlin.")
    if not LOCALE.match(answers.locale):
        raise AnswerError(f"{answers.locale!r} is not a locale like en_US.UTF-8.")
    if not KEYBOARD.match(answers.keyboard):
        raise AnswerError(f"{answers.keyboard!r} is not a keyboard layout like us or de.")
    for key in answers.ssh_keys:
        if not SSH_KEY.match(key.strip()):
            raise AnswerError("An SSH key must be one public key line (ssh-ed25519 AAAA… name).")
    for package in answers.packages:
        if not PACKAGE.match(package):
            raise AnswerError(f"{package!r} is not a package name.")
