"""QEMU for real: the BIOS-only test guest ISO with 'Other Linux' (a UEFI OS by default) gets
BIOS from the disc when created through the CLI without naming a firmware, and boots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.media import detect_os, inspect_media
from desktopvm.settings import load_settings
from desktopvm.testing.qemu_guest import READY, SerialReader
from tests.backends.qemu.conftest import guest_iso  # noqa: F401 - the session fixture
from tests.backends.qemu.test_qemu_cli import cli

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def test_bios_only_iso_gets_bios_and_boots(guest_iso: Path):  # noqa: F811
    facts = inspect_media(guest_iso)
    assert (facts.bios, facts.uefi) == (True, False)  # isolinux only: no EFI entry
    assert detect_os(facts).os_id == "other"  # our own test disc: no osinfo rule names it
    name = "bios from the disc"
    created = cli("create", "--backend", "qemu", "--name", name, "--os", "other-linux",
                  "--memory", "256M", "--cpus", "1", "--disk", "64M", "--iso", str(guest_iso),
                  "--network", "none", "--json")
    spec = json.loads(created.stdout)["spec"]
    assert spec["firmware"]["kind"] == "bios"
    try:
        cli("start", name, "--headless")
        reader = SerialReader(QemuBackend(load_settings()), json.loads(created.stdout)["id"])
        try:
            reader.wait_for(READY, poke=True)  # the guest's shell: it booted
        finally:
            reader.close()
    finally:
        cli("poweroff", name, check=False)
        cli("delete", name, "--delete-disks", "--yes", check=False)
