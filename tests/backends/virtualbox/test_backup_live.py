"""A running VirtualBox guest backed up for real (live only: machines must start here).

    .venv/bin/python -m pytest --live-virtualbox -m live_virtualbox tests/backends/virtualbox

The test guest writes a marker on its raw disk, is backed up while it runs and writes a second
marker during the copy: the copy holds the first, the guest (never stopped) reads the second,
and no snapshot or registered copy is left. test_backup.py proves the same sequence on the
stand-in; only this run proves VirtualBox does it (the guest sees its SATA disk as /dev/sda).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.protocol import CancelToken, CapturingBackend, PowerState, no_progress
from desktopvm.testing.qemu_guest import SerialReader
from tests.backends.virtualbox.harness import virtualbox_live_harness
from tests.conformance.harness import Harness
from tests.conformance.live import live_options

pytestmark = [pytest.mark.live_virtualbox, pytest.mark.slow]
SECTOR = 2048


@pytest.fixture
def harness(tmp_path: Path, pytestconfig: pytest.Config) -> Iterator[Harness]:
    """A real VirtualBox; only the machines the test made are removed afterwards."""
    with virtualbox_live_harness(tmp_path, live_options(pytestconfig)) as live:
        yield live


def write_marker(serial: SerialReader, text: str) -> None:
    # The quotes keep the typed line (echoed back) from containing the marker we wait for.
    serial.run(f"echo {text} | dd of=/dev/sda bs=512 seek={SECTOR} conv=notrunc && sync && "
               f"echo WRO''TE-{text}", f"WROTE-{text}".encode())


def test_a_running_guest_is_backed_up_as_it_was_and_keeps_running(harness: Harness,
                                                                  tmp_path: Path):
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        pytest.skip("qemu-img reads the copy")
    backend = harness.backend
    assert isinstance(backend, CapturingBackend)
    machine_id = backend.create(harness.make_spec(harness.name("backup")), progress=no_progress,
                                cancel=CancelToken())
    backend.start(machine_id)
    harness.wait_until_guest_ready(machine_id)
    serial = SerialReader(backend, machine_id)
    try:
        write_marker(serial, "MARK-1")
        folder = tmp_path / "backup"
        folder.mkdir()

        def progress(_fraction: float | None, stage: str) -> None:
            if stage.startswith("Copying"):
                write_marker(serial, "MARK-2")

        captured = backend.capture(machine_id, folder, progress=progress, cancel=CancelToken())
        assert backend.get_machine(machine_id).summary.state is PowerState.RUNNING
        assert backend.list_snapshots(machine_id) == ((), "")
        raw = tmp_path / "copy.raw"
        subprocess.run([qemu_img, "convert", "-f", "vdi", "-O", "raw",
                        str(captured.disks[0].path), str(raw)], check=True)
        with raw.open("rb") as file:
            file.seek(SECTOR * 512)
            assert file.read(6) == b"MARK-1"
        seen = serial.run(f"dd if=/dev/sda bs=512 skip={SECTOR} count=1 2>/dev/null | "
                          "head -c 6; echo; echo DO''NE", b"DONE")
        assert b"MARK-2" in seen
    finally:
        serial.close()
        backend.power_off(machine_id)
