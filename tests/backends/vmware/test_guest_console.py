"""The console code against a real screen: the stand-in's `vmrun start` boots the test guest
under QEMU (TCG) with its VNC server where the .vmx says Workstation's is (fakedisplay.py)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopvm.model import OpticalDrive, SerialMode, SerialPort, defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.testing.doubles.vmware.standin import FakeVMware
from desktopvm.testing.qemu_guest import (
    PROMPT,
    TEXT_MODE_SIZE,
    TYPED_ANSWER,
    SerialReader,
    image_size,
)

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
QEMU = shutil.which("qemu-system-x86_64")


@pytest.fixture
def sockets() -> Iterator[Path]:
    """A short folder for the serial socket (Unix socket paths end at 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="dvm-vmware-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_screenshot_and_typing_reach_the_guest_through_the_vmx_vnc_server(
        tmp_path: Path, sockets: Path):
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    from PySide6.QtGui import QImage

    from desktopvm.testing.guest.build_iso import build_test_iso

    fake = FakeVMware(tmp_path / "vmware")
    fake.set(display="qemu", qemu={"binary": QEMU})
    backend = fake.backend()
    spec = defaults_for("other-linux", backend.capabilities(), name="guest")
    controller = spec.storage[0].model_copy(update={"optical": (
        OpticalDrive(iso=str(build_test_iso()), port=1),)})
    spec = spec.model_copy(update={"storage": (controller,), "serial": (
        SerialPort(number=1, mode=SerialMode.SOCKET, path=str(sockets / "serial.sock")),)})
    machine = backend.create(spec, progress=no_progress, cancel=CancelToken())
    backend.start(machine)
    reader = None
    try:
        reader = SerialReader(backend, machine)
        reader.wait_for(PROMPT, poke=True)  # booted: the shell answers on the serial port
        picture = backend.screenshot(machine)
        assert image_size(picture) == TEXT_MODE_SIZE  # the guest's VGA text console
        image = QImage.fromData(picture)
        colours = {image.pixel(x, y) for x in range(0, 720, 3) for y in range(0, 400, 3)}
        assert len(colours) > 1, "the screen is blank: no console text"
        # Typed on the VGA console, where only VNC's keys arrive; Enter as a key of its own.
        # Only a command that really ran prints 42 on the serial port, not its echo.
        backend.type_text(machine, "echo TYPED-$((6*7)) >/dev/ttyS0")
        backend.send_keys(machine, ["enter"])
        reader.wait_for(TYPED_ANSWER, timeout=60)
    except BaseException:  # what the guest showed and printed, to see why
        (tmp_path / "serial.txt").write_bytes(reader.seen if reader else b"")
        with contextlib.suppress(Exception):
            (tmp_path / "screen.png").write_bytes(backend.screenshot(machine))
        raise
    finally:
        if reader is not None:
            reader.close()
        backend.power_off(machine)
        fake.close()
