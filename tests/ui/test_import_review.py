"""The import review: the package's hardware read from its descriptor, the name checked on the
chosen connection with a free one offered, and what that connection lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from desktopvm.model import (
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    StorageController,
    UsbSpec,
)
from desktopvm.ovf import ExportDisk, write_ova, write_ovf
from desktopvm.ui.import_review import ImportReviewDialog

GIB = 1024**3
SPEC = MachineSpec(
    name="web", os="debian12", firmware=FirmwareSpec(kind=Firmware.UEFI),
    cpu=CpuSpec(count=2), memory=MemorySpec(size_mib=2048),
    storage=(StorageController(kind=ControllerKind.SATA, disks=(
        Disk(path="/x.qcow2", format=DiskFormat.QCOW2, size_bytes=8 * GIB, existing=True),)),),
    network=(NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.E1000),),
    usb=UsbSpec(version=None, tablet=False))


def make_ova(folder: Path, spec: MachineSpec = SPEC, disk_bytes: bytes = b"not read") -> Path:
    """A real OVA of `spec`. Its disk member is whatever `disk_bytes` says: the review must
    not read it."""
    folder.mkdir(parents=True, exist_ok=True)
    disk = folder / "disk1.vmdk"
    disk.write_bytes(disk_bytes)
    descriptor = write_ovf(spec, [ExportDisk("disk1.vmdk", 8 * GIB, len(disk_bytes))])
    ova = folder / f"{spec.name}.ova"
    write_ova(ova, f"{spec.name}.ovf", descriptor, [disk])
    return ova


@pytest.fixture
def review(qtbot, runner, memory_backend, make_facts):
    def open_(path: Path, taken=(), **capability_changes):
        facts = make_facts(memory_backend, **capability_changes)
        dialog = ImportReviewDialog(path, [facts], facts.name, runner=runner,
                                    taken=lambda f: list(taken))
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: dialog.appliance is not None or bool(dialog.read_error),
                        timeout=5000)
        # Widgets added to a shown dialog are shown by a queued call: let it run.
        QApplication.processEvents()
        return dialog
    return open_


def shown(dialog: ImportReviewDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel)
                     if label.isVisibleTo(dialog))


def test_the_review_shows_the_hardware_the_package_describes(review, tmp_path):
    dialog = review(make_ova(tmp_path / "pkg"))
    text = shown(dialog)
    for expected in ("Processors:", "2 GiB", "UEFI", "8 GiB on SATA",
                     "NAT, Intel PRO/1000 (e1000)"):
        assert expected in text
    assert dialog.name.text() == "web"
    assert "takes the machine as the package describes it" in dialog.changes.text()
    assert dialog.import_button.isEnabled()


def test_a_name_the_connection_has_is_refused_with_a_free_one(review, tmp_path):
    dialog = review(make_ova(tmp_path / "pkg"), taken=["WEB", "web-2"])
    assert not dialog.import_button.isEnabled()
    assert "already called WEB" in dialog.name_problem.text()
    assert "Try “web-3”" in dialog.name_problem.text()
    dialog.use_suggestion.click()
    assert dialog.chosen_name() == "web-3" and dialog.import_button.isEnabled()
    dialog.name.setText("bad\nname")
    assert not dialog.import_button.isEnabled()


def test_what_the_connection_lacks_is_said_before_importing(review, tmp_path):
    dialog = review(make_ova(tmp_path / "pkg"),
                    controller_kinds=frozenset({ControllerKind.IDE}),
                    nic_models=frozenset({NicModel.VIRTIO}),
                    firmware=frozenset({Firmware.BIOS}))
    changes = dialog.changes.text()
    assert "✗ Memory has no SATA controller." in changes
    assert "✗ Memory has no e1000 adapter." in changes
    assert "✗ Memory cannot use UEFI firmware." in changes
    assert "VMDK" not in changes  # every importer converts the package's disks
    # The backend's importer adapts or stops with the cause; the review does not guess which.
    assert dialog.import_button.isEnabled()


def test_an_unreadable_package_says_why_and_cannot_be_imported(review, tmp_path):
    bad = tmp_path / "bad.ova"
    bad.write_bytes(b"this is no tar archive" * 40)
    dialog = review(bad)
    assert dialog.read_error and "Cannot read bad.ova" in dialog.status.text()
    assert not dialog.import_button.isEnabled()


def test_an_ovf_folder_is_read_too(review, tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    descriptor = folder / "web.ovf"
    descriptor.write_bytes(write_ovf(SPEC, [ExportDisk("disk1.vmdk", 8 * GIB, 1)]))
    dialog = review(descriptor)
    assert "8 GiB on SATA" in shown(dialog) and dialog.import_button.isEnabled()


def test_a_disk_exported_from_virtio_is_shown_there_and_where_it_cannot_go(review, tmp_path):
    on_virtio = SPEC.model_copy(update={"storage": (StorageController(
        kind=ControllerKind.VIRTIO, disks=SPEC.storage[0].disks),)})
    ova = make_ova(tmp_path / "pkg", on_virtio)
    dialog = review(ova, controller_kinds=frozenset({ControllerKind.SATA,
                                                     ControllerKind.VIRTIO}))
    assert "8 GiB on VirtIO" in shown(dialog)  # as it was, though OVF's items say SATA
    assert "Disk 1 was on" not in dialog.changes.text()
    dialog = review(ova, controller_kinds=frozenset({ControllerKind.SATA}))
    assert "Disk 1 was on VirtIO; Memory has no such controller" in dialog.changes.text()
