"""The New VM wizard, page by page, against the in-memory backend: validation, create, cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWizard

from desktopvm.jobs import JobState
from desktopvm.model import (
    ControllerKind,
    DiskFormat,
    Firmware,
    MachineSpec,
    NetworkAttachment,
    NicModel,
)
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    HostInfo,
    HostNetwork,
    OperationCancelled,
    ProbeResult,
    Progress,
)
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from desktopvm.ui.editors import (
    DiskEditor,
    FirmwareEditor,
    IdentityEditor,
    NetworkEditor,
    OpticalEditor,
    ResourcesEditor,
)
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.wizard import NewVmWizard, PageId
from desktopvm.ui.wizard.os_guess import guess_os
from desktopvm.ui.wizard.spec_page import SpecPage

GIB = 1024**3
UNAVAILABLE = BackendFacts("virtualbox", "VirtualBox", ProbeResult(
    "virtualbox", False, reason="VBoxManage was not found",
    install_hint="Install VirtualBox 7 from virtualbox.org."))


@pytest.fixture
def open_wizard(qtbot, runner, memory_backend, make_facts):
    """Open a wizard on the memory backend (or on given facts and backend)."""
    def open_(facts=None, backend=None):
        backend = backend or memory_backend
        wizard = NewVmWizard(facts or [make_facts(backend)], runner, lambda name: backend)
        qtbot.addWidget(wizard)
        wizard.show()
        return wizard
    return open_


def go_to(wizard: NewVmWizard, page: PageId) -> None:
    """Press Next until `page` is current (fails if a page blocks on the way)."""
    while wizard.currentId() < page:
        before = wizard.currentId()
        wizard.next()
        assert wizard.currentId() != before, f"page {PageId(before).name} blocked Next"


def next_enabled(wizard: NewVmWizard) -> bool:
    return wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def page_messages(wizard: NewVmWizard) -> list[str]:
    page = wizard.currentPage()
    assert isinstance(page, SpecPage)
    return page.problems.texts()


def editor(wizard: NewVmWizard, kind):
    page = wizard.currentPage()
    assert isinstance(page, SpecPage)
    return next(e for e in page.editors if isinstance(e, kind))


# -- backend page ------------------------------------------------------------------------------
def test_backend_page_offers_available_backends_and_greys_the_others(open_wizard, memory_backend,
                                                                     make_facts):
    wizard = open_wizard([UNAVAILABLE, make_facts(memory_backend)])
    page = wizard.backend_page
    assert page.buttons["memory"].isChecked() and page.buttons["memory"].isEnabled()
    greyed = page.buttons["virtualbox"]
    assert not greyed.isEnabled()
    assert greyed.toolTip() == "VBoxManage was not found"
    details = page.findChild(type(page.none_available), "backend-virtualbox-details")
    assert "VBoxManage was not found" in details.text()
    assert "Install VirtualBox 7" in details.text()
    assert not page.none_available.isVisible()
    order = [page.layout().itemAt(i).widget() for i in range(page.layout().count())]
    assert order.index(page.buttons["memory"]) < order.index(greyed)  # what can run it first
    go_to(wizard, PageId.IDENTITY)


def test_backend_page_without_any_usable_backend_blocks_next(open_wizard):
    wizard = open_wizard([UNAVAILABLE])
    assert wizard.backend_page.none_available.isVisible()
    assert not next_enabled(wizard)


def test_choosing_another_backend_rebuilds_the_pages_for_its_capabilities(
        open_wizard, memory_backend, make_facts):
    small = make_facts(memory_backend, max_cpus=2)
    small = BackendFacts("small", "Small", ProbeResult("small", True), small.capabilities,
                         small.host_info)
    wizard = open_wizard([make_facts(memory_backend), small])
    go_to(wizard, PageId.RESOURCES)
    assert editor(wizard, ResourcesEditor).cpus.spin.maximum() == 8
    while wizard.currentId() != PageId.BACKEND:
        wizard.back()
    wizard.backend_page.buttons["small"].click()
    go_to(wizard, PageId.RESOURCES)
    assert editor(wizard, ResourcesEditor).cpus.spin.maximum() == 2
    assert wizard.backend is small


# -- name, OS and ISO --------------------------------------------------------------------------
def test_empty_name_blocks_next(open_wizard, qtbot):
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    name = editor(wizard, IdentityEditor).name
    name.clear()
    assert not next_enabled(wizard)
    assert "Give the machine a name." in page_messages(wizard)
    qtbot.keyClicks(name, "web server")
    assert next_enabled(wizard)
    assert wizard.spec.name == "web server"


def test_choosing_an_os_applies_its_defaults_and_the_name_follows_until_edited(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    identity = editor(wizard, IdentityEditor)
    identity.os.set_os_id("windows11")
    spec = wizard.spec
    assert (spec.os, spec.name) == ("windows11", "windows-11")
    assert spec.memory.size_mib == 4096 and spec.cpu.count == 2
    assert spec.firmware.kind is Firmware.UEFI and spec.firmware.secure_boot
    assert spec.all_disks()[0][1].size_bytes == 64 * GIB
    identity.name.setText("gaming")
    identity.os.set_os_id("debian12")
    assert (wizard.spec.os, wizard.spec.name) == ("debian12", "gaming")
    assert identity.name.text() == "gaming"


def test_iso_that_does_not_exist_blocks_next(open_wizard, tmp_path, qtbot):
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    optical = editor(wizard, OpticalEditor)
    missing = tmp_path / "nowhere.iso"
    optical.iso.set_path(str(missing))  # looked at by a worker: said when it answers
    qtbot.waitUntil(lambda: any("does not exist" in m for m in page_messages(wizard)))
    assert not next_enabled(wizard)
    missing.write_bytes(b"")
    optical.iso.set_path("")
    optical.iso.set_path(str(missing))
    qtbot.waitUntil(lambda: next_enabled(wizard))
    assert wizard.spec.all_optical()[0][1].iso == str(missing)


def test_an_iso_file_name_picks_the_os_until_the_user_chooses_one(open_wizard, tmp_path):
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    iso = tmp_path / "debian-12.5.0-amd64-netinst.iso"
    iso.write_bytes(b"")
    editor(wizard, OpticalEditor).iso.set_path(str(iso))
    assert wizard.spec.os == "debian12"
    assert "Detected" in wizard.identity_page.os_hint.text()
    assert wizard.spec.all_optical()[0][1].iso == str(iso)
    editor(wizard, IdentityEditor).os.set_os_id("fedora")
    editor(wizard, OpticalEditor).iso.set_path(str(iso) + ".old")
    assert wizard.spec.os == "fedora"


@pytest.mark.parametrize(("file_name", "os_id"), [
    ("Win11_24H2_English_x64.iso", "windows11"),
    ("ubuntu-22.04.4-live-server-amd64.iso", "ubuntu22.04"),
    ("FreeBSD-14.1-RELEASE-amd64-disc1.iso", "freebsd14"),
    ("holiday-photos.iso", None),
])
def test_os_guess_from_iso_names(file_name, os_id):
    assert guess_os(f"/isos/{file_name}") == os_id


# -- firmware ----------------------------------------------------------------------------------
def test_secure_boot_is_greyed_on_bios_and_comes_back_on_uefi(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.FIRMWARE)
    firmware = editor(wizard, FirmwareEditor)
    assert firmware.uefi.isChecked() and firmware.secure_boot.isChecked()
    firmware.bios.click()
    assert not firmware.secure_boot.isEnabled() and not firmware.secure_boot.isChecked()
    assert firmware.secure_boot.toolTip() == "Secure Boot needs UEFI firmware."
    assert firmware.secure_boot_reason.isVisible()
    assert wizard.spec.firmware.kind is Firmware.BIOS and not wizard.spec.firmware.secure_boot
    firmware.uefi.click()
    assert firmware.secure_boot.isEnabled() and firmware.secure_boot.isChecked()
    assert wizard.spec.firmware.secure_boot


def test_tpm_unavailable_shows_the_backends_reason(open_wizard, memory_backend, make_facts):
    facts = make_facts(memory_backend, tpm_unavailable_reason="swtpm is not installed")
    wizard = open_wizard([facts])
    go_to(wizard, PageId.FIRMWARE)
    firmware = editor(wizard, FirmwareEditor)
    assert not firmware.tpm.isEnabled()
    assert firmware.tpm.toolTip() == "Not available: swtpm is not installed"
    assert firmware.tpm_reason.isVisible()
    assert "swtpm is not installed" in firmware.tpm_reason.text()


def test_windows_11_without_a_tpm_warns_but_allows_next(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    editor(wizard, IdentityEditor).os.set_os_id("windows11")
    go_to(wizard, PageId.FIRMWARE)
    firmware = editor(wizard, FirmwareEditor)
    assert firmware.requirements.isVisible()
    assert "TPM 2.0" in firmware.requirements.text()
    warnings = page_messages(wizard)
    assert any("Windows 11 needs a TPM 2.0" in m for m in warnings)
    page = wizard.currentPage()
    assert isinstance(page, SpecPage)
    row = page.problems.findChild(QLabel, "problem-warning")
    assert row is not None and row.accessibleName().startswith("Warning: Windows 11 needs")
    assert next_enabled(wizard)
    go_to(wizard, PageId.RESOURCES)


def test_firmware_page_errors_block_next(open_wizard, memory_backend, make_facts):
    # A spec asking for a TPM the backend lacks (e.g. from a spec file) is an error, and the
    # checked box stays enabled so it can be turned off.
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    wizard.spec = wizard.spec.model_copy(update={"firmware": wizard.spec.firmware.model_copy(
        update={"tpm": True})})
    go_to(wizard, PageId.FIRMWARE)
    firmware = editor(wizard, FirmwareEditor)
    assert not next_enabled(wizard)
    assert any(m.startswith("No TPM 2.0") for m in page_messages(wizard))
    assert firmware.tpm.isEnabled()
    firmware.tpm.click()
    assert next_enabled(wizard)


# -- CPUs and memory ---------------------------------------------------------------------------
def test_cpu_count_is_bounded_by_the_backend(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.RESOURCES)
    cpus = editor(wizard, ResourcesEditor).cpus
    cpus.spin.setValue(0)
    assert cpus.value() == 1  # no zero-CPU machine can be typed
    cpus.spin.setValue(99)
    assert cpus.value() == 8
    assert wizard.spec.cpu.count == 8
    assert next_enabled(wizard)


def test_memory_beyond_what_the_backend_allows_blocks_next(open_wizard, memory_backend,
                                                           make_facts):
    facts = make_facts(memory_backend, host_info=HostInfo("big", 8, 16384))
    wizard = open_wizard([facts])
    go_to(wizard, PageId.RESOURCES)
    memory = editor(wizard, ResourcesEditor).memory
    assert memory.spin.maximum() == 16384  # the slider reaches the host's memory
    memory.spin.setValue(12288)
    assert not next_enabled(wizard)
    assert any("more than the 8192 MiB" in m for m in page_messages(wizard))
    memory.spin.setValue(4096)
    assert next_enabled(wizard)


def test_memory_above_three_quarters_of_the_host_warns_without_blocking(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.RESOURCES)
    editor(wizard, ResourcesEditor).memory.spin.setValue(7168)
    assert any("more than 75% of this host's 8 GiB" in m for m in page_messages(wizard))
    assert next_enabled(wizard)
    assert wizard.spec.memory.size_mib == 7168


def test_dynamic_memory_is_offered_only_when_the_backend_has_it(open_wizard, memory_backend,
                                                                make_facts):
    wizard = open_wizard([make_facts(memory_backend, dynamic_memory=True)])
    go_to(wizard, PageId.RESOURCES)
    resources = editor(wizard, ResourcesEditor)
    assert resources.dynamic.isVisible() and not resources.dynamic_min.isEnabled()
    resources.dynamic.click()
    resources.dynamic_min.setValue(resources.memory.value() + 512)
    assert any("minimum ≤ start-up memory" in m for m in page_messages(wizard))
    assert not next_enabled(wizard)
    resources.dynamic_min.setValue(512)
    assert next_enabled(wizard)
    assert wizard.spec.memory.dynamic is not None
    assert wizard.spec.memory.dynamic.minimum_mib == 512


# -- disk --------------------------------------------------------------------------------------
def test_new_disk_size_format_and_bus(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.DISK)
    disk_editor = editor(wizard, DiskEditor)
    disk_editor.size_spin.setValue(40)
    disk_editor.format.setCurrentIndex(disk_editor.format.findData(DiskFormat.RAW))
    disk_editor.controller.setCurrentIndex(disk_editor.controller.findData(ControllerKind.SATA))
    index, disk = wizard.spec.all_disks()[0]
    assert (disk.size_bytes, disk.format, disk.existing) == (40 * GIB, DiskFormat.RAW, False)
    assert wizard.spec.storage[index].kind is ControllerKind.SATA
    assert next_enabled(wizard)


def test_existing_disk_must_exist(open_wizard, tmp_path, qtbot):
    wizard = open_wizard()
    go_to(wizard, PageId.DISK)
    disk_editor = editor(wizard, DiskEditor)
    disk_editor.mode_existing.click()
    assert not next_enabled(wizard)
    assert "Choose the disk file to attach." in page_messages(wizard)
    image = tmp_path / "old.qcow2"
    disk_editor.path.set_path(str(image))
    qtbot.waitUntil(lambda: any("does not exist" in m for m in page_messages(wizard)))
    assert not next_enabled(wizard)
    image.write_bytes(b"")
    disk_editor.path.set_path(str(tmp_path / "old.qcow2 "))  # stray space from a paste
    qtbot.waitUntil(lambda: next_enabled(wizard))
    disk = wizard.spec.all_disks()[0][1]
    assert (disk.path, disk.existing, disk.format) == (str(image), True, DiskFormat.QCOW2)


def test_no_disk(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.DISK)
    editor(wizard, DiskEditor).mode_none.click()
    assert wizard.spec.all_disks() == []
    assert wizard.spec.all_optical()  # the optical drive stays
    assert next_enabled(wizard)


# -- network -----------------------------------------------------------------------------------
def test_bridged_without_an_interface_blocks_next(open_wizard, memory_backend, make_facts):
    attachments = frozenset({NetworkAttachment.NAT, NetworkAttachment.BRIDGED})
    wizard = open_wizard([make_facts(memory_backend, network_attachments=attachments)])
    go_to(wizard, PageId.NETWORK)
    adapter = editor(wizard, NetworkEditor).adapter_editor
    adapter.attachment.setCurrentIndex(adapter.attachment.findData(NetworkAttachment.BRIDGED))
    assert not next_enabled(wizard)
    assert any("Choose the host interface to bridge to." in m for m in page_messages(wizard))
    adapter.network.setEditText("eth0")
    assert next_enabled(wizard)
    assert wizard.spec.network[0].network == "eth0"


def test_bridged_offers_the_hosts_interfaces(open_wizard, memory_backend, make_facts):
    host = HostInfo("h", 8, 8192, networks=(HostNetwork("bridged", "enp3s0", "Ethernet"),
                                             HostNetwork("switch", "Default Switch")))
    attachments = frozenset({NetworkAttachment.NAT, NetworkAttachment.BRIDGED})
    wizard = open_wizard([make_facts(memory_backend, host_info=host,
                                     network_attachments=attachments)])
    go_to(wizard, PageId.NETWORK)
    adapter = editor(wizard, NetworkEditor).adapter_editor
    adapter.attachment.setCurrentIndex(adapter.attachment.findData(NetworkAttachment.BRIDGED))
    assert [adapter.network.itemText(i) for i in range(adapter.network.count())] == ["enp3s0"]
    assert wizard.spec.network[0].network == "enp3s0"
    assert next_enabled(wizard)


def test_a_mistyped_mac_blocks_next_and_no_adapter_is_allowed(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.NETWORK)
    network = editor(wizard, NetworkEditor)
    network.adapter_editor.mac.setText("52:54:00:12:34")
    assert not next_enabled(wizard)
    assert any("is not a MAC address" in m for m in page_messages(wizard))
    network.adapter_editor.mac.setText("52-54-00-12-34-56")
    assert next_enabled(wizard)
    assert wizard.spec.network[0].mac == "52:54:00:12:34:56"
    network.connected.click()
    assert wizard.spec.network == ()
    assert next_enabled(wizard)


# -- summary and creating ----------------------------------------------------------------------
def test_finish_creates_the_machine_with_the_chosen_hardware(open_wizard, memory_backend, qtbot,
                                                             tmp_path):
    iso = tmp_path / "alpine-standard-3.20.iso"
    iso.write_bytes(b"")
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    identity = editor(wizard, IdentityEditor)
    identity.name.setText("tiny")
    editor(wizard, OpticalEditor).iso.set_path(str(iso))
    assert wizard.spec.os == "alpine"
    go_to(wizard, PageId.RESOURCES)
    resources = editor(wizard, ResourcesEditor)
    resources.cpus.spin.setValue(3)
    resources.memory.spin.setValue(1536)
    go_to(wizard, PageId.DISK)
    editor(wizard, DiskEditor).size_spin.setValue(3)
    go_to(wizard, PageId.NETWORK)
    adapter = editor(wizard, NetworkEditor).adapter_editor
    adapter.model.setCurrentIndex(adapter.model.findData(NicModel.E1000))
    go_to(wizard, PageId.SUMMARY)
    rows = wizard.summary_page.form
    shown = [rows.itemAt(i).widget().text() for i in range(rows.count())]
    assert "tiny" in shown and "Alpine Linux" in shown and "3 CPUs" in shown
    assert "1.5 GiB" in shown and iso.name in shown
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()

    with qtbot.waitSignal(wizard.created, timeout=5000) as created:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert created.args[0] == "memory"
    qtbot.waitUntil(lambda: not wizard.isVisible())
    assert wizard.result() == QWizard.DialogCode.Accepted
    [summary] = memory_backend.list_machines()
    assert (summary.id, summary.name, summary.cpus, summary.memory_mib) == (
        created.args[1], "tiny", 3, 1536)
    spec = memory_backend.get_machine(summary.id).spec
    assert spec.all_disks()[0][1].size_bytes == 3 * GIB
    assert spec.all_optical()[0][1].iso == str(iso)
    assert spec.network[0].model is NicModel.E1000
    assert [job.title for job in wizard.runner.jobs if not job.background] == ["Create tiny"]


class FailingCreate(MemoryBackend):
    """Create fails as a real tool would."""

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        raise CommandFailed("qemu-img could not create the disk", command=["qemu-img"],
                            exit_code=1, stderr="No space left on device")


def test_a_failing_create_shows_the_error_and_stays(open_wizard, make_facts, tmp_path, qtbot,
                                                    find_error_dialogs):
    backend = FailingCreate(tmp_path / "machines")
    wizard = open_wizard([make_facts(backend)], backend)
    go_to(wizard, PageId.SUMMARY)
    job_failed = qtbot.waitSignal(wizard.runner.job_added, timeout=5000)
    with job_failed:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    job = job_failed.args[0]
    qtbot.waitUntil(lambda: bool(find_error_dialogs()))
    [dialog] = find_error_dialogs()
    assert dialog.text() == "qemu-img could not create the disk"
    assert "No space left on device" in dialog.detailedText()
    assert job.state is JobState.FAILED
    assert wizard.isVisible() and wizard.currentId() == PageId.SUMMARY
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert not wizard.summary_page.progress.isVisible()
    dialog.accept()
    assert backend.list_machines() == []


class HangingCreate(MemoryBackend):
    """Create writes a disk, reports progress, then waits until released or cancelled."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.partial = folder / "partial.qcow2"

    def create(self, spec: MachineSpec, *, progress: Progress, cancel: CancelToken) -> str:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.partial.write_bytes(b"")
        progress(0.4, "Creating the disk")
        unregister = cancel.on_cancel(self.release.set)
        self.entered.set()
        self.release.wait(10)
        unregister()
        self.partial.unlink()  # cancelled or not, the stand-in file goes
        if cancel.cancelled:
            raise OperationCancelled()
        return super().create(spec, progress=progress, cancel=cancel)


def test_cancel_while_creating_cancels_the_job_and_closes_when_it_ends(
        open_wizard, make_facts, tmp_path, qtbot):
    backend = HangingCreate(tmp_path / "machines")
    wizard = open_wizard([make_facts(backend)], backend)
    go_to(wizard, PageId.SUMMARY)
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(backend.entered.is_set)
    summary = wizard.summary_page
    qtbot.waitUntil(lambda: summary.stage.text() == "Creating the disk")
    assert summary.progress.isVisible() and summary.progress.value() == 400
    for button in (QWizard.WizardButton.FinishButton, QWizard.WizardButton.BackButton):
        assert not wizard.button(button).isEnabled()
    assert wizard.button(QWizard.WizardButton.CancelButton).isEnabled()
    assert wizard.job is not None
    job = wizard.job

    with qtbot.waitSignal(wizard.rejected, timeout=5000):
        qtbot.mouseClick(wizard.button(QWizard.WizardButton.CancelButton),
                         Qt.MouseButton.LeftButton)
        assert wizard.isVisible()  # closes only when the job has ended
    assert job.state is JobState.CANCELLED
    assert not wizard.isVisible()
    assert not backend.partial.exists()
    assert backend.list_machines() == []


def test_closing_the_window_while_creating_cancels_too(open_wizard, make_facts, tmp_path, qtbot):
    backend = HangingCreate(tmp_path / "machines")
    wizard = open_wizard([make_facts(backend)], backend)
    go_to(wizard, PageId.SUMMARY)
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(backend.entered.is_set)
    with qtbot.waitSignal(wizard.rejected, timeout=5000):
        wizard.close()
    assert backend.list_machines() == [] and not backend.partial.exists()


def test_summary_lists_every_problem_and_blocks_create_on_errors(open_wizard):
    wizard = open_wizard()
    go_to(wizard, PageId.NETWORK)
    # An error no page owns (too many monitors, e.g. from a spec file) still blocks Create.
    wizard.spec = wizard.spec.model_copy(update={"display": wizard.spec.display.model_copy(
        update={"monitors": 4})})
    go_to(wizard, PageId.SUMMARY)
    assert "At most 1 monitors." in wizard.summary_page.problems.texts()
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()


def test_live_validation_looks_at_files_only_on_workers(open_wizard, tmp_path, qtbot,
                                                         monkeypatch):
    # An ISO or disk on a network share can take seconds to answer: never the GUI thread.
    gui, watched, asked = threading.current_thread(), tmp_path / "watched", []
    for name in ("is_file", "exists"):
        real = getattr(Path, name)

        def spy(self: Path, _real=real) -> bool:
            if watched in self.parents:
                asked.append(threading.current_thread() is gui)
            return bool(_real(self))

        monkeypatch.setattr(Path, name, spy)
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    editor(wizard, OpticalEditor).iso.set_path(str(watched / "nowhere.iso"))
    qtbot.waitUntil(lambda: any("does not exist" in m for m in page_messages(wizard)))
    go_to(wizard, PageId.DISK)
    disk_editor = editor(wizard, DiskEditor)
    disk_editor.mode_existing.click()
    disk_editor.path.set_path(str(watched / "old.qcow2"))
    qtbot.waitUntil(lambda: any("disk file" in m and "does not exist" in m
                                for m in page_messages(wizard)))
    assert asked and not any(asked)  # asked, and only by workers
