"""Hyper-V import: an export whose disk reaches outside it is refused before Import-VM runs.

The rule lives in common.ps1 (Assert-DvmPackageDisks); the PowerShell double mirrors it, so
this proves the backend's side (the error reaches the user in one line, nothing is made).
Only a live_hyperv run proves the script against a real Get-VHD.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.metadata import MetadataStore
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import defaults_for
from desktopvm.protocol import CancelToken, CommandFailed, no_progress
from tests.backends.hyperv.double import FAKE_POWERSHELL, FakeHost

SCRIPTS = Path(__file__).parents[3] / "backends" / "hyperv" / "scripts"


@pytest.fixture
def backend(fake_host: FakeHost, tmp_path: Path) -> Iterator[HyperVBackend]:
    hyperv = HyperVBackend(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)),
                           metadata=MetadataStore("localhost", tmp_path / "metadata"))
    yield hyperv
    hyperv.close()


@pytest.fixture
def export(backend: HyperVBackend, tmp_path: Path) -> Path:
    spec = defaults_for("debian12", backend.capabilities(), name="original")
    vm_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    backend.export(vm_id, tmp_path / "exports", progress=no_progress, cancel=CancelToken())
    return tmp_path / "exports" / "original"


def _disk(export: Path) -> Path:
    return next((export / "Virtual Hard Disks").iterdir())


def test_an_export_whose_disk_has_an_outside_parent_is_refused(backend, export, tmp_path,
                                                               fake_host: FakeHost):
    host_disk = tmp_path / "host" / "Other VM" / "secret.vhdx"
    host_disk.parent.mkdir(parents=True)
    host_disk.write_text(json.dumps({"VhdFormat": "VHDX", "VhdType": "Dynamic",
                                     "Size": 1 << 30, "ParentPath": ""}), "utf-8")
    disk = _disk(export)
    record = json.loads(disk.read_text("utf-8"))
    disk.write_text(json.dumps({**record, "VhdType": "Differencing",
                                "ParentPath": str(host_disk)}), "utf-8")
    before = {vm["Id"] for vm in fake_host.state()["vms"].values()}
    with pytest.raises(CommandFailed) as refused:
        backend.import_machine(export, name="imported", progress=no_progress,
                               cancel=CancelToken())
    summary = refused.value.summary
    assert "\n" not in summary and f"{disk.name} refers to the parent disk" in summary
    assert {vm["Id"] for vm in fake_host.state()["vms"].values()} == before


def test_an_export_whose_differencing_disk_stays_inside_imports(backend, export,
                                                                fake_host: FakeHost):
    disk = _disk(export)
    parent = disk.with_name("base.vhdx")
    parent.write_text(disk.read_text("utf-8"), "utf-8")
    record = json.loads(disk.read_text("utf-8"))
    disk.write_text(json.dumps({**record, "VhdType": "Differencing",
                                "ParentPath": str(parent)}), "utf-8")
    backend.import_machine(export, name="imported", progress=no_progress, cancel=CancelToken())


def test_the_script_checks_before_import_vm_runs():
    """The double mirrors common.ps1; this keeps the script itself honest."""
    common = (SCRIPTS / "common.ps1").read_text("utf-8")
    body = common.split("function Import-DvmCopy", 1)[1]
    assert body.index("Assert-DvmPackageDisks") < body.index("Hyper-V\\Import-VM")
    check = common.split("function Assert-DvmPackageDisks", 1)[1].split("\nfunction ", 1)[0]
    assert "Hyper-V\\Get-VHD" in check and ".ParentPath" in check and "ReparsePoint" in check
