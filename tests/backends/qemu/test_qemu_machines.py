"""The QEMU backend end to end on real QEMU (TCG) with the test guest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.qemu import process
from backends.qemu.backend import QemuBackend
from desktopvm.model import ControllerKind, CpuSpec, MemorySpec, defaults_for
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidSpec,
    PowerState,
    no_progress,
)
from desktopvm.settings import Settings
from desktopvm.testing.qemu_guest import READY, SerialReader, guest_spec

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def wait_state(backend, machine_id: str, wanted: PowerState, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (state := backend.get_machine(machine_id).state) is not wanted:
        assert time.monotonic() < deadline, f"still {state}, wanted {wanted}"
        time.sleep(0.05)


def create(backend, spec):
    return backend.create(spec, progress=no_progress, cancel=CancelToken())


def boot(backend, machine_id: str) -> SerialReader:
    backend.start(machine_id)
    reader = SerialReader(backend, machine_id)
    reader.wait_for(READY, poke=True)
    return reader


def test_guest_sees_the_cpus_memory_and_disk_of_the_spec(qemu, guest_iso):
    spec = guest_spec("sized", guest_iso).model_copy(update={
        "cpu": CpuSpec(count=2), "memory": MemorySpec(size_mib=320)})
    machine_id = create(qemu, spec)
    reader = boot(qemu, machine_id)
    out = reader.run("cat /sys/devices/system/cpu/online; echo DONE-$((1+1))", b"DONE-2")
    assert b"0-1" in out
    assert b"cpus=2" in reader.seen
    mem = int(reader.seen.split(b"mem_mib=")[1].split()[0])
    assert 250 < mem <= 320
    assert b"vda" in reader.seen  # the virtio disk
    reader.close()


@pytest.mark.parametrize("bus", [ControllerKind.SATA, ControllerKind.SCSI, ControllerKind.NVME,
                                 ControllerKind.IDE])
def test_each_controller_kind_gives_the_guest_a_disk(qemu, guest_iso, bus):
    if bus in (ControllerKind.SATA, ControllerKind.IDE):
        # Debian's cloud kernel has no AHCI/PATA drivers; its generic kernel has them.
        from desktopvm.testing.guest.build_iso import build_test_iso
        guest_iso = build_test_iso(flavour="generic")
    machine_id = create(qemu, guest_spec(f"bus-{bus.value}", guest_iso, disk_bus=bus))
    reader = boot(qemu, machine_id)
    expected = {ControllerKind.NVME: b"nvme0n1"}.get(bus, b"sd")
    line = reader.seen.split(b"disks=")[1].split(b"\n")[0]
    assert expected in line, line
    reader.close()


def test_defaults_lifecycle_snapshot_restore_and_acpi_shutdown(qemu, guest_iso):
    spec = defaults_for("debian12", qemu.capabilities(), name="from defaults")
    # Boot the test ISO from the spec the catalog recommends (UEFI firmware swapped for BIOS:
    # the test ISO boots with isolinux).
    template = guest_spec("x", guest_iso)
    spec = spec.model_copy(update={"firmware": template.firmware, "memory": template.memory,
                                   "storage": template.storage, "network": (),
                                   "serial": template.serial,
                                   "boot_order": template.boot_order})
    machine_id = create(qemu, spec)
    reader = boot(qemu, machine_id)
    qemu.pause(machine_id)
    wait_state(qemu, machine_id, PowerState.PAUSED)
    qemu.resume(machine_id)
    wait_state(qemu, machine_id, PowerState.RUNNING)
    reader.run("echo before > /tmp/mark; echo WROTE", b"WROTE")
    snap = qemu.take_snapshot(machine_id, "with memory", include_memory=True,
                              progress=no_progress, cancel=CancelToken())
    assert snap.has_memory
    reader.run("echo after > /tmp/mark; echo CHANGED", b"CHANGED")
    qemu.restore_snapshot(machine_id, snap.id, progress=no_progress, cancel=CancelToken())
    out = reader.run("cat /tmp/mark; echo READ-$((2*3))", b"READ-6")
    assert b"before" in out and b"after\r\n" not in out.split(b"cat /tmp/mark")[-1]
    qemu.shutdown(machine_id)
    reader.wait_for(b"POWER-BUTTON")
    wait_state(qemu, machine_id, PowerState.OFF)
    reader.close()


def test_a_fresh_backend_reconnects_to_a_running_machine(qemu, guest_iso, tmp_path):
    machine_id = create(qemu, guest_spec("survivor", guest_iso))
    boot(qemu, machine_id).close()
    other = QemuBackend(qemu.settings)
    assert other.get_machine(machine_id).state is PowerState.RUNNING
    other.pause(machine_id)
    assert qemu.get_machine(machine_id).state is PowerState.PAUSED
    other.power_off(machine_id)
    assert qemu.get_machine(machine_id).state is PowerState.OFF


def test_killed_qemu_shows_as_aborted_and_can_start_again(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("victim", guest_iso))
    qemu.start(machine_id)
    runtime = qemu.store.running_runtime(qemu.store.files(machine_id))
    assert runtime is not None
    process.kill(runtime.pid)
    assert process.wait_for_exit(runtime.pid, 10)
    assert qemu.get_machine(machine_id).state is PowerState.ABORTED
    assert not Path(runtime.run_dir).exists()  # stale sockets cleaned up
    assert qemu.get_machine(machine_id).state is PowerState.ABORTED  # and it stays so
    boot(qemu, machine_id).close()
    assert qemu.get_machine(machine_id).state is PowerState.RUNNING


def test_save_state_and_resume_where_it_left_off(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("saver", guest_iso))
    reader = boot(qemu, machine_id)
    reader.run("echo remembered > /tmp/mark; echo OK1", b"OK1")
    reader.close()
    qemu.save_state(machine_id, progress=no_progress, cancel=CancelToken())
    assert qemu.get_machine(machine_id).state is PowerState.SAVED
    qemu.start(machine_id)
    wait_state(qemu, machine_id, PowerState.RUNNING)
    reader = SerialReader(qemu, machine_id)
    out = reader.run("cat /tmp/mark; echo OK-$((3*3))", b"OK-9")
    assert b"remembered" in out
    reader.close()


def test_full_and_linked_clones_boot(qemu, guest_iso):
    source = create(qemu, guest_spec("source", guest_iso))
    full = qemu.clone(source, "full copy", progress=no_progress, cancel=CancelToken())
    linked = qemu.clone(source, "linked copy", linked=True, progress=no_progress,
                        cancel=CancelToken())
    macs = {qemu.get_machine(m).spec.network for m in (source, full, linked)}
    assert len(macs) == 3 or macs == {()}
    for machine_id in (source, full, linked):
        reader = boot(qemu, machine_id)
        reader.close()
        qemu.power_off(machine_id)
    linked_disk = Path(qemu.get_machine(linked).spec.all_disks()[0][1].path)
    assert qemu.disk_info(linked_disk).backing_file
    # Deleting the source with its disks keeps the base the linked clone needs.
    qemu.delete(source, delete_disks=True, progress=no_progress, cancel=CancelToken())
    boot(qemu, linked).close()


def test_invalid_spec_and_existing_disk_path_are_refused(qemu, guest_iso, tmp_path):
    taken = tmp_path / "taken.qcow2"
    taken.write_bytes(b"precious")
    spec = guest_spec("clash", guest_iso)
    controller = spec.storage[0]
    disk = controller.disks[0].model_copy(update={"path": str(taken)})
    bad = spec.model_copy(update={"storage": (controller.model_copy(update={"disks": (disk,)}),
                                              *spec.storage[1:])})
    with pytest.raises(InvalidSpec, match="already exists"):
        create(qemu, bad)
    assert taken.read_bytes() == b"precious"
    assert qemu.list_machines() == []


def test_missing_qemu_is_backend_unavailable_with_a_hint(tmp_path):
    backend = QemuBackend(Settings(library_dir=str(tmp_path), qemu_binary="/nonexistent/qemu"))
    probe = backend.probe()
    assert not probe.available and "apt-get install qemu-system-x86" in probe.install_hint


def test_screenshot_and_typing_reach_the_guest(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("screen", guest_iso))
    reader = boot(qemu, machine_id)
    png = qemu.screenshot(machine_id)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    reader.close()


def test_ova_export_then_import_boots(qemu, guest_iso, tmp_path):
    spec = guest_spec("exported ‘vm’", guest_iso)
    spec = spec.model_copy(update={"display": spec.display.model_copy(
        update={"video_memory_mib": 64})})
    source = create(qemu, spec)
    boot(qemu, source).close()
    qemu.power_off(source)
    ova = tmp_path / "out.ova"
    reports: list[float | None] = []
    qemu.export(source, ova, progress=lambda f, s: reports.append(f), cancel=CancelToken())
    assert ova.stat().st_size > 0 and reports
    assert not list(tmp_path.glob(".out.ova.parts-*"))  # temporary files gone
    imported = qemu.import_machine(ova, name="imported", progress=no_progress,
                                   cancel=CancelToken())
    info = qemu.get_machine(imported)
    original = qemu.get_machine(source).spec
    assert (info.spec.cpu, info.spec.memory.size_mib) == (original.cpu, original.memory.size_mib)
    assert len(info.spec.all_disks()) == 1
    # The round trip keeps the disk's bus, its size and the video memory (issue #13).
    assert [c.kind for c in info.spec.storage if c.disks] == \
        [c.kind for c in original.storage if c.disks]
    assert info.spec.display.video_memory_mib == 64
    [(_, copied)], [(_, first)] = info.spec.all_disks(), original.all_disks()
    assert qemu.disk_info(Path(copied.path)).virtual_size == \
        qemu.disk_info(Path(first.path)).virtual_size
    # OVF carries neither the ISO nor serial ports: add them back to boot and watch it.
    storage = tuple(c.model_copy(update={"optical": tuple(
        o.model_copy(update={"iso": str(guest_iso)}) for o in c.optical)})
        for c in info.spec.storage)
    edited = info.spec.model_copy(update={"storage": storage, "serial": original.serial,
                                          "boot_order": original.boot_order})
    qemu.update(imported, info.spec, edited, progress=no_progress, cancel=CancelToken())
    boot(qemu, imported).close()


def test_import_of_a_package_without_its_disks_fails_cleanly(qemu, tmp_path, shared_fixtures):
    descriptor = shared_fixtures / "vbox43_exported_appliance_test_1.ovf"
    with pytest.raises(BackendError, match="missing"):
        qemu.import_machine(descriptor, progress=no_progress, cancel=CancelToken())
    assert qemu.list_machines() == []
    assert [p.name for p in qemu.store.library.iterdir()] == []


def rfb_security_types(path: str) -> list[int]:
    """The security types a VNC server offers (RFB 3.8 handshake up to that point)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        assert sock.recv(12).startswith(b"RFB 003.")
        sock.sendall(b"RFB 003.008\n")
        count = sock.recv(1)[0]
        return list(sock.recv(count))


def test_vnc_console_is_a_local_socket_optionally_with_a_password(qemu, guest_iso, tmp_path):
    machine_id = create(qemu, guest_spec("vnc", guest_iso))
    qemu.start(machine_id)
    vnc = qemu.console(machine_id).vnc
    assert vnc is not None and vnc.unix_socket and not vnc.port and not vnc.password
    assert rfb_security_types(vnc.unix_socket) == [1]  # None: only this user can reach it
    qemu.power_off(machine_id)
    guarded = QemuBackend(qemu.settings.replace(vnc_password=True))
    guarded.start(machine_id)
    vnc = guarded.console(machine_id).vnc
    assert vnc is not None and len(vnc.password) == 8
    assert rfb_security_types(vnc.unix_socket) == [2]  # VNC Authentication
    guarded.power_off(machine_id)


def test_typed_keys_reach_the_guest_keyboard(qemu, guest_iso):
    machine_id = create(qemu, guest_spec("keys", guest_iso))
    reader = boot(qemu, machine_id)
    # Find the PS/2 keyboard's event device and record what it reports.
    reader.run("for d in /sys/class/input/event*; do grep -q 'AT Translated' $d/device/name "
               "&& K=/dev/input/${d##*/}; done; dd if=$K of=/tmp/keys bs=24 count=8 2>/dev/null "
               "& echo LISTENING-$((5*5))", b"LISTENING-25")
    qemu.type_text(machine_id, "ab")
    qemu.send_keys(machine_id, ["ctrl-alt-f2"])
    out = reader.run("sleep 1; wc -c < /tmp/keys; echo COUNTED-$((6*6))", b"COUNTED-36")
    counted = [int(word) for word in out.split() if word.isdigit()]
    assert counted and counted[0] >= 24 * 4, out  # press and release events arrived
    reader.close()
