"""verify and list_backups on sound and damaged sets (real qcow2 files, damaged by hand)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktopvm.backup import BackupDamaged, BackupSet, list_backups, verify
from desktopvm.backup.setfile import file_digest, format_sums, read_sums
from desktopvm.protocol import CancelToken, no_progress
from tests.backup.conftest import backup


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def check(path: Path) -> BackupSet:
    return verify(path, progress=no_progress, cancel=CancelToken())


@pytest.fixture
def chain(machine, destination):
    first = backup(machine, destination)
    machine.write(0, 3 * 1024 * 1024, 4096, 0x55)
    second = backup(machine, destination)
    return first, second


def test_a_sound_chain_verifies_and_lists(chain, destination):
    first, second = chain
    assert check(second.path).id == second.id
    listed = list_backups(destination)
    assert [(s.id, s.kind, s.problem) for s in listed] == [(first.id, "full", ""),
                                                           (second.id, "incremental", "")]
    assert listed[1].source == "double" and listed[1].size_bytes == second.size_bytes


def resign(set_path: Path, name: str) -> None:
    """Make SHA256SUMS agree with a file changed on purpose (a forger's edit)."""
    sums = read_sums(set_path)
    sums[name] = file_digest(set_path / name)
    (set_path / "SHA256SUMS").write_text(format_sums(sums))


def truncate_disk(first: Path, second: Path) -> tuple[Path, str]:
    disk = second / "disks/disk1.qcow2"
    with disk.open("r+b") as file:
        file.truncate(disk.stat().st_size // 2)
    return second, "disks/disk1.qcow2"


def wrong_digest(first: Path, second: Path) -> tuple[Path, str]:
    with (first / "disks/disk2.qcow2").open("r+b") as file:
        file.seek(70000)
        file.write(b"\xff" * 16)
    return first, "disks/disk2.qcow2"


def missing_link(first: Path, second: Path) -> tuple[Path, str]:
    shutil.rmtree(first)
    return second, "backup.json"


def edited_record(first: Path, second: Path) -> tuple[Path, str]:
    record = json.loads((second / "backup.json").read_text())
    record["disks"][0]["virtual_size"] = 8 * 1024 * 1024
    (second / "backup.json").write_text(json.dumps(record))
    return second, "backup.json"


def forged_record(first: Path, second: Path) -> tuple[Path, str]:
    """backup.json edited and SHA256SUMS made to agree: the disk's header still disagrees."""
    record = json.loads((second / "backup.json").read_text())
    record["disks"][0]["virtual_size"] = 8 * 1024 * 1024
    (second / "backup.json").write_text(json.dumps(record))
    resign(second, "backup.json")
    return second, "disks/disk1.qcow2"


def missing_disk(first: Path, second: Path) -> tuple[Path, str]:
    (second / "disks/disk2.qcow2").unlink()
    return second, "disks/disk2.qcow2"


def backing_file(first: Path, second: Path) -> tuple[Path, str]:
    """An incremental disk swapped for one naming a host file as its backing file."""
    from tests.backup.doubles import qemu_img
    disk = second / "disks/disk1.qcow2"
    disk.unlink()
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(disk),
             str(4 * 1024 * 1024))
    record = json.loads((second / "backup.json").read_text())
    record["disks"][0]["sha256"] = file_digest(disk)
    (second / "backup.json").write_text(json.dumps(record))
    resign(second, "disks/disk1.qcow2")
    resign(second, "backup.json")
    return second, "disks/disk1.qcow2"


def other_disk(first: Path, second: Path) -> tuple[Path, str]:
    """An incremental disk recorded as another disk file than its parent's at that place."""
    record = json.loads((second / "backup.json").read_text())
    record["disks"][0]["source_file"] = "/elsewhere/other.qcow2"
    (second / "backup.json").write_text(json.dumps(record))
    resign(second, "backup.json")
    return second, "disks/disk1.qcow2"


def stray_file(first: Path, second: Path) -> tuple[Path, str]:
    (first / "disks/extra.qcow2").write_bytes(b"x")
    return first, "disks/extra.qcow2"


DAMAGES = [truncate_disk, wrong_digest, missing_link, edited_record, forged_record,
           missing_disk, backing_file, other_disk, stray_file]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_a_damaged_set_is_refused_in_one_line_naming_set_and_file(chain, destination, damage):
    first, second = chain
    broken, file = damage(first.path, second.path)
    before = tree(destination)
    with pytest.raises(BackupDamaged) as caught:
        check(second.path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{broken.parent.name}/{broken.name}" in message, message
    assert file in message, message
    assert tree(destination) == before  # verify wrote nothing
    assert list_backups(destination)  # the list still works (it reads records, not digests)


def test_the_list_names_a_damaged_set_and_its_orphans_without_crashing(chain, destination):
    first, second = chain
    (first.path / "backup.json").write_text("{not json")
    listed = {s.id: s for s in list_backups(destination)}
    assert "backup.json" in listed[first.id].problem
    assert "parent" in listed[second.id].problem


def test_a_newer_schema_is_refused_in_words(chain):
    first, _ = chain
    record = json.loads((first.path / "backup.json").read_text())
    record["schema"] = 4
    record["a_new_field"] = True  # a newer record may have fields this one does not know
    (first.path / "backup.json").write_text(json.dumps(record))
    with pytest.raises(BackupDamaged, match="newer DesktopVM"):
        check(first.path)


def test_schema_1_sets_still_read_with_each_disk_known_by_its_spec(chain, machine):
    """Sets written before disks named their source file: the spec's disk paths say it."""
    for made in chain:
        record = json.loads((made.path / "backup.json").read_text())
        assert record["schema"] == 3
        record["schema"] = 1
        del record["firmware"]
        for disk in record["disks"]:
            del disk["source_file"]
        (made.path / "backup.json").write_text(json.dumps(record))
        resign(made.path, "backup.json")
    checked = check(chain[1].path)
    assert [d.source_file for d in checked.disks] == [str(machine.disk(0)), str(machine.disk(1))]
