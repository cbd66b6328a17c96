"""OVA import through the host's HttpNfcLease, on vcsim (which counts what each upload carried)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from backends.esxi.backend import EsxiBackend
from desktopvm.model import defaults_for
from desktopvm.model.capabilities import generic_capabilities
from desktopvm.model.devices import ControllerKind, NicModel, StorageController
from desktopvm.ovf.ova import write_ova
from desktopvm.ovf.writer import ExportDisk, write_ovf
from desktopvm.protocol import BackendError, CancelToken, OperationCancelled, no_progress
from desktopvm.testing.doubles.esxi import sim

pytestmark = [pytest.mark.vcsim,
              pytest.mark.skipif(shutil.which("qemu-img") is None,
                                 reason="the test disk is made with qemu-img (qemu-utils)")]


def make_ova(folder: Path, name: str, disk_bytes: bytes | None = None) -> tuple[Path, int]:
    """An OVA as DesktopVM's other backends write it: one stream-optimized VMDK."""
    folder.mkdir(parents=True, exist_ok=True)
    disk = folder / "disk0.vmdk"
    if disk_bytes is None:
        subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", "-o",
                        "subformat=streamOptimized", str(disk), "16M"], check=True)
    else:
        disk.write_bytes(disk_bytes)
    spec = defaults_for("debian12", generic_capabilities(), name=name)
    # One SCSI controller: vcsim 0.24 reads no SATA controller (OVF resource type 20) from a
    # descriptor, which ESXi 6.7 and later do; an e1000 card, as vSphere has no virtio one.
    disks = tuple(d for c in spec.storage for d in c.disks)
    spec = spec.model_copy(update={
        "storage": (StorageController(kind=ControllerKind.SCSI, disks=disks),),
        "network": tuple(a.model_copy(update={"model": NicModel.E1000}) for a in spec.network)})
    descriptor = write_ovf(spec, [ExportDisk("disk0.vmdk", 16 * 2**20, disk.stat().st_size)])
    ova = folder / f"{name}.ova"
    write_ova(ova, f"{name}.ovf", descriptor, [disk])
    return ova, disk.stat().st_size


def uploads(esx: sim.Sim) -> dict[str, int]:
    context = ssl.create_default_context(cafile=str(esx.tls.ca))
    with urllib.request.urlopen(f"https://127.0.0.1:{esx.port}/desktopvm/nfc",
                                context=context, timeout=10) as answer:
        return {k: int(v) for k, v in json.loads(answer.read()).items()}


def test_an_ova_is_imported_with_its_disk_uploaded(esx_backend: EsxiBackend, esx: sim.Sim,
                                                   tmp_path: Path) -> None:
    ova, size = make_ova(tmp_path, "dvmtest-imported")
    before = uploads(esx)
    reports: list[tuple[float | None, str]] = []
    machine_id = esx_backend.import_machine(
        ova, name="dvmtest-import-renamed", progress=lambda f, s: reports.append((f, s)),
        cancel=CancelToken())
    try:
        names = {m.id: m.name for m in esx_backend.list_machines()}
        assert names[machine_id] == "dvmtest-import-renamed"
        new = {k: v for k, v in uploads(esx).items() if k not in before}
        assert list(new.values()) == [size]  # every byte of the disk went to the lease's URL
        assert reports[-1] == (1.0, "Imported dvmtest-import-renamed")
        assert any(s.startswith("Uploading disk0.vmdk") for _, s in reports)
    finally:
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())


def test_a_cancelled_import_leaves_no_machine(esx_backend: EsxiBackend,
                                             tmp_path: Path) -> None:
    ova, _ = make_ova(tmp_path, "dvmtest-cancelled-import")
    before = {m.id for m in esx_backend.list_machines()}
    token = CancelToken()

    def cancel_on_upload(fraction: float | None, stage: str) -> None:
        if stage.startswith("Uploading"):
            token.cancel()

    with pytest.raises(OperationCancelled):
        esx_backend.import_machine(ova, progress=cancel_on_upload, cancel=token)
    assert {m.id for m in esx_backend.list_machines()} == before  # the aborted lease's VM


def test_a_package_whose_disk_is_not_what_it_claims_is_refused_first(
        esx_backend: EsxiBackend, esx: sim.Sim, tmp_path: Path) -> None:
    ova, _ = make_ova(tmp_path, "dvmtest-bad-disk", disk_bytes=b"\0" * 65536)
    before = ({m.id for m in esx_backend.list_machines()}, uploads(esx))
    with pytest.raises(BackendError, match="cannot be imported"):
        esx_backend.import_machine(ova, progress=no_progress, cancel=CancelToken())
    assert ({m.id for m in esx_backend.list_machines()}, uploads(esx)) == before
