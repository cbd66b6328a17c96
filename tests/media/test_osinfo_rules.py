"""osinfo-db's media rules: the whole x86_64 list detected, and the built-in table in sync."""

from __future__ import annotations

from collections import Counter

import pytest

from desktopvm.media import osinfo
from desktopvm.media.detect import catalog_id
from desktopvm.model import catalog
from tests.media.regex_examples import example


def installed_rules() -> list[osinfo.MediaRule]:
    directory = osinfo.db_dir()
    if directory is None:
        pytest.skip("osinfo-db is not installed (.ci/setup installs it: apt install osinfo-db)")
    return osinfo.read_db(directory)


def test_every_x86_64_media_entry_detects_its_os_or_family():
    """Each entry's patterns give an example disc (the ids a disc of it would carry); the
    detection must name that OS's catalog entry, or one of the same family where osinfo's
    rules themselves overlap."""
    entries = catalog()
    results: Counter[str] = Counter()
    wrong = []
    rules = [rule for rule in installed_rules() if rule.arch == "x86_64"]
    assert len(rules) > 900  # the whole list, not a sample
    for rule in rules:
        ids = {name: example(getattr(rule, name)) for name in osinfo.ID_FIELDS
               if getattr(rule, name)}
        assert rule.matches(ids), (rule, ids)
        best = osinfo.match(ids, "x86_64")[0]
        want, got = catalog_id(rule, entries)[0], catalog_id(best, entries)[0]
        if want == got:
            results["same entry"] += 1
        elif entries.get(want).family is entries.get(got).family:  # type: ignore[union-attr]
            results["same family"] += 1
        else:
            wrong.append((rule.short_id, ids, best.short_id))
    assert not wrong
    assert results["same family"] < 10, results  # overlaps are rare; many would be a bug


@pytest.mark.parametrize(("short_id", "version", "distro", "expected"), [
    ("ubuntu22.04", "22.04", "ubuntu", ("ubuntu22.04", True)),
    ("ubuntu18.04", "18.04", "ubuntu", ("ubuntu20.04", False)),  # nearest release we have
    ("debian11", "11", "debian", ("debian11", True)),
    ("rhel9.2", "9.2", "rhel", ("rhel9", True)),
    ("fedora37", "37", "fedora", ("fedora", True)),
    ("opensuse15.4", "15.4", "opensuse", ("opensuse-leap", True)),
    ("mageia8", "8", "mageia", ("other-linux", False)),  # the family's catch-all
    ("win2k22", "", "win", ("windows-server-2022", True)),
    ("winxp", "", "win", ("windows7", False)),
])
def test_catalog_mapping(short_id, version, distro, expected):
    rule = osinfo.MediaRule(short_id=short_id, version=version, distro=distro, family="linux"
                            if distro != "win" else "winnt")
    assert catalog_id(rule, catalog()) == expected


def test_builtin_table_is_what_the_installed_db_derives():
    """The table shipped for hosts without osinfo-db is regenerated from osinfo-db with
    `python -m desktopvm.media.osinfo --write`; this fails when they drift apart."""
    derived = osinfo.derive_table(installed_rules())
    shipped = [rule for rule in osinfo.load_builtin() if rule not in osinfo.added_rules()]
    assert shipped == derived


def test_hand_added_releases_are_ones_the_db_lacks():
    known = {rule.short_id for rule in installed_rules()}
    assert {rule.short_id for rule in osinfo.added_rules()}.isdisjoint(known)


def test_without_osinfo_db_the_builtin_table_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(osinfo, "DB_DIRS", ())
    monkeypatch.setenv("OSINFO_SYSTEM_DIR", str(tmp_path / "none"))
    osinfo.rules.cache_clear()
    try:
        assert osinfo.db_dir() is None
        found = osinfo.match({"volume_id": "CCCOMA_X64FRE_EN-US_DV9",
                              "publisher_id": "MICROSOFT CORPORATION"}, "x86_64")
        assert found and found[0].short_id.startswith("win1")
        assert osinfo.match({"volume_id": "Ubuntu 24.04.1 LTS amd64"}, "x86_64")[0].short_id \
            == "ubuntu24.04"
    finally:
        osinfo.rules.cache_clear()
