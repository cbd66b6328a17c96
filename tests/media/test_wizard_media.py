"""The wizard reads a chosen ISO on a worker: the OS and firmware follow the disc, not only its
file name, until the user chooses themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopvm.model import Firmware
from desktopvm.testing.doubles.media import isos
from desktopvm.ui.editors import IdentityEditor, OpticalEditor
from desktopvm.ui.wizard import PageId
from tests.ui.conftest import make_facts, memory_backend, runner  # noqa: F401 - fixtures
from tests.ui.test_wizard import editor, go_to, open_wizard  # noqa: F401 - fixtures


@pytest.fixture
def wizard(open_wizard):  # noqa: F811
    opened = open_wizard()
    go_to(opened, PageId.IDENTITY)
    return opened


def choose_iso(wizard, qtbot, path: Path) -> str:
    editor(wizard, OpticalEditor).iso.set_path(str(path))
    hint = wizard.identity_page.os_hint
    qtbot.waitUntil(lambda: "Detected:" in hint.text() or "Not read" in hint.text())
    return str(hint.text())


def test_a_bios_only_disc_with_a_meaningless_name_gets_its_os_and_bios(wizard, qtbot,
                                                                         tmp_path):
    disc = isos.make_iso(tmp_path / "install.iso", isos.DEBIAN_11, {"a": b"a"}, bios=True)
    assert wizard.spec.firmware.kind is Firmware.UEFI  # the starting OS's choice
    text = choose_iso(wizard, qtbot, disc)
    assert text.startswith("Detected: Debian 11, boots with BIOS. Defaults for Debian 11")
    assert (wizard.spec.os, wizard.spec.firmware.kind) == ("debian11", Firmware.BIOS)
    assert wizard.spec.all_optical()[0][1].iso == str(disc)


def test_the_disc_beats_its_file_name(wizard, qtbot, tmp_path):
    disc = isos.make_iso(tmp_path / "fedora-40.iso", isos.UBUNTU_2204, {
        "EFI/BOOT/BOOTX64.EFI": b"MZ"}, bios=True, efi=True)
    text = choose_iso(wizard, qtbot, disc)
    assert text.startswith("Detected: Ubuntu 22.04 LTS, boots with UEFI and BIOS.")
    assert (wizard.spec.os, wizard.spec.firmware.kind) == ("ubuntu22.04", Firmware.UEFI)


def test_an_os_the_user_chose_stays_but_the_firmware_follows_the_disc(wizard, qtbot,
                                                                       tmp_path):
    editor(wizard, IdentityEditor).os.set_os_id("fedora")
    disc = isos.make_iso(tmp_path / "d.iso", isos.DEBIAN_11, {"a": b"a"}, bios=True)
    choose_iso(wizard, qtbot, disc)
    assert (wizard.spec.os, wizard.spec.firmware.kind) == ("fedora", Firmware.BIOS)


def test_a_file_that_is_no_disc_says_so(wizard, qtbot, tmp_path):
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"x" * 50_000)
    before = wizard.spec
    text = choose_iso(wizard, qtbot, junk)
    assert text.startswith("Not read as an install disc: junk.iso: not an ISO 9660 image")
    assert (wizard.spec.os, wizard.spec.firmware) == (before.os, before.firmware)


def test_a_result_for_an_iso_no_longer_chosen_is_dropped(wizard, qtbot, tmp_path):
    debian = isos.make_iso(tmp_path / "d.iso", isos.DEBIAN_11, {"a": b"a"}, bios=True)
    page = wizard.identity_page
    editor(wizard, OpticalEditor).iso.set_path(str(debian))
    editor(wizard, OpticalEditor).iso.set_path("")  # changed before the worker answered
    qtbot.wait(300)
    wizard.runner.wait_for_done(5000)
    qtbot.wait(50)
    assert "Detected:" not in page.os_hint.text() and wizard.spec.os != "debian11"


def test_a_name_guess_stays_said_when_the_file_is_no_disc(wizard, qtbot, tmp_path):
    empty = tmp_path / "debian-12.5.0-amd64-netinst.iso"
    empty.write_bytes(b"")
    text = choose_iso(wizard, qtbot, empty)
    assert wizard.spec.os == "debian12"
    assert text.startswith("Not read as an install disc: debian-12.5.0-amd64-netinst.iso: too "
                           "small for an ISO 9660 image (0 bytes). Detected from the disc's "
                           "file name. Defaults for Debian 12")


def test_uefi_chosen_for_a_bios_only_disc_is_a_problem_in_words(wizard, qtbot, tmp_path):
    """The wizard validates with what the disc said, as the CLI does: choosing UEFI on the
    firmware page for a BIOS-only disc blocks Next with the reason."""
    disc = isos.make_iso(tmp_path / "install.iso", isos.DEBIAN_11, {"a": b"a"}, bios=True)
    choose_iso(wizard, qtbot, disc)
    assert wizard.spec.firmware.kind is Firmware.BIOS
    wizard.spec = wizard.spec.model_copy(update={"firmware": wizard.spec.firmware.model_copy(
        update={"kind": Firmware.UEFI})})
    messages = [p.message for p in wizard.model_problems()]
    assert any("can only boot with BIOS firmware" in m for m in messages), messages
    wizard.choose_os("debian12", keep_name=True)  # new defaults keep to what the disc boots
    assert wizard.spec.firmware.kind is Firmware.BIOS
