"""Hostile appliances and disks against every import path: refused, and no host byte copied.

Each trick points at a canary file of "the host". Before the image rules, the QEMU import
copied the canary into the new machine's disk (review-security.md D1, D2); the first test
shows the tricks still work on a bare qemu-img, so the refusals below are not vacuous.
"""

from __future__ import annotations

import os
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.model import Disk, DiskFormat, defaults_for
from desktopvm.ovf import OvfError, check_appliance
from desktopvm.protocol import BackendError, CancelToken, InvalidSpec, no_progress
from desktopvm.settings import Settings
from tests.images import hostile
from tests.images.hostile import CANARY, TRICKS, canary, contains_canary, qemu_img
from tests.ovf.helpers import CPU_AND_MEMORY, SATA_WITH_DISK, envelope

BARE_QEMU_IMG_COPIES = [  # tricks that a probing qemu-img convert follows (QEMU 7.2)
    "qcow2 backing file, absolute", "qcow2 backing file, relative",
    "qcow2 backing file, json: pseudo-protocol", "qcow2 external data file",
    "qcow2 named .vmdk, declared VMDK", "VMDK descriptor, absolute extent",
    "VMDK descriptor, relative extent",
]


def descriptor(href: str, url: str) -> bytes:
    """An OVF with one SATA disk `href` whose DiskSection declares the format `url`."""
    disks = (f'<Disk ovf:capacity="1048576" ovf:diskId="vmdisk1" ovf:fileRef="file1" '
             f'ovf:format="{url}"/>')
    return envelope(items=CPU_AND_MEMORY + SATA_WITH_DISK,
                    refs=f'<File ovf:href="{href}" ovf:id="file1"/>', disks=disks)


def make_ova(path: Path, disk: Path, url: str) -> Path:
    """An OVA holding the descriptor and `disk` (no manifest: none is needed to be hostile)."""
    ovf = path.parent / "appliance.ovf"
    ovf.write_bytes(descriptor(disk.name, url))
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(ovf, "appliance.ovf")
        tar.add(disk, disk.name)
    ovf.unlink()
    return path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, Path, QemuBackend]]:
    """(the host's secret, a downloads folder, a QEMU backend on tmp/library)."""
    host = canary(tmp_path / "host")
    downloads = tmp_path / "downloads" / "pkg"
    downloads.mkdir(parents=True)
    yield host, downloads, QemuBackend(Settings(library_dir=str(tmp_path / "library")))


def assert_nothing_left(backend: QemuBackend) -> None:
    library = backend.store.library
    assert backend.list_machines() == []
    assert not contains_canary(library) if library.exists() else True
    leftovers = [p for p in library.rglob("*") if p.is_file() and not p.name.endswith(".lock")] \
        if library.exists() else []
    assert leftovers == []


@pytest.mark.parametrize("trick", BARE_QEMU_IMG_COPIES)
def test_the_tricks_are_real_a_bare_qemu_img_copies_the_canary(world, trick: str):
    host, downloads, _backend = world
    build, _url = TRICKS[trick]
    disk = build(downloads, host)
    out = downloads.parent / "out.qcow2"
    qemu_img("convert", "-O", "qcow2", str(disk), str(out))  # format probed, chain followed
    assert contains_canary(out.parent) == [out]


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_qemu_import_of_a_hostile_ova_is_refused_and_copies_nothing(world, trick: str):
    host, downloads, backend = world
    build, url = TRICKS[trick]
    disk = build(downloads, host)
    ova = make_ova(downloads.parent / "evil.ova", disk, url)
    with pytest.raises(BackendError) as refused:
        backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
    summary = refused.value.summary
    assert "\n" not in summary and summary.startswith(f"Cannot import evil.ova: {disk.name} ")
    assert ".import-" not in summary  # names the package's member, not our scratch folder
    assert_nothing_left(backend)


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_qemu_import_of_a_hostile_ovf_folder_is_refused(world, trick: str):
    host, downloads, backend = world
    build, url = TRICKS[trick]
    disk = build(downloads, host)
    ovf = downloads / "appliance.ovf"
    ovf.write_bytes(descriptor(disk.name, url))
    with pytest.raises(BackendError, match=f"Cannot import appliance.ovf: {disk.name} "):
        backend.import_machine(ovf, progress=no_progress, cancel=CancelToken())
    assert_nothing_left(backend)


def clean_vmdk(folder: Path) -> Path:
    disk = folder / "clean.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", str(disk), "1M")
    return disk


def test_an_ovf_folder_cannot_import_a_symlink_to_a_host_file(world):
    host, downloads, backend = world
    (downloads / "disk1.vmdk").symlink_to(clean_vmdk(host.parent))  # a valid disk, elsewhere
    ovf = downloads / "appliance.ovf"
    ovf.write_bytes(descriptor("disk1.vmdk", hostile.VMDK_URL))
    with pytest.raises(BackendError, match=re.escape("disk1.vmdk is a symbolic link")):
        backend.import_machine(ovf, progress=no_progress, cancel=CancelToken())
    assert_nothing_left(backend)


def test_an_ovf_folder_cannot_reach_through_a_symlinked_folder(world):
    host, downloads, backend = world
    clean_vmdk(host.parent)
    (downloads / "disks").symlink_to(host.parent)
    ovf = downloads / "appliance.ovf"
    ovf.write_bytes(descriptor("disks/clean.vmdk", hostile.VMDK_URL))
    with pytest.raises(BackendError, match=re.escape("disks/clean.vmdk is a symbolic link")):
        backend.import_machine(ovf, progress=no_progress, cancel=CancelToken())


def test_an_ovf_folder_cannot_import_a_hard_link_to_a_host_file(world):
    host, downloads, backend = world
    os.link(host, downloads / "disk1.img")
    ovf = downloads / "appliance.ovf"
    ovf.write_bytes(descriptor("disk1.img", ""))  # raw by its extension: the canary is raw
    with pytest.raises(BackendError, match=re.escape("disk1.img is a hard link")):
        backend.import_machine(ovf, progress=no_progress, cancel=CancelToken())
    assert_nothing_left(backend)


def test_a_clean_ova_still_imports(world):
    _host, downloads, backend = world
    ova = make_ova(downloads.parent / "good.ova", clean_vmdk(downloads), hostile.VMDK_URL)
    machine_id = backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
    disks = [d for _, d in backend.get_machine(machine_id).spec.all_disks()]
    assert [d.format for d in disks] == [DiskFormat.QCOW2]
    assert backend.disk_info(Path(disks[0].path)).virtual_size == 1024 * 1024


class Listener:
    """A loopback TCP server that counts the connections it is offered."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                peer, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            peer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def test_an_nbd_backing_file_makes_no_connection(world):
    _host, downloads, backend = world
    listener = Listener()
    try:
        disk = hostile.qcow2_backing(downloads / "disk1.qcow2",
                                     f"nbd://127.0.0.1:{listener.port}/x")
        ova = make_ova(downloads.parent / "evil.ova", disk, hostile.QCOW_URL)
        with pytest.raises(BackendError, match=re.escape("backing file 'nbd://127.0.0.1")):
            backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
        # Disk tools name the backing file, never open it.
        assert backend.disk_info(disk).backing_file == f"nbd://127.0.0.1:{listener.port}/x"
    finally:
        listener.close()
    assert listener.connections == 0
    assert_nothing_left(backend)


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_an_existing_disk_from_outside_is_refused_at_create(world, trick: str):
    host, downloads, backend = world
    build, _url = TRICKS[trick]
    disk = build(downloads, host)
    spec = defaults_for("debian12", backend.capabilities()).model_copy(update={"name": "x"})
    controller = spec.storage[0]
    spec = spec.model_copy(update={"storage": (controller.model_copy(update={
        "disks": (Disk(path=str(disk), existing=True, format=DiskFormat.QCOW2),)}),)})
    with pytest.raises(InvalidSpec) as refused:
        backend.create(spec, progress=no_progress, cancel=CancelToken())
    assert f"{disk.name} " in refused.value.summary
    assert_nothing_left(backend)


def test_an_existing_disk_takes_the_format_its_contents_say(world):
    _host, downloads, backend = world
    disk = downloads / "mislabelled.img"
    qemu_img("create", "-q", "-f", "qcow2", str(disk), "1M")
    spec = defaults_for("debian12", backend.capabilities()).model_copy(update={"name": "y"})
    controller = spec.storage[0]
    spec = spec.model_copy(update={"storage": (controller.model_copy(update={
        "disks": (Disk(path=str(disk), existing=True, format=DiskFormat.RAW),)}),)})
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    [(_, attached)] = backend.get_machine(machine_id).spec.all_disks()
    assert attached.format is DiskFormat.QCOW2


@pytest.mark.parametrize("trick", BARE_QEMU_IMG_COPIES)
def test_disk_convert_refuses_a_hostile_source(world, trick: str):
    host, downloads, backend = world
    build, _url = TRICKS[trick]
    disk = build(downloads, host)
    target = downloads.parent / "converted.qcow2"
    with pytest.raises(BackendError, match=f"Cannot convert {disk.name}: "):
        backend.convert_disk(disk, target, DiskFormat.QCOW2, progress=no_progress,
                             cancel=CancelToken())
    assert not target.exists()


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_check_appliance_refuses_every_trick_inside_an_ova_without_extracting(world, trick):
    host, downloads, _backend = world
    build, url = TRICKS[trick]
    ova = make_ova(downloads.parent / "evil.ova", build(downloads, host), url)
    before = set(downloads.parent.rglob("*"))
    with pytest.raises(OvfError) as refused:
        check_appliance(ova)
    assert "\n" not in str(refused.value)
    assert set(downloads.parent.rglob("*")) == before


def test_check_appliance_refuses_a_hostile_iso_member_too(world):
    host, downloads, _backend = world
    evil = hostile.qcow2_backing(downloads / "tools.iso", str(host))
    ova = make_ova(downloads.parent / "evil.ova", clean_vmdk(downloads), hostile.VMDK_URL)
    with tarfile.open(ova, "a") as tar:
        tar.add(evil, "tools.iso")
    with pytest.raises(OvfError, match=re.escape("tools.iso refers to backing file")):
        check_appliance(ova)


def test_the_canary_is_found_where_it_is(tmp_path: Path):
    copy = tmp_path / "library" / "disk.qcow2"
    copy.parent.mkdir()
    copy.write_bytes(bytes(4096) + CANARY + bytes(4096))
    assert contains_canary(tmp_path) == [copy]


def test_a_given_qcow2_format_cuts_the_backing_chain_even_unchecked(world):
    """Belt and braces: convert with source_format never opens a backing file."""
    host, downloads, backend = world
    disk = hostile.qcow2_backing(downloads / "disk1.qcow2", str(host))
    out = downloads.parent / "out.qcow2"
    backend.qemu_img.convert(disk, out, DiskFormat.QCOW2, source_format=DiskFormat.QCOW2)
    assert contains_canary(out.parent) == []


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_virtualbox_import_checks_the_package_before_vboxmanage_reads_it(world, trick: str):
    from desktopvm.testing.doubles.virtualbox.double import FakeVBox

    host, downloads, _backend = world
    fake = FakeVBox(downloads.parent / "vbox", "7.2")
    build, url = TRICKS[trick]
    ova = make_ova(downloads.parent / "evil.ova", build(downloads, host), url)
    with pytest.raises(BackendError) as refused:
        fake.backend().import_machine(ova, progress=no_progress, cancel=CancelToken())
    assert refused.value.summary.startswith("Cannot import evil.ova: disk1.")
    assert not any(call[:1] == ["import"] for call in fake.calls())
    assert fake.state()["vms"] == {}


def test_virtualbox_import_of_its_own_export_still_works(tmp_path: Path):
    from tests.conformance.harness import virtualbox_replay_harness

    with virtualbox_replay_harness(tmp_path) as harness:
        backend = harness.backend
        machine_id = backend.create(harness.make_spec("exported"), progress=no_progress,
                                    cancel=CancelToken())
        ova = tmp_path / "exported.ova"
        backend.export(machine_id, ova, progress=no_progress, cancel=CancelToken())
        appliance = check_appliance(ova)  # the double writes what VirtualBox writes: an OVA
        assert len(appliance.disks) >= 1
        backend.import_machine(ova, name="again", progress=no_progress, cancel=CancelToken())
        assert "again" in [m.name for m in backend.list_machines()]


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_virtualbox_refuses_an_existing_disk_from_outside_before_createvm(world, trick: str):
    from desktopvm.testing.doubles.virtualbox.double import FakeVBox

    host, downloads, _backend = world
    fake = FakeVBox(downloads.parent / "vbox", "7.2")
    backend = fake.backend()
    build, _url = TRICKS[trick]
    disk = build(downloads, host)
    spec = defaults_for("debian12", backend.capabilities()).model_copy(update={"name": "x"})
    controller = spec.storage[0]
    spec = spec.model_copy(update={"storage": (controller.model_copy(update={
        "disks": (Disk(path=str(disk), existing=True, format=DiskFormat.VDI),)}),)})
    with pytest.raises(InvalidSpec, match=re.escape(disk.name)):
        backend.create(spec, progress=no_progress, cancel=CancelToken())
    assert not any(call[:1] == ["createvm"] for call in fake.calls())


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_vmware_import_refuses_every_trick_and_copies_nothing(world, trick: str):
    """VMware Workstation's import (our OVF mapping) checks the package before any tool or
    copy touches a disk: refused in one line, no machine, the canary nowhere."""
    from desktopvm.testing.doubles.vmware.standin import FakeVMware

    host, downloads, _backend = world
    fake = FakeVMware(downloads.parent / "vmware")
    build, url = TRICKS[trick]
    ova = make_ova(downloads.parent / "evil.ova", build(downloads, host), url)
    backend = fake.backend()
    with pytest.raises(BackendError) as refused:
        backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
    assert "\n" not in refused.value.summary and "disk1." in refused.value.summary
    assert backend.list_machines() == []
    assert contains_canary(fake.folder) == []
    assert fake.calls("vmware-vdiskmanager") == []


@pytest.fixture(scope="module")
def vcsim_esx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from desktopvm.testing.doubles.esxi import sim

    reason = sim.missing_reason()
    if reason:
        pytest.skip(reason)
    running = sim.start(tmp_path_factory.mktemp("vcsim-hostile"))
    try:
        yield running
    finally:
        running.stop()


def _uploads(esx: object) -> dict[str, int]:
    import json
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(esx.tls.ca))  # type: ignore[attr-defined]
    url = f"https://127.0.0.1:{esx.port}/desktopvm/nfc"  # type: ignore[attr-defined]
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        return {k: int(v) for k, v in json.loads(answer.read()).items()}


@pytest.mark.vcsim
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_esxi_import_refuses_every_trick_before_any_upload(world, vcsim_esx, trick: str):
    """ESXi's import (an HttpNfcLease upload of each disk) checks the package first: a hostile
    disk is refused in one line, no machine is made and not one byte goes to the host."""
    from backends.esxi import open_remote
    from desktopvm.testing.doubles.esxi import sim

    host, downloads, _backend = world
    build, url = TRICKS[trick]
    ova = make_ova(downloads.parent / "evil.ova", build(downloads, host), url)
    backend = open_remote(vcsim_esx.host(), password=sim.PASSWORD)
    try:
        names = {m.name for m in backend.list_machines()}
        before = _uploads(vcsim_esx)
        with pytest.raises(BackendError) as refused:
            backend.import_machine(ova, name="dvmtest-evil", progress=no_progress,
                                   cancel=CancelToken())
        assert "\n" not in refused.value.summary and "disk1." in refused.value.summary
        assert {m.name for m in backend.list_machines()} == names
        assert _uploads(vcsim_esx) == before
    finally:
        backend.close()
