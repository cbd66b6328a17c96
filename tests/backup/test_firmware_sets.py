"""UEFI variables and TPM state in sets: stored whole in every set, verified like disks,
hostile variants refused with nothing written, old sets still read, other targets told.

The capturing double hands over firmware files as QEMU's capture does (real qemu-img for the
disks); what real QEMU and swtpm make of it is tests/backends/qemu/test_backup_firmware.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.backup import BackupDamaged, BackupSet, restore, verify
from desktopvm.backup.setfile import file_digest, format_sums, read_sums
from desktopvm.model import Firmware, FirmwareSpec
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from tests.backup.conftest import backup
from tests.backup.doubles import MIB, CaptureDouble

NVRAM = bytes(range(256)) * 512  # 128 KiB, the size of an OVMF 2M build's store
PERMALL = b"swtpm permanent state " * 40


@pytest.fixture
def uefi(machine: CaptureDouble) -> CaptureDouble:
    """The double as a UEFI machine with a TPM whose captures carry their state."""
    machine.spec = machine.spec.model_copy(update={"firmware": FirmwareSpec(
        kind=Firmware.UEFI, tpm=True)})
    machine.firmware = {"nvram.fd": NVRAM, "tpm/tpm2-00.permall": PERMALL}
    return machine


def check(path: Path) -> BackupSet:
    return verify(path, progress=no_progress, cancel=CancelToken())


def resign(set_path: Path, name: str) -> None:
    """Make SHA256SUMS (and backup.json's entry) agree with a file changed on purpose."""
    sums = read_sums(set_path)
    sums[name] = file_digest(set_path / name)
    (set_path / "SHA256SUMS").write_text(format_sums(sums))


def edit_record(set_path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    record = json.loads((set_path / "backup.json").read_text())
    change(record)
    (set_path / "backup.json").write_text(json.dumps(record))
    resign(set_path, "backup.json")


def test_every_set_holds_the_firmware_state_whole_listed_and_private(uefi, destination):
    full = backup(uefi, destination)
    assert (full.path / "firmware/nvram.fd").read_bytes() == NVRAM
    assert (full.path / "firmware/tpm/tpm2-00.permall").read_bytes() == PERMALL
    # The TPM's seeds unseal BitLocker's key: the set's copies are for this user only.
    assert {oct((full.path / f.file).stat().st_mode & 0o777) for f in full.firmware} == {"0o600"}
    record = json.loads((full.path / "backup.json").read_text())
    assert [(f["file"], f["kind"], f["size"]) for f in record["firmware"]] == [
        ("firmware/nvram.fd", "nvram", len(NVRAM)),
        ("firmware/tpm/tpm2-00.permall", "tpm", len(PERMALL))]
    assert not list((full.path / "disks").iterdir())[2:]  # only the two disks stay there
    summed = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=full.path,
                            capture_output=True, text=True, check=False)
    assert summed.returncode == 0 and "firmware/nvram.fd: OK" in summed.stdout

    # The next set is incremental for the disks, but holds the firmware state whole.
    uefi.write(0, 2 * MIB, 4096, 0x42)
    uefi.firmware["nvram.fd"] = NVRAM[::-1]
    second = backup(uefi, destination)
    assert second.kind == "incremental"
    checked = check(second.path)
    assert [f.file for f in checked.firmware] == ["firmware/nvram.fd",
                                                  "firmware/tpm/tpm2-00.permall"]
    assert (second.path / "firmware/nvram.fd").read_bytes() == NVRAM[::-1]
    assert (second.path / "firmware/tpm/tpm2-00.permall").read_bytes() == PERMALL


def _symlinked_store(set_path: Path) -> None:
    outside = set_path.parent.parent / "outside.fd"
    shutil.copy(set_path / "firmware/nvram.fd", outside)
    (set_path / "firmware/nvram.fd").unlink()
    (set_path / "firmware/nvram.fd").symlink_to(outside)


def _symlinked_tpm_folder(set_path: Path) -> None:
    outside = set_path.parent.parent / "outside-tpm"
    shutil.copytree(set_path / "firmware/tpm", outside)
    shutil.rmtree(set_path / "firmware/tpm")
    (set_path / "firmware/tpm").symlink_to(outside)


def _escaping_path(set_path: Path) -> None:
    def change(record: dict[str, Any]) -> None:
        record["firmware"][1]["file"] = "firmware/tpm/../../../../outside.permall"
    edit_record(set_path, change)


def _huge_store(set_path: Path) -> None:
    store = set_path / "firmware/nvram.fd"
    os.truncate(store, 9 * MIB)  # sparse: a forger's "variable store" of 9 MiB
    resign(set_path, "firmware/nvram.fd")

    def change(record: dict[str, Any]) -> None:
        record["firmware"][0].update(size=9 * MIB, sha256=file_digest(store))
    edit_record(set_path, change)


def _grown_store(set_path: Path) -> None:
    os.truncate(set_path / "firmware/nvram.fd", 64 * MIB)  # the record still says 128 KiB


def _record_claims_a_huge_file(set_path: Path) -> None:
    def change(record: dict[str, Any]) -> None:
        record["firmware"][1]["size"] = 64 * MIB
    edit_record(set_path, change)


def _missing_file(set_path: Path) -> None:
    (set_path / "firmware/tpm/tpm2-00.permall").unlink()


def _changed_byte(set_path: Path) -> None:
    store = set_path / "firmware/nvram.fd"
    data = bytearray(store.read_bytes())
    data[4096] ^= 0xFF
    store.write_bytes(bytes(data))


def _tpm_file_as(set_path: Path, name: str) -> None:
    """The set's TPM file under another name, listed and recorded as such."""
    folder = set_path / "firmware/tpm"
    (folder / "tpm2-00.permall").rename(folder / name)
    sums = read_sums(set_path)
    sums[f"firmware/tpm/{name}"] = sums.pop("firmware/tpm/tpm2-00.permall")
    (set_path / "SHA256SUMS").write_text(format_sums(sums))

    def change(record: dict[str, Any]) -> None:
        record["firmware"][1]["file"] = f"firmware/tpm/{name}"
    edit_record(set_path, change)


def _five_tpm_files(set_path: Path) -> None:
    """Five files by swtpm's own names (there are six): one more than a TPM's state holds."""
    folder = set_path / "firmware/tpm"
    entry = json.loads((set_path / "backup.json").read_text())["firmware"][1]
    names = ["tpm2-00.volatilestate", "tpm2-00.savestate", "tpm-00.permall",
             "tpm-00.volatilestate"]
    for name in names:
        shutil.copy(folder / "tpm2-00.permall", folder / name)
        resign(set_path, f"firmware/tpm/{name}")

    def change(record: dict[str, Any]) -> None:
        record["firmware"] += [{**entry, "file": f"firmware/tpm/{n}"} for n in names]
    edit_record(set_path, change)


def _unknown_kind(set_path: Path) -> None:
    def change(record: dict[str, Any]) -> None:
        record["firmware"][1]["kind"] = "vmgs"
    edit_record(set_path, change)


def _digests_disagree(set_path: Path) -> None:
    def change(record: dict[str, Any]) -> None:
        record["firmware"][0]["sha256"] = "0" * 64
    edit_record(set_path, change)


HOSTILE = {
    "the store is a symbolic link": (_symlinked_store, "firmware/nvram.fd: not a plain "
                                     "file of the set (a symbolic link"),
    "the TPM folder is a symbolic link": (_symlinked_tpm_folder, "firmware/tpm/tpm2-00.permall:"
                                          " not a plain file of the set (a symbolic link"),
    "a path out of the set": (_escaping_path, "not a file inside the set"),
    "a 9 MiB variable store": (_huge_store, "a UEFI variable store holds 1 to 8388608"),
    "a store grown behind the record's back": (_grown_store,
                                                "67108864 bytes, not the 131072"),
    "a record claiming 64 MiB of TPM state": (_record_claims_a_huge_file,
                                              "a TPM state file holds 1 to 4194304"),
    "a listed file missing": (_missing_file, "tpm2-00.permall: missing"),
    "a changed byte": (_changed_byte, "firmware/nvram.fd: its contents do not match"),
    "a hidden TPM file name": (lambda set_path: _tpm_file_as(set_path, ".lock"),
                               "of swtpm's state files"),
    "a TPM file swtpm never writes": (lambda set_path: _tpm_file_as(set_path, "foo"),
                                      "of swtpm's state files"),
    "five TPM files": (_five_tpm_files, "firmware file 6: TPM state is at most 4"),
    "an unknown kind": (_unknown_kind, "unknown kind 'vmgs'"),
    "digests that disagree": (_digests_disagree, "digest in backup.json and SHA256SUMS differ"),
}


class Untouchable:
    """A restore target that fails the test if the restore asks it anything at all."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the restore reached the target ({name}) from a hostile set")


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("variant", HOSTILE, ids=list(HOSTILE))
def test_hostile_firmware_state_is_refused_in_one_line_with_nothing_written(
        uefi, destination, tmp_path, variant):
    forge, expected = HOSTILE[variant]
    made = backup(uefi, destination)
    forge(made.path)
    before = files_under(tmp_path)
    with pytest.raises(BackupDamaged) as refused:
        check(made.path)
    message = str(refused.value)
    assert expected in message and "\n" not in message, message
    with pytest.raises(BackupDamaged):
        restore(made.path, Untouchable(), name="forged",  # type: ignore[arg-type]
                progress=no_progress, cancel=CancelToken())
    assert files_under(tmp_path) == before


def test_sets_of_schema_2_without_firmware_state_still_verify(uefi, destination):
    made = backup(uefi, destination)
    shutil.rmtree(made.path / "firmware")
    sums = {name: digest for name, digest in read_sums(made.path).items()
            if not name.startswith("firmware/")}
    (made.path / "SHA256SUMS").write_text(format_sums(sums))

    def older(record: dict[str, Any]) -> None:
        record["schema"] = 2
        del record["firmware"]
    edit_record(made.path, older)
    assert check(made.path).firmware == ()
    # A schema 2 record that names firmware files was not written by any DesktopVM.
    edit_record(made.path, lambda record: record.update(firmware=[]))
    with pytest.raises(BackupDamaged, match="unknown field 'firmware'"):
        check(made.path)


@pytest.fixture
def vbox(tmp_path: Path) -> VirtualBoxBackend:
    fake = FakeVBox(tmp_path / "vbox", "7.2")
    return VirtualBoxBackend(Settings(vboxmanage_path=str(fake.executable)))


def test_restoring_onto_virtualbox_says_the_state_stays_behind(uefi, destination, vbox):
    made = backup(uefi, destination)
    said: list[str] = []
    new_id = restore(made.path, vbox, name="elsewhere", cancel=CancelToken(),
                     progress=lambda fraction, stage: said.append(stage) if fraction is None
                     else None)
    assert vbox.get_machine(new_id).spec.firmware.kind is Firmware.UEFI
    [line] = [s for s in said if "stay behind" in s]
    assert line.startswith("UEFI variables and TPM state stay behind (VirtualBox")
    assert "BitLocker" in line and "UEFI shell" in line


def test_a_set_without_firmware_state_says_nothing_of_it(machine, destination, vbox):
    made = backup(machine, destination)  # a BIOS machine: nothing to leave behind
    said: list[str] = []
    restore(made.path, vbox, name="plain", cancel=CancelToken(),
            progress=lambda _fraction, stage: said.append(stage))
    assert not [s for s in said if "stay behind" in s]
