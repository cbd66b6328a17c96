"""An installer's one boot on QEMU (backends/qemu/first_boot.py): `-kernel/-initrd/-append`
on the first start only, kept across a restart of the app, dropped when the seed is taken
out (seen running, then off), when used once, when its files are gone or its record damaged;
a state saved during that boot resumes with it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from backends.qemu import first_boot, process
from backends.qemu.backend import QemuBackend
from backends.qemu.layout import MachineFiles
from desktopvm import seeds
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.testing.qemu_guest import guest_spec

KERNEL = Path("/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/linux")
LABEL = "Debian installer with answers"
APPEND = "auto=true priority=critical console=ttyS0,115200n8 --- quiet"


def _create(qemu: QemuBackend, guest_iso: Path, kernel: bytes = b"K") -> tuple[str, MachineFiles]:
    machine_id = qemu.create(guest_spec("first-boot", guest_iso), progress=no_progress,
                             cancel=CancelToken())
    qemu.boot_installer_once(machine_id, kernel=kernel, initrd=b"answers", append=APPEND,
                             label=LABEL)
    return machine_id, qemu.store.files(machine_id)


@pytest.mark.qemu
def test_the_kernel_is_on_the_command_line_of_the_first_boot_only(
        qemu: QemuBackend, guest_iso: Path, monkeypatch: pytest.MonkeyPatch):
    if not KERNEL.is_file():
        pytest.skip("needs a real kernel: apt-get install debian-installer-12-netboot-amd64")
    launched: list[list[str]] = []
    real_launch = process.launch

    def launch(argv: Sequence[str], log: Path | None = None) -> None:
        launched.append(list(argv))
        real_launch(argv, log=log)

    monkeypatch.setattr(process, "launch", launch)
    machine_id, files = _create(qemu, guest_iso, KERNEL.read_bytes())
    assert files.first_boot_initrd.stat().st_mode & 0o777 == 0o600  # it holds the answers
    # After a restart of the app (a new backend on the same library) it is still there.
    assert QemuBackend(qemu.settings).installer_boot(machine_id) == LABEL
    qemu.start(machine_id)
    first = launched[-1]
    assert first[first.index("-kernel") + 1] == str(files.first_boot_kernel)
    assert first[first.index("-initrd") + 1] == str(files.first_boot_initrd)
    assert first[first.index("-append") + 1] == APPEND
    qemu.power_off(machine_id)
    qemu.start(machine_id)  # nobody dropped it: the backend does not boot it twice
    assert "-kernel" not in launched[-1] and "-initrd" not in launched[-1]
    assert not [p for p in first_boot.paths(files) if p.exists()]
    assert qemu.installer_boot(machine_id) == ""
    qemu.power_off(machine_id)


@pytest.mark.qemu
def test_the_installer_boot_goes_when_the_seed_is_taken_out(qemu: QemuBackend,
                                                             guest_iso: Path):
    machine_id, files = _create(qemu, guest_iso)
    seed = seeds.new_seed_path(qemu.settings)
    seed.parent.mkdir(parents=True, exist_ok=True)
    seed.write_bytes(b"seed")
    seeds.remember(seeds.SeedRecord(connection=qemu.name, machine_id=machine_id,
                                    seed=str(seed), seen_running=True))
    assert seeds.installer_boot(qemu, machine_id) == LABEL
    # Seen running before, off now: the first boot is over.
    assert seeds.observe(qemu.settings, qemu, qemu.list_machines()) == ["first-boot"]
    assert not [p for p in first_boot.paths(files) if p.exists()] and not seed.exists()
    assert seeds.installer_boot(qemu, machine_id) == ""


@pytest.mark.qemu
def test_delete_removes_the_installer_files(qemu: QemuBackend, guest_iso: Path):
    machine_id, files = _create(qemu, guest_iso)
    qemu.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not files.folder.exists()


@pytest.mark.qemu
def test_a_clone_does_not_inherit_the_installer_boot(qemu: QemuBackend, guest_iso: Path):
    machine_id, _ = _create(qemu, guest_iso)
    clone = qemu.clone(machine_id, "copy", progress=no_progress, cancel=CancelToken())
    assert qemu.installer_boot(clone) == "" and qemu.installer_boot(machine_id) == LABEL


def _files(tmp_path: Path, *, launched: bool) -> MachineFiles:
    files = MachineFiles(tmp_path / "machine")
    files.folder.mkdir()
    first_boot.set_up(files, kernel=b"K", initrd=b"I", append=APPEND, label=LABEL)
    if launched:
        first_boot.launched(files)
    return files


def test_a_state_saved_during_the_first_boot_resumes_with_its_kernel(tmp_path: Path):
    files = _files(tmp_path, launched=True)
    assert first_boot.arguments(files, resuming=True)[0:2] == ["-kernel",
                                                               str(files.first_boot_kernel)]
    assert first_boot.arguments(files, resuming=False) == []  # a fresh start: the disk
    assert not files.first_boot.exists() and not files.first_boot_kernel.exists()


def test_a_first_boot_whose_files_are_gone_boots_the_disk(tmp_path: Path):
    files = _files(tmp_path, launched=False)
    files.first_boot_initrd.unlink()
    assert first_boot.arguments(files, resuming=False) == []
    assert not files.first_boot.exists() and not files.first_boot_kernel.exists()


def test_a_damaged_record_is_set_aside_and_the_disk_boots(tmp_path: Path):
    files = _files(tmp_path, launched=False)
    files.first_boot.write_text('{"label": "x", "append": ')
    assert first_boot.arguments(files, resuming=False) == []
    assert [p.name.split(".damaged-")[0] for p in files.folder.glob("*.damaged-*")] == [
        "first-boot.json"]
    assert not files.first_boot_kernel.exists() and not files.first_boot_initrd.exists()
