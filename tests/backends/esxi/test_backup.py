"""ESXi backups on vcsim, extended (main.go): a snapshot freezes the machine's disk files, and
ExportSnapshot serves them as they were when it was taken — so a machine that goes on writing
after the snapshot shows whether the copy is the snapshot's. The temporary snapshot is removed
(also on cancel and failure), an off machine goes through ExportVm, and a running machine is
backed up through the backup core, verified and restored into QEMU with its bytes compared."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.esxi import inventory, plans, tasks
from backends.esxi.backend import EsxiBackend
from backends.esxi.backup import FROZEN
from backends.esxi.session import vim
from backends.qemu.backend import QemuBackend
from desktopvm.backup import back_up, restore, verify
from desktopvm.model import DiskFormat
from desktopvm.model.devices import Disk
from desktopvm.protocol import (
    CancelToken,
    CapturingBackend,
    CommandFailed,
    InvalidState,
    OperationCancelled,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.protocol.backup import TEMPORARY_NOTE, TEMPORARY_SNAPSHOT
from desktopvm.settings import Settings
from desktopvm.testing.doubles.esxi import sim
from tests.backends.esxi.test_appliances import make_ova
from tests.backends.esxi.test_export import lease_events
from tests.backends.esxi.test_machines import on_datastore

pytestmark = [pytest.mark.vcsim,
              pytest.mark.skipif(shutil.which("qemu-img") is None
                                 or shutil.which("qemu-io") is None,
                                 reason="the test disks are made with qemu-img and qemu-io "
                                        "(qemu-utils)")]


@dataclass
class Machine:
    id: str
    before: Path  # the disk's content when the backup starts, as a raw image
    live: Path  # the machine's disk file in vcsim's datastore folder
    after: bytes  # a stream-optimized VMDK with other content, for the machine to "write"


def stream_vmdk(folder: Path, name: str, pattern: int) -> tuple[Path, bytes]:
    """A 16 MiB disk holding `pattern` in two places: as raw, and as a stream-optimized VMDK
    (the form in which ESXi's leases serve disks)."""
    raw = folder / f"{name}.raw"
    vmdk = folder / f"{name}.vmdk"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "16M"], check=True)
    subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P {pattern} 0 1M",
                    "-c", f"write -P {pattern} 9M 64k", str(raw)], check=True,
                   capture_output=True)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o",
                    "subformat=streamOptimized", str(raw), str(vmdk)], check=True)
    return raw, vmdk.read_bytes()


def same_disk(raw: Path, other: Path, fmt: str) -> bool:
    compared = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", fmt, str(raw),
                               str(other)], check=False, capture_output=True, text=True)
    assert compared.returncode in (0, 1), compared.stdout + compared.stderr
    return compared.returncode == 0


def fail(esx: sim.Sim, methods: str) -> None:
    """Make vcsim fail every call of these SOAP methods ("" for none) — main.go's knob."""
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    request = urllib.request.Request(f"https://127.0.0.1:{esx.port}/desktopvm/fail",
                                     data=methods.encode(), method="POST")
    with urllib.request.urlopen(request, context=context, timeout=10):
        pass


def leftovers(machine: Machine) -> list[str]:
    """Files main.go froze for a snapshot, still in the machine's datastore folder."""
    return sorted(p.name for p in machine.live.parent.iterdir() if "desktopvm-snapshot" in p.name)


def new_leases(esx: sim.Sim, before: set[str]) -> dict[str, list[str]]:
    return {k: v for k, v in lease_events(esx).items() if k not in before}


@pytest.fixture
def machine(esx_backend: EsxiBackend, tmp_path: Path) -> Iterator[Machine]:
    """A machine on vcsim (off) whose disk holds known bytes (imported from an OVA)."""
    made = tmp_path / "made"
    made.mkdir()
    before, first = stream_vmdk(made, "before", 0x5A)
    _, second = stream_vmdk(made, "after", 0xA5)
    ova, _ = make_ova(tmp_path / "source", "dvmtest-backup-source", first)
    machine_id = esx_backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
    live = on_datastore(esx_backend, esx_backend.get_machine(machine_id).spec.all_disks()[0][1]
                        .path)
    assert live.read_bytes() == first
    yield Machine(machine_id, before, live, second)
    if esx_backend.get_machine(machine_id).summary.state is not PowerState.OFF:
        esx_backend.power_off(machine_id)
    esx_backend.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())


def out_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "capture ‘disks’"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("suspended", [False, True], ids=["running", "suspended"])
def test_a_running_machine_is_copied_as_it_was_at_the_snapshot_and_keeps_running(
        esx_backend: EsxiBackend, esx: sim.Sim, machine: Machine, tmp_path: Path,
        suspended: bool) -> None:
    assert isinstance(esx_backend, CapturingBackend)
    caps = esx_backend.capabilities()
    assert (caps.backup_running, caps.backup_incremental) == (True, False)
    esx_backend.start(machine.id)
    if suspended:
        esx_backend.save_state(machine.id, progress=no_progress, cancel=CancelToken())
    state = esx_backend.get_machine(machine.id).summary.state
    snapshots_before = esx_backend.list_snapshots(machine.id)
    leases_before = set(lease_events(esx))
    seen: list[tuple[str, str]] = []

    def progress(_fraction: float | None, stage: str) -> None:
        if stage == FROZEN:  # the snapshot is taken: the machine writes on, as guests do
            roots, _ = esx_backend.list_snapshots(machine.id)
            seen.extend((s.name, s.description) for root in roots for s in root.walk())
            machine.live.write_bytes(machine.after)

    folder = out_folder(tmp_path)
    capture = esx_backend.capture(machine.id, folder, progress=progress, cancel=CancelToken())

    assert machine.live.read_bytes() == machine.after  # the machine's writes are its own
    (disk,) = capture.disks
    assert same_disk(machine.before, disk.path, "vmdk")  # ... not in the snapshot's copy
    assert (disk.controller, disk.port, disk.device) == (0, 0, 0)
    assert (disk.format, disk.virtual_size, disk.incremental) == (DiskFormat.VMDK, 16 * 2**20,
                                                                  False)
    assert [p.name for p in folder.iterdir()] == [disk.path.name]
    assert capture.was_running and capture.point == ""
    assert capture.spec == esx_backend.get_machine(machine.id).spec
    assert capture.snapshots == snapshots_before[0]
    # The temporary snapshot said whose it was, and is gone; the machine is as it was.
    [(name, note)] = seen
    assert name.startswith(TEMPORARY_SNAPSHOT) and note == TEMPORARY_NOTE
    assert esx_backend.list_snapshots(machine.id) == snapshots_before
    assert esx_backend.get_machine(machine.id).summary.state is state
    assert leftovers(machine) == []
    [(lease, events)] = new_leases(esx, leases_before).items()
    assert lease.startswith("desktopvm-snapshot-export-")  # the snapshot's lease, not ExportVm
    assert events[-1] == "complete" and events[0].startswith("progress ")


def test_a_cancelled_backup_removes_the_snapshot_the_lease_and_every_file(
        esx_backend: EsxiBackend, esx: sim.Sim, machine: Machine, tmp_path: Path) -> None:
    esx_backend.start(machine.id)
    snapshots_before = esx_backend.list_snapshots(machine.id)
    leases_before = set(lease_events(esx))
    token = CancelToken()
    stages: list[str] = []

    def progress(_fraction: float | None, stage: str) -> None:
        stages.append(stage)
        if stage.startswith("Downloading"):
            token.cancel()

    folder = out_folder(tmp_path)
    with pytest.raises(OperationCancelled):
        esx_backend.capture(machine.id, folder, progress=progress, cancel=token)
    assert FROZEN in stages  # cancelled while the snapshot's disks were being copied
    assert list(folder.iterdir()) == []
    assert esx_backend.list_snapshots(machine.id) == snapshots_before
    [events] = new_leases(esx, leases_before).values()
    assert events[-1] == "abort"
    assert leftovers(machine) == []
    assert esx_backend.get_machine(machine.id).summary.state is PowerState.RUNNING


def test_a_snapshot_that_cannot_be_deleted_fails_the_backup_saying_so(
        esx_backend: EsxiBackend, esx: sim.Sim, machine: Machine, tmp_path: Path) -> None:
    esx_backend.start(machine.id)
    folder = out_folder(tmp_path)
    fail(esx, "RemoveSnapshot_Task")
    try:
        with pytest.raises(CommandFailed) as raised:
            esx_backend.capture(machine.id, folder, progress=no_progress, cancel=CancelToken())
        roots, _ = esx_backend.list_snapshots(machine.id)
    finally:
        fail(esx, "")
    assert raised.value.summary.startswith(
        f"ESXi could not delete the temporary snapshot '{TEMPORARY_SNAPSHOT} ")
    assert "The backup was not kept; if the snapshot is still listed, delete it" \
        in raised.value.summary
    assert list(folder.iterdir()) == []
    # The host kept refusing (the clean-up tried once more): the snapshot is left, and says
    # to the user whose it is and what to do with it.
    [left] = roots
    assert left.name.startswith(TEMPORARY_SNAPSHOT) and left.description == TEMPORARY_NOTE
    esx_backend.delete_snapshot(machine.id, left.id, progress=no_progress, cancel=CancelToken())
    assert leftovers(machine) == []


def add_disk(backend: EsxiBackend, machine_id: str) -> None:
    """A second disk, added by someone else (straight through the API)."""
    _, devices = inventory.machine(backend.session, machine_id, backend.name)
    store = backend.get_machine(machine_id).spec.all_disks()[0][1].path.split("]")[0][1:]
    change = plans.disk(Disk(size_bytes=2**20, port=1), devices.controllers[0], -1, store)
    spec = vim.vm.ConfigSpec(deviceChange=[change])
    task = backend.session.run(lambda si: inventory.vm(si, machine_id).ReconfigVM_Task(spec))
    tasks.wait(backend.session, task, progress=no_progress, cancel=CancelToken(), stage="Adding")


def test_disks_changed_as_the_backup_began_are_not_taken_for_the_machines(
        esx_backend: EsxiBackend, machine: Machine, tmp_path: Path) -> None:
    esx_backend.start(machine.id)

    def progress(_fraction: float | None, stage: str) -> None:
        if stage == "Taking a temporary snapshot":  # the machine's disks were read just now
            add_disk(esx_backend, machine.id)

    folder = out_folder(tmp_path)
    with pytest.raises(CommandFailed, match="changed while the backup started; back it up "
                                            "again"):
        esx_backend.capture(machine.id, folder, progress=progress, cancel=CancelToken())
    assert list(folder.iterdir()) == []
    assert esx_backend.list_snapshots(machine.id) == ((), "")
    assert leftovers(machine) == []


def reconfigure(backend: EsxiBackend, machine_id: str, change: object) -> None:
    """One device change, straight through the API (someone else's edit)."""
    spec = vim.vm.ConfigSpec(deviceChange=[change])
    task = backend.session.run(lambda si: inventory.vm(si, machine_id).ReconfigVM_Task(spec))
    tasks.wait(backend.session, task, progress=no_progress, cancel=CancelToken(),
               stage="Reconfiguring")


def test_independent_disks_are_refused_in_words_before_any_snapshot(
        esx_backend: EsxiBackend, machine: Machine, tmp_path: Path) -> None:
    _, devices = inventory.machine(esx_backend.session, machine.id, esx_backend.name)
    disk = devices.by_key[devices.disks[(0, 0)]]
    disk.backing.diskMode = "independent_persistent"
    reconfigure(esx_backend, machine.id, vim.vm.device.VirtualDeviceSpec(
        operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=disk))
    _, devices = inventory.machine(esx_backend.session, machine.id, esx_backend.name)
    assert devices.by_key[devices.disks[(0, 0)]].backing.diskMode == "independent_persistent"
    esx_backend.start(machine.id)
    folder = out_folder(tmp_path)
    with pytest.raises(UnsupportedOperation, match=r"snapshots do not freeze \(independent "
                                                   r".*shut it down to back it up"):
        esx_backend.capture(machine.id, folder, progress=no_progress, cancel=CancelToken())
    assert esx_backend.list_snapshots(machine.id) == ((), "")
    esx_backend.power_off(machine.id)  # off, the export lease copies it as it is
    (copied,) = esx_backend.capture(machine.id, folder, progress=no_progress,
                                    cancel=CancelToken()).disks
    assert same_disk(machine.before, copied.path, "vmdk")


def test_a_temporary_snapshot_left_behind_is_named_and_never_deleted(
        esx_backend: EsxiBackend, machine: Machine, tmp_path: Path) -> None:
    esx_backend.start(machine.id)
    left = f"{TEMPORARY_SNAPSHOT} 2026-01-02 03:04:05 UTC"
    esx_backend.take_snapshot(machine.id, left, progress=no_progress, cancel=CancelToken())
    before = esx_backend.list_snapshots(machine.id)
    folder = out_folder(tmp_path)
    with pytest.raises(InvalidState, match=f"'{left}' left by an interrupted backup \\(or "
                                           "another backup of it is running now\\); delete it "
                                           "in Snapshots and back up again"):
        esx_backend.capture(machine.id, folder, progress=no_progress, cancel=CancelToken())
    assert esx_backend.list_snapshots(machine.id) == before  # not deleted, none added
    assert list(folder.iterdir()) == []


def test_the_users_own_snapshot_stays_and_only_the_temporary_one_goes(
        esx_backend: EsxiBackend, machine: Machine, tmp_path: Path) -> None:
    esx_backend.start(machine.id)
    mine = esx_backend.take_snapshot(machine.id, "mine", progress=no_progress,
                                     cancel=CancelToken())
    before = esx_backend.list_snapshots(machine.id)
    capture = esx_backend.capture(machine.id, out_folder(tmp_path), progress=no_progress,
                                  cancel=CancelToken())
    assert esx_backend.list_snapshots(machine.id) == before
    assert [s.id for root in capture.snapshots for s in root.walk()] == [mine.id]
    (disk,) = capture.disks
    assert same_disk(machine.before, disk.path, "vmdk")


def test_two_disks_are_each_copied_to_their_own_slot(
        esx_backend: EsxiBackend, machine: Machine, tmp_path: Path) -> None:
    add_disk(esx_backend, machine.id)
    second = on_datastore(esx_backend, esx_backend.get_machine(machine.id).spec
                          .storage[0].disks[1].path)
    other_raw, other = stream_vmdk(tmp_path, "second", 0x3C)
    second.write_bytes(other)
    esx_backend.start(machine.id)
    capture = esx_backend.capture(machine.id, out_folder(tmp_path), progress=no_progress,
                                  cancel=CancelToken())
    assert [(d.controller, d.port) for d in capture.disks] == [(0, 0), (0, 1)]
    assert same_disk(machine.before, capture.disks[0].path, "vmdk")
    assert same_disk(other_raw, capture.disks[1].path, "vmdk")
    assert esx_backend.list_snapshots(machine.id) == ((), "")


def test_a_cancel_while_the_snapshot_task_runs_leaves_no_snapshot(
        esx_backend: EsxiBackend, machine: Machine, tmp_path: Path) -> None:
    """Two guards remove it (snapshots.take, when the task ended although cancelled; the
    capture's undo): the snapshot stays when both are disabled (seen failing so)."""
    esx_backend.start(machine.id)
    token = CancelToken()

    def progress(_fraction: float | None, stage: str) -> None:
        if stage.startswith(f"Taking the snapshot {TEMPORARY_SNAPSHOT}"):  # the task runs
            token.cancel()

    folder = out_folder(tmp_path)
    with pytest.raises(OperationCancelled):
        esx_backend.capture(machine.id, folder, progress=progress, cancel=token)
    assert esx_backend.list_snapshots(machine.id) == ((), "")
    assert list(folder.iterdir()) == [] and leftovers(machine) == []
    assert esx_backend.get_machine(machine.id).summary.state is PowerState.RUNNING


def test_an_off_machine_is_copied_through_export_vm(
        esx_backend: EsxiBackend, esx: sim.Sim, machine: Machine, tmp_path: Path) -> None:
    leases_before = set(lease_events(esx))
    folder = out_folder(tmp_path)
    capture = esx_backend.capture(machine.id, folder, progress=no_progress,
                                  cancel=CancelToken())
    (disk,) = capture.disks
    assert same_disk(machine.before, disk.path, "vmdk")
    assert not capture.was_running
    assert esx_backend.list_snapshots(machine.id) == ((), "")  # none taken
    [(lease, events)] = new_leases(esx, leases_before).items()
    assert lease.startswith("desktopvm-export-") and events[-1] == "complete"


@pytest.fixture
def qemu(tmp_path: Path) -> Iterator[QemuBackend]:
    """QEMU's backend on a private library (its machines are never started here)."""
    backend = QemuBackend(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))
    yield backend
    for found in backend.list_machines():
        backend.delete(found.id, delete_disks=True, progress=no_progress, cancel=CancelToken())


@pytest.mark.qemu
def test_a_running_machine_is_backed_up_verified_and_restored_into_qemu(
        esx_backend: EsxiBackend, machine: Machine, qemu: QemuBackend, tmp_path: Path) -> None:
    esx_backend.start(machine.id)

    def progress(_fraction: float | None, stage: str) -> None:
        if stage == FROZEN:
            machine.live.write_bytes(machine.after)

    made = back_up(esx_backend, machine.id, tmp_path / "backups", progress=progress,
                   cancel=CancelToken())
    assert made.was_running and made.kind == "full" and made.parent == ""
    assert [d.format for d in made.disks] == [DiskFormat.QCOW2]
    verify(made.path, progress=no_progress, cancel=CancelToken())
    restored = restore(made.path, qemu, name="dvmtest-restored", progress=no_progress,
                       cancel=CancelToken())
    disk = Path(qemu.get_machine(restored).spec.all_disks()[0][1].path)
    assert same_disk(machine.before, disk, "qcow2")
    assert esx_backend.get_machine(machine.id).summary.state is PowerState.RUNNING
    assert esx_backend.list_snapshots(machine.id) == ((), "")


def test_a_lease_and_disk_count_mismatch_says_what_differs_and_that_retrying_will_not_help(
        ) -> None:
    from backends.esxi.backup import _same_count

    _same_count([Path("a"), Path("b")], [1, 2], "web")  # the same number: fine
    with pytest.raises(CommandFailed) as raised:
        _same_count([Path("a")], [1, 2], "web")
    assert raised.value.summary == (
        "The host's export lease served 1 disk file(s) of web, but it has 2 disk(s), so the "
        "files cannot be matched to its disks. Trying again will not help while its disks "
        "stay as they are")


def test_a_physical_raw_device_mapping_is_refused_as_snapshots_do_not_freeze_it() -> None:
    """vcsim does not take RDM backings: the rule is checked on the device objects."""
    from backends.esxi.backup import require_frozen_by_snapshots

    rdm = vim.vm.device.VirtualDisk(key=2001, backing=vim.vm.device.VirtualDisk
                                    .RawDiskMappingVer1BackingInfo(
                                        fileName="[ds] web/web-rdm.vmdk",
                                        compatibilityMode="physicalMode", diskMode=""))
    virtual = vim.vm.device.VirtualDisk(key=2002, backing=vim.vm.device.VirtualDisk
                                        .RawDiskMappingVer1BackingInfo(
                                            fileName="[ds] web/web-v.vmdk",
                                            compatibilityMode="virtualMode",
                                            diskMode="persistent"))
    require_frozen_by_snapshots("web", {2002: virtual}, [2002])  # virtual mode: frozen
    with pytest.raises(UnsupportedOperation, match=r"physical raw device mappings: \[ds\] "
                                                   r"web/web-rdm\.vmdk\)"):
        require_frozen_by_snapshots("web", {2001: rdm, 2002: virtual}, [2001, 2002])
