"""Kickstart (Anaconda: Fedora, RHEL, AlmaLinux, Rocky, CentOS Stream), read from an OEMDRV disc."""

from __future__ import annotations

import shlex

from desktopvm.media.unattended.answers import Answers
from desktopvm.media.unattended.crypt import sha512_crypt


def _q(value: str) -> str:
    """pykickstart splits each line with shlex (comments on): shlex-quoted text stays one
    argument and a `#` inside it is no comment."""
    return shlex.quote(value)


def kickstart(answers: Answers, packages: tuple[str, ...], *, salt: str | None = None) -> str:
    """The ks.cfg: text install, whole first disk, the user in wheel, root locked, power off
    at the end (which is when DesktopVM takes the seed out)."""
    lines = [
        "# Written by DesktopVM: Anaconda reads ks.cfg from the disc labelled OEMDRV.",
        "text",
        f"lang {_q(answers.locale)}",
        f"keyboard --vckeymap={_q(answers.keyboard)} --xlayouts={_q(answers.keyboard)}",
        f"timezone {_q(answers.timezone)} --utc",
        f"network --bootproto=dhcp --activate --hostname={_q(answers.host())}",
        "rootpw --lock",
        f"user --name={_q(answers.user)} --gecos={_q(answers.full_name)} --groups=wheel "
        f"--iscrypted --password={_q(sha512_crypt(answers.password, salt))}",
        *(f"sshkey --username={_q(answers.user)} {_q(key.strip())}" for key in answers.ssh_keys),
        "zerombr",
        "clearpart --all --initlabel",
        "autopart",
        "bootloader",
        "firstboot --disable",
        "poweroff",
        "",
        "%packages",
        "@^minimal-environment",
        *packages,
        "%end",
    ]
    return "\n".join(lines) + "\n"
