"""`media inspect` and `create --iso` without --os, against the memory backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktopvm.testing.doubles.media import isos
from tests.cli.test_cli import Run, cli  # noqa: F401 - the in-process CLI fixture


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return isos.make_iso(tmp_path_factory.mktemp("d") / "debian-bios.iso", isos.DEBIAN_11,
                         {"a": b"a"}, bios=True)


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return isos.make_iso(tmp_path_factory.mktemp("a") / "fedora-arm.iso", isos.FEDORA_37_ARM,
                         {"EFI/BOOT/BOOTAA64.EFI": b"MZ"}, efi=True)


def test_inspect_prints_what_was_found(cli: Run, debian: Path):  # noqa: F811
    code, out, err = cli("media", "inspect", str(debian))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Detected:     Debian 11, boots with BIOS"
    assert "OS entry:     debian11 (Debian 11 (bullseye))" in lines
    assert "El Torito:    x86 BIOS" in lines


def test_inspect_json(cli: Run, arm: Path):  # noqa: F811
    code, out, _ = cli("media", "inspect", str(arm), "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["boots_with"], data["architecture"]) == (["uefi"], "aarch64")
    assert data["os"] == {"id": "fedora", "name": "Fedora Linux 37", "osinfo_id": "fedora37",
                          "exact": True}


def test_inspect_a_file_that_is_no_iso_is_one_line(cli: Run, tmp_path: Path):  # noqa: F811
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"x" * 100_000)
    code, out, err = cli("media", "inspect", str(junk))
    assert (code, out) == (2, "")
    assert err == "error: junk.iso: not an ISO 9660 image (no CD001 volume descriptor at " \
                  "32 KiB)\n"


def test_create_takes_os_and_firmware_from_the_iso(cli: Run, debian: Path):  # noqa: F811
    code, out, err = cli("create", "--backend", "memory", "--name", "deb", "--iso",
                         str(debian), "--json")
    assert code == 0, err
    assert err == "detected Debian 11, boots with BIOS: OS debian11 (Debian 11 (bullseye))\n"
    spec = json.loads(out)["spec"]
    assert (spec["os"], spec["firmware"]["kind"]) == ("debian11", "bios")


def test_create_keeps_a_named_os_but_not_a_firmware_the_iso_cannot_boot(
        cli: Run, debian: Path):  # noqa: F811
    code, out, err = cli("create", "--backend", "memory", "--name", "o", "--os", "other-linux",
                         "--iso", str(debian), "--json")
    assert code == 0 and err == ""  # --os named: nothing to announce
    assert json.loads(out)["spec"]["firmware"]["kind"] == "bios"
    code, _, err = cli("create", "--backend", "memory", "--name", "u", "--iso", str(debian),
                       "--firmware", "uefi")
    assert code == 1
    assert "firmware.kind: This ISO (debian-bios.iso) can only boot with BIOS firmware; " \
           "choose BIOS." in err


def test_create_refuses_an_iso_of_another_architecture(cli: Run, arm: Path):  # noqa: F811
    code, _, err = cli("create", "--backend", "memory", "--name", "a", "--iso", str(arm))
    assert code == 1
    assert "This ISO is for ARM64 (aarch64) computers; this machine is x86-64" in err


def test_create_with_an_unreadable_iso_says_so_and_goes_on(cli: Run, tmp_path: Path):  # noqa: F811
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"x" * 100_000)
    code, out, err = cli("create", "--backend", "memory", "--name", "j", "--iso", str(junk),
                         "--json")
    assert code == 0
    assert err.startswith("note: junk.iso: not an ISO 9660 image")
    assert json.loads(out)["spec"]["os"] == "other-linux"


def test_spec_validate_checks_the_isos_firmware(cli: Run, debian: Path,  # noqa: F811
                                                 tmp_path: Path):
    code, out, _ = cli("spec", "defaults", "other-linux", "--json")
    data = json.loads(out)
    [drive] = [d for controller in data["storage"] for d in controller["optical"]]
    drive["iso"] = str(debian)
    spec_file = tmp_path / "m.json"
    spec_file.write_text(json.dumps(data))
    assert data["firmware"]["kind"] == "uefi"
    code, _, err = cli("spec", "validate", str(spec_file))
    assert code == 1
    assert "This ISO (debian-bios.iso) can only boot with BIOS firmware" in err
