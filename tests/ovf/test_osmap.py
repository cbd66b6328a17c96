"""Guest OS mapping: CIM numbers and exporters' type names to catalog ids, and back."""

from __future__ import annotations

import pytest

from desktopvm.model import catalog
from desktopvm.ovf.osmap import os_for_export, os_from_ovf


@pytest.mark.parametrize(("cim", "hints", "expected"), [
    # Hints first: exporters reuse CIM numbers for newer systems.
    (120, ["", "windows11_64Guest", ""], "windows11"),
    (120, ["", "", "Windows11_64"], "windows11"),
    (120, [], "windows10"),
    (119, [], "windows10"),
    (105, [], "windows7"),
    (105, ["Windows"], "windows7"),  # a family-only hint does not beat an exact number
    (117, [], "windows8.1"),
    (118, ["", "", "Windows2019_64"], "windows-server-2019"),
    (118, ["Microsoft Windows Server 2022 (64-bit)"], "windows-server-2022"),
    (118, ["", "windows2022srvNext_64Guest"], "windows-server-2025"),
    (103, ["", "windows7Server64Guest"], "other"),  # that is Server 2008 R2, not Windows 7
    (113, [], "other"),  # Windows 8 (not 8.1) is not in the catalog
    (94, ["Ubuntu 24.04 LTS"], "ubuntu24.04"),
    (94, ["", "", "Ubuntu22_LTS_64"], "ubuntu22.04"),
    (94, ["", "ubuntu64Guest"], "other-linux"),
    (93, ["Ubuntu"], "other-linux"),
    (96, ["", "debian12_64Guest"], "debian12"),
    (96, ["Debian 13 (trixie)"], "debian13"),
    (80, ["", "rhel9_64Guest"], "rhel9"),
    (80, ["Red Hat Enterprise Linux 8 (64-bit)"], "rhel8"),
    (79, ["Red Hat Enterprise Linux 5 (32-bit)", "rhel5Guest"], "other-linux"),
    (80, ["RedHat_64"], "other-linux"),
    (107, ["", "centos9_64Guest"], "centos-stream9"),
    (80, ["AlmaLinux 9"], "almalinux9"),
    (80, ["Rocky Linux 9"], "rocky9"),
    (100, ["", "", "Fedora_64"], "fedora"),
    (100, ["", "", "ArchLinux_64"], "arch"),
    (83, ["openSUSE Leap"], "opensuse-leap"),
    (101, ["Linux Mint"], "linux-mint"),
    (101, [], "other-linux"),
    (36, [], "other-linux"),
    (78, ["FreeBSD 14"], "freebsd14"),
    (78, [], "other"),
    (65, [], "openbsd"),
    (1, ["Darwin 7"], "other"),  # not "Windows 7"
    (None, [], "other"),
    (0, [""], "other"),
])
def test_os_from_ovf(cim: int | None, hints: list[str], expected: str):
    assert os_from_ovf(cim, hints)[0] == expected


def test_a_fallback_for_a_named_os_says_so():
    os_id, warning = os_from_ovf(93, ["Ubuntu"])
    assert os_id == "other-linux" and warning is not None and "'Ubuntu'" in warning
    assert os_from_ovf(94, ["Ubuntu 22.04 LTS"])[1] is None
    assert os_from_ovf(101, ["Other Linux (64-bit)"]) == ("other-linux", None)
    assert os_from_ovf(None, []) == ("other", None)


@pytest.mark.parametrize("os_id", catalog().ids())
def test_every_catalog_os_survives_export_and_import(os_id: str):
    exported = os_for_export(os_id)
    assert exported.description == catalog().get(os_id).name  # type: ignore[union-attr]
    hints = [exported.description, exported.vmw_type, exported.vbox_type]
    assert os_from_ovf(exported.cim_id, hints) == (os_id, None)


def test_export_uses_virtualbox_types_older_releases_know():
    assert os_for_export("windows11").vbox_type == "Windows10_64"
    assert os_for_export("windows7").vbox_type == "Windows7_64"
    assert os_for_export("no-such-os").description == catalog().get("other").name  # type: ignore[union-attr]
