"""Debian's preseed file (debian-installer): one `owner question type value` line per answer."""

from __future__ import annotations

from desktopvm.media.unattended.answers import AnswerError, Answers
from desktopvm.media.unattended.crypt import sha512_crypt

# Backends that start Debian's installer with the preseed in its initrd (initrd.py), and
# the others' own unattended installs that DesktopVM does not drive yet.
BOOTS_INSTALLER = ("qemu",)
NOT_WIRED = {"virtualbox": " (VirtualBox's own unattended install, VBoxManage unattended, "
                           "is not wired up in DesktopVM yet)"}
NAMES = {"virtualbox": "VirtualBox", "hyperv": "Hyper-V", "vmware": "VMware",
         "esxi": "ESXi"}


def how_found(backend_kind: str) -> str:
    """One sentence for the user: whether Debian's installer will read the answers there."""
    if backend_kind in BOOTS_INSTALLER:
        return ("DesktopVM starts the first boot with Debian's installer from the disc and "
                "the answers (preseed.cfg) in a copy of its initrd, deleted with the seed; "
                "later boots use the disk.")
    name = NAMES.get(backend_kind, backend_kind)
    return (f"Not automatic on {name}: Debian's installer reads a preseed only from its own "
            "disc, its initrd or a URL on its boot line, and DesktopVM changes neither there"
            f"{NOT_WIRED.get(backend_kind, '')}. The preseed.cfg is on the seed disc for "
            "you to point the installer at (e.g. boot with auto url=...).")


def _value(field: str, value: str) -> str:
    """A preseed value is the rest of its line: it cannot break it, and a backslash at the
    end would join the next line to it (debconf-set-selections' continuation)."""
    if "\n" in value or "\r" in value or value.endswith("\\") or value != value.strip():
        raise AnswerError(f"The {field} cannot start or end with spaces or end with a "
                          "backslash for Debian's installer.")
    return value


def preseed(answers: Answers, packages: tuple[str, ...], *, salt: str | None = None) -> str:
    """The preseed.cfg; the user's password as a $6$ hash, root locked (sudo for the user).

    The installer powers the machine off at the end, which is when DesktopVM takes the seed
    out (docs/install-media.md, "Unattended installs").
    """
    host = answers.host()
    rows = [
        ("debian-installer/locale", "string", answers.locale),
        ("keyboard-configuration/xkb-keymap", "select", answers.keyboard),
        ("netcfg/choose_interface", "select", "auto"),
        ("netcfg/get_hostname", "string", host),
        ("netcfg/hostname", "string", host),
        ("netcfg/get_domain", "string", ""),
        ("mirror/country", "string", "manual"),
        ("mirror/http/hostname", "string", "deb.debian.org"),
        ("mirror/http/directory", "string", "/debian"),
        ("mirror/http/proxy", "string", ""),
        ("passwd/root-login", "boolean", "false"),
        ("passwd/user-fullname", "string", _value("full name", answers.full_name)),
        ("passwd/username", "string", answers.user),
        ("passwd/user-password-crypted", "password", sha512_crypt(answers.password, salt)),
        ("clock-setup/utc", "boolean", "true"),
        ("time/zone", "string", answers.timezone),
        ("partman-auto/method", "string", "regular"),
        ("partman-auto/choose_recipe", "select", "atomic"),
        ("partman-partitioning/confirm_write_new_label", "boolean", "true"),
        ("partman/choose_partition", "select", "finish"),
        ("partman/confirm", "boolean", "true"),
        ("partman/confirm_nooverwrite", "boolean", "true"),
        ("apt-setup/cdrom/set-first", "boolean", "false"),
        ("pkgsel/include", "string", " ".join(("openssh-server", *packages))),
        ("pkgsel/upgrade", "select", "none"),
        ("popularity-contest/participate", "boolean", "false"),
        ("grub-installer/only_debian", "boolean", "true"),
        ("grub-installer/bootdev", "string", "default"),
        ("finish-install/reboot_in_progress", "note", ""),
        ("debian-installer/exit/poweroff", "boolean", "true"),
    ]
    lines = ["# Written by DesktopVM: Debian's installer reads this preseed."]
    lines += [f"d-i {question} {kind} {value}".rstrip() for question, kind, value in rows]
    lines.append("tasksel tasksel/first multiselect standard, ssh-server")
    return "\n".join(lines) + "\n"
