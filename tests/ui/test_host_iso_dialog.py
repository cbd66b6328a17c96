""""On the host…" beside a CD/DVD's ISO on an ESXi connection: the ISOs on the host's
datastores listed by a job (on vcsim), one chosen sets the drive's `[ds] path`, which the
settings then send; the list's failure said in words; the button only for ESXi."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QTreeWidgetItem

from backends.esxi.backend import EsxiBackend
from desktopvm.model import MachineSpec
from desktopvm.model.devices import (
    ControllerKind,
    Disk,
    DiskFormat,
    NetworkAdapter,
    NetworkAttachment,
    OpticalDrive,
    StorageController,
)
from desktopvm.model.machine import UsbSpec
from desktopvm.protocol import Backend, CancelToken, ConnectionLost, PowerState, no_progress
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from desktopvm.ui.editors import OpticalEditor
from desktopvm.ui.host_iso_dialog import HostIsoDialog, HostIsos
from desktopvm.ui.settings_dialog import SettingsDialog
from desktopvm.ui.wizard.wizard import NewVmWizard
from tests.backends.esxi.conftest import esx, esx_backend  # noqa: F401  (fixtures)
from tests.backends.esxi.test_iso_upload import upload_iso

pytestmark = pytest.mark.vcsim
GRABS = Path("/tmp/esxi-fixes")


def spec(name: str, iso: str = "") -> MachineSpec:
    return MachineSpec(
        name=name, os="debian12",
        storage=(StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(format=DiskFormat.VMDK, size_bytes=2**20),)),
                 StorageController(kind=ControllerKind.SATA,
                                   optical=(OpticalDrive(iso=iso),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="VM Network"),),
        usb=UsbSpec(version=None))


@pytest.fixture
def on_host(esx_backend: EsxiBackend, tmp_path: Path) -> str:  # noqa: F811
    """An ISO on vcsim's datastore (uploaded as the app does); its datastore path."""
    local = tmp_path / f"rescue-{uuid.uuid4().hex[:6]}.iso"
    local.write_bytes(b"r" * (3 * 2**20))
    return upload_iso(esx_backend, local, progress=no_progress, cancel=CancelToken())


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Held shut, the list's job waits (as on a slow host) until the test opens it."""
    event = threading.Event()
    yield event
    event.set()  # never leave a worker waiting


def gated(backend: Backend, gate: threading.Event) -> Callable[[str], Backend]:
    def open_backend(_name: str) -> Backend:
        assert gate.wait(30), "the test never opened the gate"
        return backend
    return open_backend


def items(dialog: HostIsoDialog) -> list[QTreeWidgetItem]:
    found = [dialog.list.topLevelItem(i) for i in range(dialog.list.topLevelItemCount())]
    return [item for item in found if item is not None]


def rows(dialog: HostIsoDialog) -> list[tuple[str, str]]:
    return [(item.text(0), item.text(1)) for item in items(dialog)]


def choose(qtbot, dialog: HostIsoDialog, path: str) -> None:
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() > 0, timeout=15_000)
    [item] = [item for item in items(dialog) if item.text(0) == path]
    dialog.list.setCurrentItem(item)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_the_isos_on_the_host_are_read_in_a_job_and_one_chosen_sets_the_drive(
        qtbot, runner, esx_backend: EsxiBackend, on_host: str,  # noqa: F811
        gate: threading.Event) -> None:
    editor = OpticalEditor(esx_backend.capabilities(), None)
    qtbot.addWidget(editor)
    editor.set_spec(spec("dvmtest-host-iso"))
    editor.offer_host_isos(HostIsos.of(esx_backend.name, runner, gated(esx_backend, gate)))
    editor.show()
    assert editor.on_host.isVisible()
    editor.on_host.click()
    dialog = editor.host_dialog
    assert dialog is not None and dialog.isVisible()
    # The host has not answered yet: the dialog is open and says so (the GUI did not wait).
    assert dialog.status.text() == "Reading the host's datastores…"
    assert not dialog.list.isVisible() and not dialog.choose.isEnabled()
    gate.set()
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() > 0, timeout=15_000)
    assert (on_host, "3 MiB") in rows(dialog)
    assert [p for p, _ in rows(dialog)] == sorted((p for p, _ in rows(dialog)), key=str.lower)
    GRABS.mkdir(exist_ok=True)
    dialog.grab().save(str(GRABS / "host-isos.png"))
    with qtbot.waitSignal(editor.changed):
        choose(qtbot, dialog, on_host)
    assert editor.path() == on_host
    assert not dialog.isVisible()


def test_a_host_that_cannot_be_read_says_why(qtbot, runner) -> None:
    def unreachable(_name: str) -> Backend:
        raise ConnectionLost("esx01.lab.example:443 could not be reached")

    dialog = HostIsoDialog(HostIsos("esxi@esx01.lab.example", runner, unreachable))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "could not be read" in dialog.status.text())
    assert dialog.status.text() == ("The host's ISO images could not be read: "
                                    "esx01.lab.example:443 could not be reached")
    assert not dialog.list.isVisible() and not dialog.choose.isEnabled()


def test_the_button_is_there_only_for_hosts_that_keep_isos(qtbot, runner) -> None:
    assert HostIsos.of("qemu", runner, lambda _name: None) is None  # type: ignore[arg-type,return-value]
    assert HostIsos.of("hyperv@hv01", runner, lambda _name: None) is None  # type: ignore[arg-type,return-value]
    assert HostIsos.of("esxi@vc.example", runner, lambda _name: None) is not None  # type: ignore[arg-type,return-value]


def test_the_settings_send_the_iso_chosen_on_the_host(
        qtbot, runner, make_facts, esx_backend: EsxiBackend, on_host: str) -> None:  # noqa: F811
    machine_id = esx_backend.create(spec("dvmtest-host-iso-settings"), progress=no_progress,
                                    cancel=CancelToken())
    try:
        info = esx_backend.get_machine(machine_id)
        # A host's facts name the host (its paths are not files on this computer).
        facts = replace(make_facts(esx_backend), host=esx_backend.host)
        dialog = SettingsDialog(facts, info, runner, lambda _name: esx_backend)
        qtbot.addWidget(dialog)
        dialog.show()
        tabs = [dialog.tabs.widget(i) for i in range(dialog.tabs.count())]
        dialog.tabs.setCurrentIndex(next(i for i, tab in enumerate(tabs)
                                         if tab is not None and tab.isAncestorOf(dialog.storage)))
        optical = dialog.storage.optical
        assert optical is not None and optical.on_host.isVisible()
        GRABS.mkdir(exist_ok=True)
        dialog.grab().save(str(GRABS / "settings-storage.png"))
        optical.on_host.click()
        assert optical.host_dialog is not None
        choose(qtbot, optical.host_dialog, on_host)
        assert optical.path() == on_host
        qtbot.waitUntil(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled)
        with qtbot.waitSignal(dialog.applied, timeout=15_000):
            dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        assert [o.iso for _, o in esx_backend.get_machine(machine_id).spec.all_optical()] \
            == [on_host]
    finally:
        if esx_backend.get_machine(machine_id).state is not PowerState.OFF:
            esx_backend.power_off(machine_id)
        esx_backend.delete(machine_id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())


def test_the_wizard_offers_it_on_esxi_only(qtbot, runner, make_facts,
                                           esx_backend: EsxiBackend) -> None:  # noqa: F811
    wizard = NewVmWizard([make_facts(esx_backend)], runner, lambda _name: esx_backend)
    qtbot.addWidget(wizard)
    wizard.show()
    optical = wizard.identity_page.optical
    assert optical is not None and optical.host_isos is not None
    assert optical.host_isos.connection == esx_backend.name
    assert optical.on_host.isVisible() and "On the host…" in optical.hint.text()
    GRABS.mkdir(exist_ok=True)
    wizard.grab().save(str(GRABS / "wizard-identity.png"))


def test_a_local_connection_has_no_host_button(qtbot, runner, make_facts, tmp_path) -> None:
    backend = MemoryBackend(tmp_path)
    wizard = NewVmWizard([make_facts(backend)], runner, lambda _name: backend)
    qtbot.addWidget(wizard)
    wizard.show()
    optical = wizard.identity_page.optical
    assert optical is not None and optical.host_isos is None
    assert not optical.on_host.isVisible() and "On the host" not in optical.hint.text()
