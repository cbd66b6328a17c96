"""A NoCloud user-data for cloud images: the user, SSH keys, host name and packages."""

from __future__ import annotations

from desktopvm.media.unattended.answers import Answers
from desktopvm.media.unattended.crypt import sha512_crypt
from desktopvm.media.unattended.yamltext import flow_list, quoted


def user_data(answers: Answers, *, salt: str | None = None) -> str:
    """`#cloud-config` for a cloud image's first boot. A password (optional here: the SSH key
    may be the only way in) is stored as a $6$ hash; without one the account is locked for
    password logins."""
    lines = [
        "#cloud-config",
        f"hostname: {quoted(answers.host())}",
        "users:",
        f"  - name: {quoted(answers.user)}",
        f"    gecos: {quoted(answers.full_name)}",
        '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
        '    shell: "/bin/bash"',
    ]
    if answers.password:
        lines += ["    lock_passwd: false",
                  f"    passwd: {quoted(sha512_crypt(answers.password, salt))}"]
    else:
        lines.append("    lock_passwd: true")
    lines.append(f"    ssh_authorized_keys: {flow_list([k.strip() for k in answers.ssh_keys])}")
    lines.append(f"timezone: {quoted(answers.timezone)}")
    lines.append(f"locale: {quoted(answers.locale)}")
    if answers.packages:
        lines += ["package_update: true", f"packages: {flow_list(answers.packages)}"]
    return "\n".join(lines) + "\n"
