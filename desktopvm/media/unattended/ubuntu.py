"""Ubuntu's autoinstall (Subiquity, 20.04 and later): user-data and meta-data on a cidata seed."""

from __future__ import annotations

from desktopvm.media.unattended.answers import Answers
from desktopvm.media.unattended.crypt import sha512_crypt
from desktopvm.media.unattended.yamltext import flow_list, quoted


def user_data(answers: Answers, packages: tuple[str, ...], *, salt: str | None = None) -> str:
    """The `#cloud-config` with an `autoinstall:` section; the password as a $6$ hash.

    `shutdown: poweroff` ends the install with the machine off, which is when DesktopVM
    takes the seed out (docs/install-media.md, "Unattended installs").
    """
    lines = [
        "#cloud-config",
        "autoinstall:",
        "  version: 1",
        f"  locale: {quoted(answers.locale)}",
        "  keyboard:",
        f"    layout: {quoted(answers.keyboard)}",
        f"  timezone: {quoted(answers.timezone)}",
        "  identity:",
        f"    hostname: {quoted(answers.host())}",
        f"    username: {quoted(answers.user)}",
        f"    realname: {quoted(answers.full_name)}",
        f"    password: {quoted(sha512_crypt(answers.password, salt))}",
        "  ssh:",
        "    install-server: true",
        "    allow-pw: true",
        f"    authorized-keys: {flow_list([k.strip() for k in answers.ssh_keys])}",
        f"  packages: {flow_list(packages)}",
        "  shutdown: poweroff",
    ]
    return "\n".join(lines) + "\n"


def meta_data(instance_id: str, hostname: str) -> str:
    """NoCloud's meta-data: an instance id (a new one means "first boot" to cloud-init)."""
    return f"instance-id: {quoted(instance_id)}\nlocal-hostname: {quoted(hostname)}\n"
