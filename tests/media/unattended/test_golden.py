"""Golden answer files: each family's whole file for fixed answers (and a fixed salt), so any
change to what an installer is told shows up in review. Regenerate after a deliberate change:
DESKTOPVM_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/media/unattended/test_golden.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from desktopvm.media.unattended import (
    AnswerError,
    Answers,
    build_seed_iso,
    plan_cloud_seed,
    plan_seed,
    supported,
)
from desktopvm.model import catalog
from tests.media.unattended.formats import entry

GOLDEN = Path(__file__).parent / "golden"
ANSWERS = Answers(user="ann", password="s3cret \"pass\" & <more>", full_name="Ann O'Neil",
                  hostname="ann-box", timezone="Europe/Berlin", locale="de_DE.UTF-8",
                  keyboard="de", product_key="", ssh_keys=("ssh-ed25519 AAAAC3Nza ann@laptop",))
CASES = [("ubuntu24.04", True), ("debian12", False), ("fedora", True), ("almalinux9", True),
         ("windows11", True), ("windows10", False), ("windows-server-2022", True)]
NO_KEYS = ("debian12", "windows11", "windows10", "windows-server-2022")  # their installers
# take no SSH key from us


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DESKTOPVM_WRITE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize(("os_id", "uefi"), CASES)
def test_answer_files_match_golden(os_id: str, uefi: bool):
    answers = replace(ANSWERS, ssh_keys=()) if os_id in NO_KEYS else ANSWERS
    plan = plan_seed(entry(os_id), answers, uefi=uefi, backend_kind="qemu",
                     instance_id="desktopvm-1", salt="goldensalt")
    for name, data in plan.files.items():
        _check(f"{os_id}.{name}", data.decode("utf-8"))


def test_ssh_keys_refused_where_the_installer_takes_none():
    with pytest.raises(AnswerError, match="cannot pass SSH keys to the Debian 12"):
        plan_seed(entry("debian12"), ANSWERS, uefi=False, backend_kind="qemu",
                  instance_id="x")


def test_cloud_seed_matches_golden():
    plan = plan_cloud_seed(ANSWERS, instance_id="desktopvm-2", salt="goldensalt")
    assert plan.label == "cidata"
    for name, data in plan.files.items():
        _check(f"cloud.{name}", data.decode("utf-8"))


def test_which_oses_have_unattended_installs():
    have = {e.id for e in catalog().entries if supported(e)}
    assert {"ubuntu24.04", "debian12", "fedora", "rhel9", "almalinux9", "rocky9",
            "centos-stream9", "windows11", "windows-server-2025"} <= have
    assert not have & {"arch", "alpine", "freebsd14", "other-linux", "other", "nixos"}
    with pytest.raises(AnswerError, match="no unattended install for Arch"):
        plan_seed(entry("arch"), ANSWERS, uefi=True, backend_kind="qemu",
                  instance_id="x")


@pytest.mark.parametrize(("answers", "words"), [
    (Answers(user="Ann", password="x"), "Linux user name"),
    (Answers(user="ann", password=""), "password is empty"),
    (Answers(user="ann", password="a\nb"), "line breaks"),
    (Answers(user="ann", password="x", hostname="-bad"), "host name"),
    (Answers(user="ann", password="x", timezone="Europe/Berlin; rm"), "time zone"),
    (Answers(user="ann", password="x", full_name="a:b"), "colon"),
])
def test_bad_answers_are_refused_in_words(answers: Answers, words: str):
    with pytest.raises(AnswerError, match=words):
        plan_seed(entry("ubuntu24.04"), answers, uefi=True, backend_kind="qemu",
                  instance_id="x")


def test_a_preseed_value_cannot_join_the_next_line():
    for name in ("Ann\\", " Ann", "Ann "):
        with pytest.raises(AnswerError, match="backslash"):
            plan_seed(entry("debian12"), Answers(user="ann", password="x", full_name=name),
                      uefi=False, backend_kind="qemu", instance_id="x")


def test_windows_refusals():
    win = entry("windows11")
    for answers, words in [(Answers(user="a/b", password="x"), "Windows user name"),
                           (Answers(user="ann", password="x", product_key="123"), "product key"),
                           (Answers(user="ann", password="x", hostname="a" * 16), "at most 15"),
                           (Answers(user="ann", password="x", timezone="Pacific/Nauru"),
                            "Windows' name")]:
        with pytest.raises(AnswerError, match=words):
            plan_seed(win, answers, uefi=True, backend_kind="qemu", instance_id="x")


def test_passwords_never_in_repr():
    text = repr(Answers(user="ann", password="hunter2", product_key="AAAAA-BBBBB-CCCCC-DDDDD-EE"
                                                                  "EEE"))
    assert "hunter2" not in text and "AAAAA" not in text


def test_seed_disc_is_deterministic_and_read_by_xorriso(tmp_path: Path):
    plan = plan_seed(entry("ubuntu24.04"), ANSWERS, uefi=True, backend_kind="qemu",
                     instance_id="desktopvm-1", salt="goldensalt")
    first = build_seed_iso(plan.label, plan.files)
    assert build_seed_iso(plan.label, plan.files) == first
    disc = tmp_path / "seed.iso"
    disc.write_bytes(first)
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed")
    listing = subprocess.run(["xorriso", "-indev", str(disc), "-pvd_info", "-ls", "/"],
                             capture_output=True, text=True, check=True)
    assert "Volume Id    : cidata" in listing.stdout + listing.stderr
    # The fixed clock, in UTC whatever the host's zone: the bytes do not depend on "now".
    assert "Creation Time: 2024010100000000" in listing.stdout + listing.stderr
    assert "'meta-data'" in listing.stdout and "'user-data'" in listing.stdout
    out = tmp_path / "user-data"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(disc), "-extract", "/user-data",
                    str(out)], capture_output=True, check=True)
    assert out.read_bytes() == plan.files["user-data"]
