"""Firmware from the media: defaults_for picks what the disc boots with, validate says why not."""

from __future__ import annotations

from pathlib import Path

from desktopvm.media import boot_media, inspect_media
from desktopvm.model import defaults_for, validate
from desktopvm.model.catalog import BootMedia
from desktopvm.model.machine import Firmware, FirmwareSpec
from desktopvm.testing.doubles.media import isos
from tests.model.caps import BIOS_ONLY, TEST_CAPS

BIOS_DISC = BootMedia(bios=True, uefi=False, architecture="x86_64")
UEFI_DISC = BootMedia(bios=False, uefi=True, architecture="x86_64")
BOTH = BootMedia(bios=True, uefi=True, architecture="x86_64")
ISO = "/isos/x.iso"


def firmware_problems(spec, media):
    return [p.message for p in validate(spec, TEST_CAPS, check_paths=False, media=media)
            if p.field == "firmware.kind" or p.field.endswith(".iso")]


def test_a_bios_only_disc_gets_bios_even_for_an_os_that_prefers_uefi():
    assert defaults_for("other-linux", TEST_CAPS).firmware.kind is Firmware.UEFI
    spec = defaults_for("other-linux", TEST_CAPS, iso=ISO, media=BIOS_DISC)
    assert spec.firmware.kind is Firmware.BIOS and not spec.firmware.secure_boot
    assert firmware_problems(spec, {ISO: BIOS_DISC}) == []


def test_a_uefi_only_disc_gets_uefi_where_the_backend_has_it():
    assert defaults_for("other", TEST_CAPS, media=UEFI_DISC).firmware.kind is Firmware.UEFI
    # A backend without UEFI keeps BIOS; validate then says the disc will not boot.
    spec = defaults_for("other", BIOS_ONLY, iso=ISO, media=UEFI_DISC)
    assert spec.firmware.kind is Firmware.BIOS
    assert firmware_problems(spec, {ISO: UEFI_DISC}) == [
        "This ISO (x.iso) can only boot with UEFI firmware; choose UEFI."]


def test_a_disc_that_boots_both_ways_keeps_the_os_choice():
    assert defaults_for("other-linux", TEST_CAPS, media=BOTH).firmware.kind is Firmware.UEFI
    assert defaults_for("windows7", TEST_CAPS, media=BOTH).firmware.kind is Firmware.BIOS


def test_uefi_chosen_for_a_bios_only_disc_is_a_problem_in_words():
    spec = defaults_for("other-linux", TEST_CAPS, iso=ISO)
    spec = spec.model_copy(update={"firmware": FirmwareSpec(kind=Firmware.UEFI)})
    assert firmware_problems(spec, {ISO: BIOS_DISC}) == [
        "This ISO (x.iso) can only boot with BIOS firmware; choose BIOS."]
    assert firmware_problems(spec, {}) == []  # nothing known of the disc, nothing said


def test_a_disc_for_another_architecture_is_a_problem():
    arm = BootMedia(bios=False, uefi=True, architecture="aarch64")
    spec = defaults_for("other-linux", TEST_CAPS, iso=ISO, media=arm)
    assert firmware_problems(spec, {ISO: arm}) == [
        "This ISO is for ARM64 (aarch64) computers; this machine is x86-64, so it will not "
        "start. Use the ISO for x86-64 (amd64)."]
    i686 = BootMedia(bios=True, uefi=False, architecture="i686")
    assert firmware_problems(defaults_for("other", TEST_CAPS, iso=ISO), {ISO: i686}) == []


def test_a_data_disc_is_not_judged():
    data = BootMedia(bios=False, uefi=False, architecture="aarch64")
    spec = defaults_for("other-linux", TEST_CAPS, iso=ISO, media=data)
    assert spec.firmware.kind is Firmware.UEFI and firmware_problems(spec, {ISO: data}) == []


def test_from_a_real_disc(tmp_path: Path):
    disc = isos.make_iso(tmp_path / "d.iso", isos.DEBIAN_11, {"a": b"a"}, bios=True)
    media = boot_media(inspect_media(disc))
    assert media == BIOS_DISC
    spec = defaults_for("debian11", TEST_CAPS, iso=str(disc), media=media)
    assert spec.firmware.kind is Firmware.BIOS
