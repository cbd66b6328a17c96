"""Inventory, snapshots database and machine files, on real files and the stand-in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.vmware import vmsd
from backends.vmware.chains import parent_path, read_layer
from backends.vmware.inventory import inventory_paths, parse_list
from backends.vmware.vmx import VmxDocument
from desktopvm.model import Disk, DiskFormat, MachineSpec, defaults_for
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    InvalidSpec,
    InvalidState,
    PowerState,
    UnsupportedOperation,
    no_progress,
)
from desktopvm.testing.doubles.vmware.standin import FakeVMware
from tests.images.hostile import qemu_img


def test_the_fusion_inventory_lists_every_vm_and_skips_free_slots(shared_fixtures: Path):
    paths = inventory_paths(
        shared_fixtures / "vmware_unresolved_fusion_vminventory_anonymised.vmls")
    assert len(paths) == 5
    assert "/Users/fred/vms/alpine-3.13.5.vmwarevm/alpine-3.13.5.vmx" in paths


def test_vmrun_list_format():
    assert parse_list("Total running VMs: 2\n/a b/x.vmx\nC:\\VMs\\y.vmx\n") == [
        "/a b/x.vmx", "C:\\VMs\\y.vmx"]
    with pytest.raises(CommandFailed):
        parse_list("something else\n")


def test_the_real_vmsd_tree_current_and_times(shared_fixtures: Path):
    entries, current = vmsd.read_entries(
        VmxDocument.read(shared_fixtures / "vmware_xo_esxi_4_snapshots.vmsd"))
    assert current == "4"
    [root] = vmsd.tree(entries)
    assert [s.name for s in root.walk()] == ["SNAPSHOT POST INSTALL", "SECOND", "third",
                                             "from cli"]
    assert root.description == "blablabla"
    assert root.created == "2022-11-28T15:24:12+00:00"  # research §A.7, verified there


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeVMware]:
    fake = FakeVMware(tmp_path / "vmware")
    yield fake
    fake.close()  # the VNC servers of machines a test left running


def made(fake: FakeVMware, name: str = "m1") -> str:
    backend = fake.backend()
    spec = defaults_for("other-linux", backend.capabilities(), name=name)
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def test_one_vmrun_process_per_refresh_whatever_the_number_of_machines(fake: FakeVMware):
    for n in range(3):
        made(fake, f"m{n}")
    backend = fake.backend()
    before = len(fake.calls())
    assert len(backend.list_machines()) == 3
    assert len(fake.calls()) - before == 1
    assert fake.calls()[-1] == ["-T", "ws", "list"]


def test_created_machines_are_in_workstations_inventory_and_removed_from_it(fake: FakeVMware):
    machine = made(fake)
    inventory = fake.home / ".vmware" / "inventory.vmls"
    assert inventory_paths(inventory) == [machine]
    fresh = FakeVMware.__new__(FakeVMware)  # another DesktopVM without our own list
    vars(fresh).update(vars(fake))
    other = fresh.backend()
    other.library.own_list = fake.folder / "elsewhere.txt"
    assert [m.id for m in other.list_machines()] == [machine]  # found through the inventory
    spec = other.get_machine(machine).spec
    other.update(machine, spec, spec.model_copy(update={"name": "renamed"}),
                 progress=no_progress, cancel=CancelToken())
    assert VmxDocument.read(inventory).get("vmlist1.DisplayName") == "renamed"
    fake.backend().delete(machine, delete_disks=True, progress=no_progress,
                          cancel=CancelToken())
    assert inventory_paths(inventory) == []
    slot = VmxDocument.read(inventory)
    assert "vmlist1.config" in slot and slot.get("vmlist1.config") == ""  # a free slot
    assert slot.all_keys() == [".encoding", "vmlist1.config"]


def test_suspended_paused_and_the_windows_other_user(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    backend.pause(machine)
    assert backend.get_machine(machine).state is PowerState.PAUSED
    backend.save_state(machine, progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(machine).state is PowerState.SAVED
    backend.start(machine)
    fake.set(other_user=[machine])  # vmrun list on Windows hides another user's machines
    windows = FakeVMware.__new__(FakeVMware)
    vars(windows).update(vars(fake))
    windows.windows = True
    assert windows.backend().get_machine(machine).state is PowerState.UNKNOWN
    assert backend.get_machine(machine).state is PowerState.OFF  # elsewhere: a stale lock


def test_shutdown_without_vmware_tools_says_so(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.start(machine)
    fake.set(tools=False)
    with pytest.raises(InvalidState, match="VMware Tools"):
        backend.shutdown(machine)
    backend.power_off(machine)


def test_snapshot_names_vmrun_cannot_address_are_refused(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    backend.take_snapshot(machine, "base", progress=no_progress, cancel=CancelToken())
    for name in ("base", "a/b"):
        with pytest.raises(InvalidSpec):
            backend.take_snapshot(machine, name, progress=no_progress, cancel=CancelToken())
    assert [s.name for s in backend.list_snapshots(machine)[0]] == ["base"]


def test_a_duplicate_made_elsewhere_cannot_be_reverted_by_name(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    first = backend.take_snapshot(machine, "same", progress=no_progress, cancel=CancelToken())
    backend.vmrun.run("snapshot", machine, "same")  # as VMware's own UI allows
    with pytest.raises(UnsupportedOperation, match="more than one snapshot"):
        backend.restore_snapshot(machine, first.id, progress=no_progress, cancel=CancelToken())


def test_player_has_no_snapshots_or_clones(tmp_path: Path):
    fake = FakeVMware(tmp_path / "player", product="player")
    machine = made(fake)
    backend = fake.backend()
    assert [m.id for m in backend.list_machines()] == [machine]  # the default folder
    assert not backend.capabilities().linked_clone
    with pytest.raises(UnsupportedOperation):
        backend.take_snapshot(machine, "x", progress=no_progress, cancel=CancelToken())
    with pytest.raises(UnsupportedOperation):
        backend.clone(machine, "copy", progress=no_progress, cancel=CancelToken())


def test_edits_are_refused_while_vmware_holds_the_lock(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    old = backend.get_machine(machine).spec
    lock = Path(machine + ".lck")
    lock.mkdir()  # VMware's UI has the machine open
    controller = old.storage[0]
    more = controller.model_copy(update={"disks": (*controller.disks, Disk(
        format=DiskFormat.VMDK, size_bytes=2**20, port=2))})
    files = set(Path(machine).parent.iterdir())
    for new in (old.model_copy(update={"notes": "x"}),
                old.model_copy(update={"storage": (more,)})):
        with pytest.raises(InvalidState, match="VMware has it open"):
            backend.update(machine, old, new, progress=no_progress, cancel=CancelToken())
    assert set(Path(machine).parent.iterdir()) == files, "a disk was made before the refusal"
    lock.rmdir()
    backend.update(machine, old, old.model_copy(update={"notes": "x"}), progress=no_progress,
                   cancel=CancelToken())
    assert backend.get_machine(machine).spec.notes == "x"


def test_delete_keeps_what_is_not_the_machines(fake: FakeVMware):
    machine = made(fake)
    folder = Path(machine).parent
    (folder / "notes of the user.txt").write_text("mine", "utf-8")
    backend = fake.backend()
    disks = [Path(d.path) for _, d in backend.get_machine(machine).spec.all_disks()]
    backend.delete(machine, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert not Path(machine).exists()
    assert all(d.exists() for d in disks) and (folder / "notes of the user.txt").exists()
    shutil.rmtree(folder)


def test_a_negative_low_time_word_is_its_unsigned_value():
    # research §A.7: "(high<<32) | (low & 0xffffffff)", the low word may be written negative
    assert vmsd.created_at(388745, -100) == vmsd.created_at(388745, 2**32 - 100) != ""


def test_disk_sizes_are_read_and_an_edit_grows_a_disk_but_never_shrinks_it(fake: FakeVMware):
    machine = made(fake)
    backend = fake.backend()
    old = backend.get_machine(machine).spec
    [(_, disk)] = old.all_disks()
    assert disk.size_bytes == 20 * 2**30  # the catalog's 20 GiB, read from the header
    controller = old.storage[0]

    def sized(size: int) -> MachineSpec:
        return old.model_copy(update={"storage": (controller.model_copy(update={"disks": (
            disk.model_copy(update={"size_bytes": size}),)}),)})

    with pytest.raises(InvalidSpec, match="smaller"):
        backend.update(machine, old, sized(2**30), progress=no_progress, cancel=CancelToken())
    backend.update(machine, old, sized(21 * 2**30), progress=no_progress, cancel=CancelToken())
    assert backend.get_machine(machine).spec.all_disks()[0][1].size_bytes == 21 * 2**30
    assert ["-x", "21504MB", disk.path] in fake.calls("vmware-vdiskmanager")


def test_delete_with_disks_spares_non_disks_and_other_machines_disks(fake: FakeVMware,
                                                                     tmp_path: Path):
    first, second = made(fake, "first"), made(fake, "second")
    backend = fake.backend()
    precious = tmp_path / "precious.txt"
    precious.write_text("the user's", "utf-8")
    shared = Path(backend.get_machine(second).spec.all_disks()[0][1].path)
    document = VmxDocument.read(Path(first))  # a .vmx naming a file that is no disk,
    document.set("scsi0.present", "TRUE")     # and the other machine's disk
    document.apply({"scsi0:0.present": "TRUE", "scsi0:0.fileName": str(precious),
                    "scsi0:1.present": "TRUE", "scsi0:1.fileName": str(shared)})
    Path(first).write_bytes(document.to_bytes())
    backend.delete(first, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert precious.exists() and shared.exists()
    assert not Path(first).exists()


def test_another_machines_saved_state_in_the_same_folder_is_not_this_ones(fake: FakeVMware):
    machine = Path(made(fake, "web"))
    (machine.parent / "web2.vmss").write_bytes(b"another machine's")
    assert fake.backend().get_machine(str(machine)).state is PowerState.OFF
    (machine.parent / "web.vmss").write_bytes(b"its own")
    assert fake.backend().get_machine(str(machine)).state is PowerState.SAVED


def test_the_list_names_the_guest_os_by_our_catalog_id(fake: FakeVMware):
    """The .vmx says guestOS = "windows11-64"; the list (its icon, its "Windows 11") and the
    spec must agree on our id."""
    backend = fake.backend()
    spec = defaults_for("windows11", backend.capabilities(), name="w11")
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    [listed] = [m for m in backend.list_machines() if m.id == machine_id]
    assert listed.os == backend.get_machine(machine_id).spec.os == "windows11"


def test_a_failed_conversion_removes_only_its_own_parts(fake: FakeVMware, tmp_path: Path):
    """Clean-up after a failed convert globbed the target's raw name: "disk[1]" matched
    disk1-s001.vmdk, another disk."""
    from backends.vmware import disks

    other = tmp_path / "out" / "disk1-s001.vmdk"
    other.parent.mkdir()
    other.write_bytes(b"someone else's extent")
    cancel = CancelToken()
    cancel.cancel()
    source = tmp_path / "source.vmdk"
    qemu_img("create", "-f", "vmdk", str(source), "1M")
    with pytest.raises(BackendError):
        disks.convert(fake.backend().vmrun, source, other.parent / "disk[1].vmdk",
                      DiskFormat.VMDK, cancel=cancel, progress=no_progress)
    assert other.read_bytes() == b"someone else's extent"


def test_delete_with_disks_takes_a_snapshotted_disk_whole(fake: FakeVMware, tmp_path: Path):
    """With snapshots the .vmx names the newest delta: the base it reads through goes too
    (it was left behind once), but never a base another machine's chain reads through."""
    first = made(fake, "first")
    backend = fake.backend()
    base = Path(backend.get_machine(first).spec.all_disks()[0][1].path)
    backend.take_snapshot(first, "one", progress=no_progress, cancel=CancelToken())
    backend.take_snapshot(first, "two", progress=no_progress, cancel=CancelToken())
    top = Path(backend.get_machine(first).spec.all_disks()[0][1].path)
    assert top != base and base.exists()
    folder = base.parent
    backend.delete(first, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not list(folder.glob("*.vmdk")), list(folder.glob("*.vmdk"))

    # A machine whose disk reads through another machine's base (made outside DesktopVM,
    # no back-reference to refuse it by): that base stays.
    second, third = made(fake, "second"), made(fake, "third")
    base = Path(backend.get_machine(second).spec.all_disks()[0][1].path)
    backend.take_snapshot(second, "one", progress=no_progress, cancel=CancelToken())
    child = Path(third).parent / "reads-through.vmdk"  # its parentFileNameHint: the base
    qemu_img("create", "-f", "vmdk", "-b", str(base), "-F", "vmdk", str(child))
    document = VmxDocument.read(Path(third))
    document.apply({"scsi0:1.present": "TRUE", "scsi0:1.fileName": str(child)})
    Path(third).write_bytes(document.to_bytes())
    backend.delete(second, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert base.exists() and not Path(second).exists()


def test_delete_with_disks_keeps_a_base_named_through_dot_dot_or_a_symlinked_folder(
        fake: FakeVMware, tmp_path: Path):
    """Another machine's chain names this one's disk `../second/second-disk0.vmdk` (a
    relative hint, qemu-img create -b writes it as given) or through a symlinked folder: the
    same file, so deleting this machine with its disks keeps it."""
    backend = fake.backend()
    first, second = made(fake, "first"), made(fake, "second")
    base = Path(backend.get_machine(second).spec.all_disks()[0][1].path)
    child = Path(first).parent / "reads-through.vmdk"
    relative = f"../{base.parent.name}/{base.name}"
    qemu_img("create", "-f", "vmdk", "-b", relative, "-F", "vmdk", str(child))
    assert f'parentFileNameHint="{relative}"'.encode() in child.read_bytes()
    assert parent_path(read_layer(child), windows=False) == base  # `..` folded
    document = VmxDocument.read(Path(first))
    document.apply({"scsi0.present": "TRUE", "scsi0:1.present": "TRUE",
                    "scsi0:1.fileName": str(child)})
    Path(first).write_bytes(document.to_bytes())
    backend.delete(second, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert base.exists() and not Path(second).exists()

    third, fourth = made(fake, "third"), made(fake, "fourth")
    base = Path(backend.get_machine(fourth).spec.all_disks()[0][1].path)
    linked = tmp_path / "library-link"
    linked.symlink_to(base.parent.parent, target_is_directory=True)
    child = Path(third).parent / "through-a-link.vmdk"
    qemu_img("create", "-f", "vmdk", "-b", str(linked / base.parent.name / base.name),
             "-F", "vmdk", str(child))
    document = VmxDocument.read(Path(third))
    document.apply({"scsi0.present": "TRUE", "scsi0:1.present": "TRUE",
                    "scsi0:1.fileName": str(child)})
    Path(third).write_bytes(document.to_bytes())
    backend.delete(fourth, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert base.exists() and not Path(fourth).exists()


def test_a_linked_clone_not_found_now_still_keeps_its_base(fake: FakeVMware):
    """The .vmsd's back-reference counts even when the clone's .vmx is not there now (a
    drive that is not connected): deleting the disks is refused in words, keeping them
    is not."""
    backend = fake.backend()
    source = made(fake, "source")
    base = Path(backend.get_machine(source).spec.all_disks()[0][1].path)
    backend.take_snapshot(source, "one", progress=no_progress, cancel=CancelToken())
    clone = backend.clone(source, "copy", linked=True, snapshot_id=next(
        s.id for s in backend.get_machine(source).snapshots), progress=no_progress,
        cancel=CancelToken())
    with pytest.raises(InvalidState, match=r"linked clone.*'copy' are built on them"):
        backend.delete(source, delete_disks=True, progress=no_progress, cancel=CancelToken())
    unplugged = Path(clone).with_name("elsewhere.vmx")
    Path(clone).rename(unplugged)
    with pytest.raises(InvalidState, match=r"at .*copy\.vmx, not found now — on a drive that "
                                           r"is not connected\?.*keep its disks"):
        backend.delete(source, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert base.exists()
    backend.delete(source, delete_disks=False, progress=no_progress, cancel=CancelToken())
    assert base.exists() and not Path(source).exists()


def test_a_clone_count_without_a_path_still_refuses_deleting_the_disks(fake: FakeVMware):
    backend = fake.backend()
    source = made(fake, "counted")
    backend.take_snapshot(source, "one", progress=no_progress, cancel=CancelToken())
    vmsd_file = Path(source).with_suffix(".vmsd")
    document = VmxDocument.read(vmsd_file)
    document.set("snapshot0.numClones", "1")  # counted, no snapshot0.clone0 naming it
    vmsd_file.write_bytes(document.to_bytes())
    with pytest.raises(InvalidState, match="counts 1 linked clone"):
        backend.delete(source, delete_disks=True, progress=no_progress, cancel=CancelToken())


def test_a_linked_clone_deleted_here_no_longer_keeps_its_bases_disks(fake: FakeVMware):
    """Deleting the clone drops its back-reference from the source's .vmsd (another clone's
    stays), so the source's disks can be deleted once no clone is left."""
    backend = fake.backend()
    source = made(fake, "source")
    backend.take_snapshot(source, "one", progress=no_progress, cancel=CancelToken())
    snapshot = backend.get_machine(source).snapshots[0].id
    first, second = (backend.clone(source, name, linked=True, snapshot_id=snapshot,
                                   progress=no_progress, cancel=CancelToken())
                     for name in ("first", "second"))
    backend.delete(first, delete_disks=True, progress=no_progress, cancel=CancelToken())
    with pytest.raises(InvalidState, match=r"linked clone\(s\) 'second' are built on them"):
        backend.delete(source, delete_disks=True, progress=no_progress, cancel=CancelToken())
    backend.delete(second, delete_disks=True, progress=no_progress, cancel=CancelToken())
    base = Path(backend.get_machine(source).spec.all_disks()[0][1].path)
    backend.delete(source, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert not base.exists() and not Path(source).exists()
