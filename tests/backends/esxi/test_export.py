"""OVA/OVF export through the host's HttpNfcLease on vcsim (main.go serves ExportVm's disk
URLs from the datastore and keeps the bytes an import uploaded), and the round trip of a
machine from QEMU to ESXi and back, its disk's content compared."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.esxi.backend import EsxiBackend
from backends.qemu.backend import QemuBackend
from desktopvm.model import defaults_for
from desktopvm.model.devices import ControllerKind, NicModel, StorageController
from desktopvm.ovf import check_appliance
from desktopvm.protocol import (
    CancelToken,
    InvalidState,
    OperationCancelled,
    PowerState,
    no_progress,
)
from desktopvm.settings import Settings
from desktopvm.testing.doubles.esxi import sim
from tests.backends.esxi.test_appliances import make_ova

pytestmark = [pytest.mark.vcsim,
              pytest.mark.skipif(shutil.which("qemu-img") is None,
                                 reason="the test disks are made with qemu-img (qemu-utils)")]


def lease_events(esx: sim.Sim) -> dict[str, list[str]]:
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    with urllib.request.urlopen(f"https://127.0.0.1:{esx.port}/desktopvm/leases",
                                context=context, timeout=10) as answer:
        return {k: list(v) for k, v in json.loads(answer.read()).items()}


def disk_member(ova: Path) -> bytes:
    with tarfile.open(ova) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".vmdk"))
        stream = tar.extractfile(member)
        assert stream is not None
        return stream.read()


@pytest.fixture
def imported(esx_backend: EsxiBackend, tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """A machine on the host whose disk holds the bytes of a real stream-optimized VMDK."""
    ova, _ = make_ova(tmp_path / "source", "dvmtest-export-source")
    machine_id = esx_backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
    yield machine_id, disk_member(ova)
    esx_backend.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())


def test_an_ova_is_exported_with_the_disk_the_host_serves(
        esx_backend: EsxiBackend, esx: sim.Sim, imported: tuple[str, bytes],
        tmp_path: Path) -> None:
    machine_id, disk = imported
    before = set(lease_events(esx))
    reports: list[tuple[float | None, str]] = []
    target = tmp_path / "out" / "exported.ova"
    target.parent.mkdir()
    esx_backend.export(machine_id, target, progress=lambda f, s: reports.append((f, s)),
                       cancel=CancelToken())
    assert disk_member(target) == disk  # every byte came over the lease's URL
    appliance = check_appliance(target)  # manifest digests verified, the disk read
    assert appliance.spec.memory.size_mib == esx_backend.get_machine(machine_id).spec.memory \
        .size_mib
    assert sorted(p.name for p in target.parent.iterdir()) == ["exported.ova"]
    (events,) = [v for k, v in lease_events(esx).items() if k not in before]
    assert events[-1] == "complete" and events[0].startswith("progress ")
    assert any(s.startswith("Downloading exported-disk1.vmdk") for _, s in reports)
    assert reports[-1] == (1.0, "Exported dvmtest-export-source")


def test_an_ovf_folder_has_a_manifest(esx_backend: EsxiBackend, imported: tuple[str, bytes],
                                      tmp_path: Path) -> None:
    machine_id, disk = imported
    out = tmp_path / "out"
    out.mkdir()
    target = out / "exported.ovf"
    esx_backend.export(machine_id, target, progress=no_progress, cancel=CancelToken())
    assert sorted(p.name for p in out.iterdir()) == [
        "exported-disk1.vmdk", "exported.mf", "exported.ovf"]
    assert (out / "exported-disk1.vmdk").read_bytes() == disk
    check_appliance(target)  # the manifest's digests match


def test_a_cancelled_export_aborts_the_lease_and_leaves_nothing(
        esx_backend: EsxiBackend, esx: sim.Sim, imported: tuple[str, bytes],
        tmp_path: Path) -> None:
    machine_id, _ = imported
    before = set(lease_events(esx))
    token = CancelToken()

    def cancel_while_downloading(fraction: float | None, stage: str) -> None:
        if stage.startswith("Downloading"):
            token.cancel()

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OperationCancelled):
        esx_backend.export(machine_id, out / "cancelled.ova",
                           progress=cancel_while_downloading, cancel=token)
    assert list(out.iterdir()) == []
    (events,) = [v for k, v in lease_events(esx).items() if k not in before]
    assert events[-1] == "abort"


def test_a_running_machine_is_not_exported(esx_backend: EsxiBackend,
                                           imported: tuple[str, bytes],
                                           tmp_path: Path) -> None:
    machine_id, _ = imported
    out = tmp_path / "out"
    out.mkdir()
    esx_backend.start(machine_id)
    try:
        with pytest.raises(InvalidState, match="shut it down first"):
            esx_backend.export(machine_id, out / "on.ova", progress=no_progress,
                               cancel=CancelToken())
    finally:
        esx_backend.power_off(machine_id)
    assert list(out.iterdir()) == []


def test_a_vcenter_machine_is_exported_with_a_readable_disk(vpx_backend: EsxiBackend,
                                                            tmp_path: Path) -> None:
    machine = next(m for m in vpx_backend.list_machines() if m.state is PowerState.RUNNING)
    vpx_backend.power_off(machine.id)
    try:
        vpx_backend.export(machine.id, tmp_path / "vc.ova", progress=no_progress,
                           cancel=CancelToken())
    finally:
        vpx_backend.start(machine.id)
    appliance = check_appliance(tmp_path / "vc.ova")  # each disk a stream-optimized VMDK
    source = vpx_backend.get_machine(machine.id).spec
    assert [d.size_bytes for _, d in appliance.spec.all_disks()] == [
        d.size_bytes for _, d in source.all_disks()]


@pytest.fixture
def qemu(tmp_path: Path) -> Iterator[QemuBackend]:
    """QEMU's backend on a private library (its machines are never started here)."""
    backend = QemuBackend(Settings(library_dir=str(tmp_path / "library"), qemu_accel="tcg"))
    yield backend
    for machine in backend.list_machines():
        backend.delete(machine.id, delete_disks=True, progress=no_progress,
                       cancel=CancelToken())


@pytest.mark.qemu
def test_a_machine_goes_from_qemu_to_esxi_and_back_with_its_disk(
        esx_backend: EsxiBackend, qemu: QemuBackend, tmp_path: Path) -> None:
    if shutil.which("qemu-io") is None:
        pytest.skip("the disk's content is written with qemu-io (qemu-utils)")
    spec = defaults_for("debian12", qemu.capabilities(), name="dvmtest-roundtrip")
    # SCSI and e1000: what both vcsim's OVF reader and ESXi take (docs/esxi.md).
    disks = tuple(d.model_copy(update={"size_bytes": 32 * 2**20})
                  for c in spec.storage for d in c.disks)
    spec = spec.model_copy(update={
        "storage": (StorageController(kind=ControllerKind.SCSI, disks=disks),),
        "network": tuple(a.model_copy(update={"model": NicModel.E1000}) for a in spec.network)})
    source_id = qemu.create(spec, progress=no_progress, cancel=CancelToken())
    source_disk = Path(qemu.get_machine(source_id).spec.storage[0].disks[0].path)
    subprocess.run(["qemu-io", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 20M 64k",
                    str(source_disk)], check=True, capture_output=True)
    qemu.export(source_id, tmp_path / "from-qemu.ova", progress=no_progress,
                cancel=CancelToken())
    on_esxi = esx_backend.import_machine(tmp_path / "from-qemu.ova", progress=no_progress,
                                         cancel=CancelToken())
    try:
        esx_backend.export(on_esxi, tmp_path / "from-esxi.ova", progress=no_progress,
                           cancel=CancelToken())
    finally:
        esx_backend.delete(on_esxi, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())
    back_id = qemu.import_machine(tmp_path / "from-esxi.ova", name="dvmtest-back",
                                  progress=no_progress, cancel=CancelToken())
    back = qemu.get_machine(back_id).spec
    back_disk = Path(back.storage[0].disks[0].path)
    compared = subprocess.run(["qemu-img", "compare", str(source_disk), str(back_disk)],
                              check=False, capture_output=True, text=True)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert (back.cpu.count, back.memory.size_mib) == (spec.cpu.count, spec.memory.size_mib)
