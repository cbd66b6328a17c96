"""A deleted ISO shows in the details pane's optical-drive row before anyone presses Start; the
file check runs in the details job (a worker), not on the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QLabel

from desktopvm.model import MachineSpec, OpticalDrive, StorageController, defaults_for
from desktopvm.protocol import CancelToken, MachineInfo, MachineSummary, PowerState, no_progress
from desktopvm.ui import details_reader
from tests.ui.test_main_window import backend, refreshed, select, window

__all__ = ["window"]  # the fixture, used by name


def optical_rows(window) -> list[QLabel]:
    form = window.details.hardware
    rows = []
    for row in range(form.rowCount()):
        label = form.itemAt(row, form.ItemRole.LabelRole).widget()
        field = form.itemAt(row, form.ItemRole.FieldRole).widget()
        if isinstance(label, QLabel) and label.text() == "Optical drive:":
            rows.append(field)
    return rows


def test_a_deleted_iso_is_flagged_in_the_details_row(qtbot, window, tmp_path: Path,
                                                     monkeypatch):
    iso = tmp_path / "gone.iso"
    iso.write_bytes(b"\0" * 2048)
    mem = backend(window)
    machine_id = mem.create(defaults_for("debian12", mem.capabilities(), name="web",
                                         iso=str(iso)), progress=no_progress, cancel=CancelToken())
    iso.unlink()
    threads: list[bool] = []
    real = details_reader.missing_isos

    def watched(spec: MachineSpec) -> frozenset[str]:
        threads.append(threading.current_thread() is threading.main_thread())
        return real(spec)
    monkeypatch.setattr(details_reader, "missing_isos", watched)
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    qtbot.waitUntil(lambda: bool(optical_rows(window)), timeout=3000)
    qtbot.waitUntil(lambda: "missing" in optical_rows(window)[0].text(), timeout=3000)
    row = optical_rows(window)[0]
    assert row.text().startswith("gone.iso — the file is missing")
    assert str(iso) in row.toolTip() and "Settings → Storage" in row.toolTip()
    assert threads and not any(threads)  # asked on a worker, never on the GUI thread

    iso.write_bytes(b"\0" * 2048)  # the file is back: the next read says the name only
    window.load_details()
    qtbot.waitUntil(lambda: "missing" not in optical_rows(window)[0].text(), timeout=3000)
    assert optical_rows(window)[0].text().startswith("gone.iso, on")


def test_another_hosts_isos_are_not_looked_for_here(tmp_path: Path):
    spec = MachineSpec(id="m1", name="web", storage=(StorageController(optical=(
        OpticalDrive(iso=str(tmp_path / "nowhere.iso")),)),))
    remote = MachineSummary("hyperv", "m1", "web", PowerState.OFF, host="hv01.lab.example")
    local = MachineSummary("qemu", "m1", "web", PowerState.OFF)

    class Registry:
        def open(self, _name: str) -> object:
            class Backend:
                def get_machine(self, _id: str) -> MachineInfo:
                    return MachineInfo(remote, spec)
            return Backend()

    assert details_reader.read_details(Registry(), remote).missing == frozenset()  # type: ignore[arg-type]
    assert details_reader.read_details(Registry(), local).missing == {  # type: ignore[arg-type]
        str(tmp_path / "nowhere.iso")}


def rows_named(window, name: str) -> list[QLabel]:
    form = window.details.hardware
    found = []
    for row in range(form.rowCount()):
        label = form.itemAt(row, form.ItemRole.LabelRole).widget()
        if isinstance(label, QLabel) and label.text() == name + ":":
            found.append(form.itemAt(row, form.ItemRole.FieldRole).widget())
    return found


def test_an_installer_boot_once_shows_as_first_boot(qtbot, window, monkeypatch):
    """A backend that boots an installer's kernel once (QEMU, Debian's preseed) says so in
    the details, read in the details job; none says nothing."""
    mem = backend(window)
    machine_id = mem.create(defaults_for("debian12", mem.capabilities(), name="web"),
                            progress=no_progress, cancel=CancelToken())
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    qtbot.waitUntil(lambda: bool(rows_named(window, "Firmware")), timeout=3000)
    assert rows_named(window, "First boot") == []

    asked: list[str] = []

    def installer_boot(machine: str) -> str:
        asked.append(machine)
        return "Debian installer with answers"

    monkeypatch.setattr(mem, "installer_boot", installer_boot, raising=False)
    window.load_details()
    qtbot.waitUntil(lambda: bool(rows_named(window, "First boot")), timeout=3000)
    [row] = rows_named(window, "First boot")
    assert row.text() == "Debian installer with answers" and asked == [machine_id]
