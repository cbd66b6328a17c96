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
from desktopvm.model import NetworkAdapter, NetworkAttachment, defaults_for
from desktopvm.protocol import CancelToken, CommandFailed, no_progress
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost

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


def test_an_export_from_a_host_with_another_switch_imports_disconnected(
        backend: HyperVBackend, tmp_path: Path, fake_host: FakeHost):
    """Review H4: Compare-VM finds the missing switch, the adapter is disconnected, and the
    user is told (the progress message and the log)."""
    caps = backend.capabilities()
    spec = defaults_for("debian12", caps, name="wired").model_copy(update={"network": (
        NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="LAN ‘external’"),)})
    vm_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    backend.export(vm_id, tmp_path / "exports", progress=no_progress, cancel=CancelToken())
    fake_host.update(lambda s: s.update(switches=s["switches"][:1]))  # another host
    said: list[str] = []
    imported = backend.import_machine(tmp_path / "exports" / "wired", name="moved",
                                      progress=lambda f, m: said.append(m),
                                      cancel=CancelToken())
    [adapter] = backend.get_machine(imported).spec.network
    assert adapter.attachment is NetworkAttachment.NONE
    assert "switch 'LAN ‘external’', which this host does not have; it is now not connected" \
        in said[-1]


def test_an_export_this_host_cannot_run_is_refused_in_words(backend, export, fake_host):
    """Review H4: anything but a missing switch is refused with Hyper-V's message."""
    config = next((export / "Virtual Machines").glob("*.vmcx"))
    record = json.loads(config.read_text("utf-8"))
    record["Incompatibilities"] = [{"Message": "The virtual machine is using processor-specific "
                                    "features not supported on this host.", "MessageId": 24004}]
    config.write_text(json.dumps(record), "utf-8")
    before = set(fake_host.state()["vms"])
    with pytest.raises(CommandFailed, match="processor-specific features") as refused:
        backend.import_machine(export, name="x", progress=no_progress, cancel=CancelToken())
    assert "cannot run the exported machine" in refused.value.summary
    assert set(fake_host.state()["vms"]) == before


def test_the_script_compares_before_it_imports():
    """common.ps1: package check, then Compare-VM (Copy set), repair, Import-VM of the report."""
    common = (SCRIPTS / "common.ps1").read_text("utf-8")
    body = common.split("function Import-DvmCopy", 1)[1].split("\nfunction ", 1)[0]
    order = [body.index(s) for s in ("Assert-DvmPackageDisks", "Hyper-V\\Compare-VM",
                                      "Resolve-DvmIncompatibility", "Hyper-V\\Import-VM")]
    assert order == sorted(order)
    assert "Import-VM -CompatibilityReport $report" in body
    assert "-Copy -GenerateNewId" in body.split("Hyper-V\\Compare-VM", 1)[1]
    repair = common.split("function Resolve-DvmIncompatibility", 1)[1].split("\nfunction ", 1)[0]
    assert "Hyper-V\\Disconnect-VMNetworkAdapter" in repair and "throw" in repair


def test_other_files_beside_the_configuration_are_not_imported(backend, export):
    """Review H10: a file that sorts before <GUID>.vmcx (a leftover .VMRS, desktop.ini) is no
    configuration; 5.1 ignores -Include with -LiteralPath, so the script filters itself."""
    (export / "Virtual Machines" / "00000000-0000-0000-0000-000000000000.VMRS").write_text(
        "state", "utf-8")
    (export / "Virtual Machines" / "desktop.ini").write_text("[.ShellClassInfo]", "utf-8")
    vm_id = backend.import_machine(export, name="imported", progress=no_progress,
                                   cancel=CancelToken())
    assert backend.get_machine(vm_id).summary.name == "imported"


def test_find_configuration_filters_by_extension_itself():
    common = (SCRIPTS / "common.ps1").read_text("utf-8")
    body = common.split("function Find-DvmConfiguration", 1)[1].split("\nfunction ", 1)[0]
    code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))
    assert "-Include" not in code and "'.vmcx'" in code and "$_.Extension" in code


def _vhd(path: Path, parent: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"VhdFormat": "VHDX", "VhdType": "Differencing" if parent
                                else "Dynamic", "Size": 1 << 30, "ParentPath": parent}), "utf-8")
    return path


def _with_existing_disk(backend: HyperVBackend, name: str, disk: Path):
    spec = defaults_for("debian12", backend.capabilities(), name=name)
    first = spec.storage[0]
    attached = first.disks[0].model_copy(update={"path": str(disk), "existing": True,
                                                 "size_bytes": 0})
    return spec.model_copy(update={"storage": (first.model_copy(
        update={"disks": (attached,)}), *spec.storage[1:])})


def test_an_existing_differencing_disk_is_refused_and_nothing_is_made(
        backend: HyperVBackend, tmp_path: Path, fake_host: FakeHost):
    """An attached disk from outside whose parent is another VM's disk on this host would
    hand the new machine that disk's data: refused like QEMU's attach (common.ps1
    Assert-DvmOwnDisk), in one line, and the half-made machine is removed."""
    other = _vhd(tmp_path / "host" / "Other VM" / "secret.vhdx")
    download = _vhd(tmp_path / "Downloads" / "appliance.vhdx", parent=str(other))
    before = set(fake_host.state()["vms"])
    with pytest.raises(CommandFailed) as refused:
        backend.create(_with_existing_disk(backend, "from-outside", download),
                       progress=no_progress, cancel=CancelToken())
    assert "\n" not in refused.value.summary
    assert "appliance.vhdx is a differencing disk of" in refused.value.summary
    assert set(fake_host.state()["vms"]) == before
    assert download.exists() and other.exists()  # the user's files are left as they were


def test_an_existing_self_contained_disk_attaches(backend: HyperVBackend, tmp_path: Path):
    disk = _vhd(tmp_path / "Disks" / "data.vhdx")
    vm_id = backend.create(_with_existing_disk(backend, "own-disk", disk),
                           progress=no_progress, cancel=CancelToken())
    paths = [d.path for _, d in backend.get_machine(vm_id).spec.all_disks()]
    assert str(disk) in paths


def test_the_script_checks_existing_disks_before_attaching_them():
    common = (SCRIPTS / "common.ps1").read_text("utf-8")
    body = common.split("function Add-DvmHardDisk", 1)[1].split("\nfunction ", 1)[0]
    assert body.index("Assert-DvmOwnDisk $path") < body.index("Hyper-V\\Add-VMHardDiskDrive")
    check = common.split("function Assert-DvmOwnDisk", 1)[1].split("\nfunction ", 1)[0]
    assert "Hyper-V\\Get-VHD" in check and ".ParentPath" in check and "ReparsePoint" in check
