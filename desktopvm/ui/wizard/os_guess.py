"""Guess the guest OS from an installer ISO's file name ('ubuntu-24.04.1-desktop-amd64.iso')."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePath

from desktopvm.model import catalog

# Each rule turns a lower-case file name into a catalog id, or None. The first rule whose
# id is in the catalog wins; versioned rules come before their family's catch-all.
Rule = Callable[[str], str | None]


def _pattern(regex: str, template: str) -> Rule:
    compiled = re.compile(regex)

    def rule(name: str) -> str | None:
        match = compiled.search(name)
        return template.format(*match.groups()) if match else None

    return rule


RULES: tuple[Rule, ...] = (
    _pattern(r"win(?:dows)?[ _.-]?11", "windows11"),
    _pattern(r"win(?:dows)?[ _.-]?10", "windows10"),
    _pattern(r"win(?:dows)?[ _.-]?8\.?1", "windows8.1"),
    _pattern(r"win(?:dows)?[ _.-]?7", "windows7"),
    _pattern(r"server[ _.-]?(20\d\d)", "windows-server-{}"),
    _pattern(r"ubuntu[^0-9]*(\d\d\.\d\d)", "ubuntu{}"),
    _pattern(r"debian[^0-9]*(\d+)", "debian{}"),
    _pattern(r"fedora", "fedora"),
    _pattern(r"almalinux[^0-9]*(\d+)", "almalinux{}"),
    _pattern(r"rocky[^0-9]*(\d+)", "rocky{}"),
    _pattern(r"centos[ _.-]?stream[^0-9]*(\d+)", "centos-stream{}"),
    _pattern(r"rhel[^0-9]*(\d+)", "rhel{}"),
    _pattern(r"opensuse.*leap", "opensuse-leap"),
    _pattern(r"opensuse.*tumbleweed", "opensuse-tumbleweed"),
    _pattern(r"archlinux", "arch"),
    _pattern(r"linuxmint", "linux-mint"),
    _pattern(r"alpine", "alpine"),
    _pattern(r"kali", "kali"),
    _pattern(r"nixos", "nixos"),
    _pattern(r"freebsd[^0-9]*(\d+)", "freebsd{}"),
    _pattern(r"openbsd", "openbsd"),
)


def guess_os(iso_path: str) -> str | None:
    """The catalog id an ISO's file name suggests, or None when it says nothing we know."""
    name = PurePath(iso_path).name.lower()
    if not name:
        return None
    known = catalog()
    for rule in RULES:
        os_id = rule(name)
        if os_id is not None and os_id in known:
            return os_id
    return None
