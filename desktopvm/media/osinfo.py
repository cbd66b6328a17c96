"""osinfo-db's media rules: read from the installed database, else the built-in table.

osinfo-db (the database virt-manager and GNOME Boxes use) lists, per OS release, regular
expressions an install disc's volume, publisher, application and system ids match. libosinfo
matches them as GLib regexes searched anywhere in the id (not anchored), case-sensitively,
against the ids with trailing blanks removed; a rule's absent id matches anything, a present
one never matches an empty id. `builtin_rules.json` is this module's `derive_table` run over
osinfo-db (plus the releases added by hand that the packaged db is too old to know), for
hosts without osinfo-db (Windows, macOS); tests/media/test_osinfo_table.py checks it against
the installed db, and `python -m desktopvm.media.osinfo --write` regenerates it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)
DB_DIRS = ("/usr/share/osinfo", "/usr/local/share/osinfo", "/etc/osinfo")
BUILTIN = Path(__file__).with_name("builtin_rules.json")
ID_FIELDS = ("volume_id", "publisher_id", "application_id", "system_id")
# The distros whose releases the built-in table keeps: those our OS catalog has entries for.
TABLE_DISTROS = ("win", "ubuntu", "debian", "fedora", "rhel", "almalinux", "rocky",
                 "centos-stream", "opensuse", "archlinux", "alpinelinux", "nixos", "freebsd",
                 "openbsd", "linuxmint", "kali")
TABLE_ARCHES = ("x86_64", "aarch64")


@dataclass(frozen=True)
class MediaRule:
    """One osinfo <media> entry: the OS it belongs to and the id patterns it demands."""

    short_id: str
    name: str = ""
    distro: str = ""
    family: str = ""
    version: str = ""
    arch: str = "all"
    volume_id: str = ""
    publisher_id: str = ""
    application_id: str = ""
    system_id: str = ""

    def matches(self, ids: dict[str, str]) -> bool:
        """libosinfo's test: every pattern the rule has is found in the disc's id."""
        for name in ID_FIELDS:
            pattern = getattr(self, name)
            if not pattern:
                continue
            value = ids.get(name, "").rstrip()
            if not value or _compiled(pattern).search(value) is None:
                return False
        return True

    def weight(self) -> int:
        """How much the rule pins down: more ids and longer literal text win ties."""
        return sum(len(re.sub(r"[\\.*+?()\[\]{}|^$]", "", getattr(self, name)))
                   for name in ID_FIELDS)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(glib_to_python(pattern))
    except re.error:
        return re.compile(r"(?!)")  # a pattern Python cannot read matches nothing


def glib_to_python(pattern: str) -> str:
    """PCRE (GLib) to Python `re`: the few spellings osinfo-db uses that differ."""
    return pattern.replace("[[:space:]]", r"\s").replace("[[:digit:]]", r"\d")


def db_dir() -> Path | None:
    """The installed osinfo-db's folder (OSINFO_SYSTEM_DIR first, as libosinfo does)."""
    candidates = [os.environ.get("OSINFO_SYSTEM_DIR", ""), *DB_DIRS]
    for candidate in candidates:
        if candidate and (Path(candidate) / "os").is_dir():
            return Path(candidate)
    return None


def read_db(directory: Path) -> list[MediaRule]:
    """Every media rule of every OS in an osinfo-db folder (files it cannot parse skipped)."""
    from defusedxml import ElementTree

    rules: list[MediaRule] = []
    for path in sorted((directory / "os").glob("*/*.xml")):
        try:
            root = ElementTree.parse(path).getroot()
        except Exception as error:  # one bad file must not hide the others
            log.warning("osinfo-db: %s unreadable: %s", path, error)
            continue
        for os_element in root.iter("os"):
            rules.extend(_os_rules(os_element))
    return rules


def _plain(element: object, tag: str) -> str:
    """The first child `tag` without an xml:lang (the untranslated one)."""
    for child in element.findall(tag):  # type: ignore[attr-defined]
        if not any(key.endswith("lang") for key in child.attrib):
            return (child.text or "").strip()
    return ""


def _os_rules(os_element: object) -> list[MediaRule]:
    short_id = _plain(os_element, "short-id")
    base = {"short_id": short_id, "name": _plain(os_element, "name"),
            "distro": _plain(os_element, "distro"), "family": _plain(os_element, "family"),
            "version": _plain(os_element, "version")}
    rules = []
    for media in os_element.findall("media"):  # type: ignore[attr-defined]
        iso_element = media.find("iso")
        if iso_element is None:
            continue
        ids = {name: (iso_element.findtext(name.replace("_", "-")) or "").strip()
               for name in ID_FIELDS}
        if not any(ids.values()):
            continue
        rules.append(MediaRule(arch=media.get("arch", "all"), **base, **ids))
    return rules


def load_builtin() -> list[MediaRule]:
    """The table shipped with DesktopVM."""
    data = json.loads(BUILTIN.read_text(encoding="utf-8"))
    return [MediaRule(**entry) for entry in data["derived"] + data["added"]]


def added_rules() -> list[MediaRule]:
    """The releases added by hand (newer than the osinfo-db the table was derived from)."""
    data = json.loads(BUILTIN.read_text(encoding="utf-8"))
    return [MediaRule(**entry) for entry in data["added"]]


@functools.cache
def rules() -> tuple[MediaRule, ...]:
    """The rules in force: the installed osinfo-db plus the hand-added releases it lacks;
    the built-in table where no osinfo-db is installed."""
    directory = db_dir()
    if directory is None:
        return tuple(load_builtin())
    installed = read_db(directory)
    known = {rule.short_id for rule in installed}
    return tuple(installed + [rule for rule in added_rules() if rule.short_id not in known])


def derive_table(all_rules: list[MediaRule]) -> list[MediaRule]:
    """The built-in table's derived part: the distros and architectures we have entries for."""
    return [rule for rule in all_rules
            if rule.distro in TABLE_DISTROS and rule.arch in TABLE_ARCHES]


def match(ids: dict[str, str], architecture: str | None,
          candidates: tuple[MediaRule, ...] | None = None) -> list[MediaRule]:
    """The rules a disc's ids satisfy, best first: its own architecture, then the rule that
    pins down the most."""
    found = [rule for rule in (rules() if candidates is None else candidates)
             if rule.matches(ids)]
    return sorted(found, key=lambda rule: (rule.arch != architecture, -rule.weight()))


def _compact(rule: MediaRule) -> dict[str, str]:
    """A rule as the table stores it: empty patterns left out."""
    return {key: value for key, value in asdict(rule).items() if value}


def main(argv: list[str]) -> int:
    """`python -m desktopvm.media.osinfo --write`: regenerate the built-in table's derived
    part from the installed osinfo-db (the hand-added part is kept)."""
    directory = db_dir()
    if directory is None:
        sys.stderr.write("no osinfo-db installed (apt install osinfo-db)\n")
        return 1
    derived = [_compact(rule) for rule in derive_table(read_db(directory))]
    if "--write" not in argv:
        sys.stdout.write(f"{len(derived)} rules from {directory}; --write stores them "
                         f"in {BUILTIN}\n")
        return 0
    added = json.loads(BUILTIN.read_text(encoding="utf-8"))["added"] if BUILTIN.exists() \
        else []
    lines = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in derived)
    extra = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in added)
    BUILTIN.write_text(f'{{"derived": [\n{lines}\n],\n"added": [\n{extra}\n]}}\n',
                       encoding="utf-8")
    sys.stdout.write(f"wrote {len(derived)} derived and {len(added)} added rules to {BUILTIN}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
