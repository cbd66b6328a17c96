"""Boot the test-guest ISO under QEMU (TCG) and check the lines it promises to print."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from backends.qemu import keys
from desktopvm.testing.guest.build_iso import build_test_iso
from desktopvm.testing.qemu_guest import (
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    BTN_RIGHT,
    DUMP_PATTERN,
    EV_ABS,
    EV_KEY,
    EV_REL,
    PS2_KEYBOARD,
    PS2_MOUSE,
    REL_X,
    REL_Y,
    TEXT_MODE_SIZE,
    TYPED_ANSWER,
    TYPED_COMMAND,
    USB_TABLET,
    InputEvent,
    dump_input_command,
    image_size,
    load_driver_command,
    parse_input_dump,
    record_input_command,
    result_pattern,
    without_sync,
)

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT = 60.0
POWERDOWN_TIMEOUT = 30.0
TAG = "DESKTOPVM-TEST-GUEST"
STATS = re.compile(rf"{TAG} cpus=(?P<cpus>\d+) mem_mib=(?P<mem>\d+) uptime=(?P<up>[\d.]+)")
# What the QEMU backend adds for spec.usb.tablet (backends/qemu/argv.py).
USB_TABLET_ARGS = ["-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0"]
KEY_E, KEY_C, KEY_H, KEY_O = 18, 46, 35, 24


class SerialConsole:
    """The guest's serial port, drained by a thread into a buffer that tests can wait on.

    Draining constantly matters: QEMU writes each UART byte as its own socket message, so
    after a few hundred unread bytes its writes fail and the guest's serial output stalls.
    """

    def __init__(self, path: Path) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(str(path))
        self._data = bytearray()
        self._cursor = 0  # wait_for() only looks at output after the previous match
        self._changed = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._drain, name="serial-drain", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                chunk = b""
            with self._changed:
                if chunk:
                    self._data += chunk
                else:
                    self._closed = True
                self._changed.notify_all()
            if not chunk:
                return

    @property
    def text(self) -> str:
        """Everything the guest printed so far."""
        with self._changed:
            return self._data.decode(errors="replace")

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """Block until pattern appears after the previous match; fail with the output so far."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                text = self._data.decode(errors="replace")
                match = regex.search(text, self._cursor)
                if match:
                    self._cursor = match.end()
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    why = "serial closed" if self._closed else f"timed out after {timeout:.0f} s"
                    raise AssertionError(f"{regex.pattern!r} not seen ({why}); output:\n{text}")
                self._changed.wait(remaining)

    def send(self, text: str) -> None:
        """Type text into the guest's serial console."""
        self._sock.sendall(text.encode())

    def close(self) -> None:
        """Stop the drain thread and release the socket."""
        with contextlib.suppress(OSError):  # QEMU may already be gone
            self._sock.shutdown(socket.SHUT_RDWR)
        self._reader.join(timeout=5)
        self._sock.close()


class QmpClient:
    """Just enough of QMP: newline-delimited JSON commands, skipping asynchronous events."""

    def __init__(self, path: Path) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(10)
        self._sock.connect(str(path))
        self._io = self._sock.makefile("rwb")
        greeting = self._read()
        assert "QMP" in greeting, greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self._io.readline()
        if not line:
            raise ConnectionError("QMP connection closed")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run a command and return its "return" value."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self._io.write(json.dumps(request).encode() + b"\n")
        self._io.flush()
        while True:
            reply = self._read()
            if "error" in reply:
                raise RuntimeError(f"QMP {command} failed: {reply['error']}")
            if "return" in reply:
                return reply["return"]

    def close(self) -> None:
        """Close the connection."""
        self._io.close()
        self._sock.close()


class GuestVM:
    """A QEMU process booting the guest ISO, with its serial console and QMP connected."""

    def __init__(self, iso: Path, extra_args: Sequence[str] = (), *, smp: int = 2) -> None:
        # Unix socket paths are limited to 108 bytes, so not under pytest's long tmp_path.
        self._sockdir = tempfile.TemporaryDirectory(prefix="dvm-guest-")
        sockdir = Path(self._sockdir.name)
        cmd = [
            QEMU, "-accel", "tcg", "-m", "256", "-smp", str(smp),
            "-cdrom", str(iso), "-boot", "d", "-nic", "none", "-display", "none",
            "-serial", f"unix:{sockdir / 'serial.sock'},server=on,wait=off",
            "-qmp", f"unix:{sockdir / 'qmp.sock'},server=on,wait=off",
            "-monitor", "none",
            "-S",  # start paused: no serial output is lost before we connect
            "-no-reboot",  # a guest panic ends QEMU instead of boot-looping until timeout
            *extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.serial: SerialConsole | None = None
        self.qmp: QmpClient | None = None
        try:
            self.serial = SerialConsole(self._wait_for_socket(sockdir / "serial.sock"))
            self.qmp = QmpClient(self._wait_for_socket(sockdir / "qmp.sock"))
            self.qmp.execute("cont")
        except BaseException:
            self.close()
            raise

    def _wait_for_socket(self, path: Path, timeout: float = 10) -> Path:
        # QEMU creates its listening sockets during start-up; nothing to wait on but the file.
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"QEMU exited early ({self.process.returncode})")
            if time.monotonic() > deadline:
                raise AssertionError(f"QEMU did not create {path.name} within {timeout} s")
            time.sleep(0.02)
        return path

    def console(self) -> SerialConsole:
        """The connected serial console."""
        assert self.serial is not None
        return self.serial

    def monitor(self) -> QmpClient:
        """The connected QMP client."""
        assert self.qmp is not None
        return self.qmp

    def wait_until_ready(self) -> re.Match[str]:
        """Wait for the READY line and return the stats line that follows it."""
        self.console().wait_for(rf"{TAG} READY\r?\n", BOOT_TIMEOUT)
        return self.console().wait_for(STATS, BOOT_TIMEOUT)

    def guest_command(self, command: str, timeout: float = 60) -> str:
        """Run one of the guest's commands on the serial shell; its result line, if it is ok."""
        self.console().send(command + "\n")
        result = self.console().wait_for(result_pattern(command.split(maxsplit=1)[0]), timeout)
        assert result[1] == "ok", result[0]
        return result[2]

    def input_events(self, file: str, count: int) -> list[InputEvent]:
        """The events `record-input` wrote to `file`, once there are `count` (at most 30 s)."""
        self.console().send(dump_input_command(file, count) + "\n")
        return parse_input_dump(self.console().wait_for(DUMP_PATTERN, 60)[0])

    def screen_size(self, directory: Path) -> tuple[int, int]:
        """The display's size, from a QMP screendump (PPM)."""
        return image_size(self.screendump(directory))

    def screendump(self, directory: Path) -> bytes:
        """The display's content as a binary PPM."""
        target = directory / "screen.ppm"
        self.monitor().execute("screendump", filename=str(target))
        return target.read_bytes()

    def stderr_after_exit(self) -> str:
        """QEMU's stderr; only call once the process has ended."""
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")

    def close(self) -> None:
        """Kill QEMU if still running and release every socket, pipe and directory."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)  # reaps QEMU and closes its stderr pipe
        for channel in (self.qmp, self.serial):
            if channel is not None:
                channel.close()
        self._sockdir.cleanup()

    def __enter__(self) -> GuestVM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- fixtures -------------------------------------------------------------------------------


def _require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"'{tool}' not found: install the Debian package '{package}'")


@pytest.fixture(scope="session")
def guest_iso() -> Path:
    """The default (cloud kernel) guest ISO, built once and cached across sessions."""
    _require(QEMU, "qemu-system-x86")
    return build_test_iso()


@pytest.fixture(scope="session")
def generic_iso() -> Path:
    """The generic-kernel guest ISO (more drivers, slower boot)."""
    _require(QEMU, "qemu-system-x86")
    return build_test_iso(flavour="generic")


@pytest.fixture(scope="module")
def generic_vm(generic_iso: Path) -> Iterator[GuestVM]:
    """One booted generic-kernel guest with no USB controller (so a PS/2 mouse only)."""
    with GuestVM(generic_iso) as vm:
        vm.wait_until_ready()
        yield vm


@pytest.fixture(scope="module")
def ready_vm(guest_iso: Path) -> Iterator[tuple[GuestVM, re.Match[str]]]:
    """One booted guest shared by the read-only checks, with its stats line."""
    with GuestVM(guest_iso) as vm:
        yield vm, vm.wait_until_ready()


def _blank_qcow2(directory: Path, size: str = "64M") -> Path:
    _require("qemu-img", "qemu-utils")
    disk = directory / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), size],
        check=True,
        capture_output=True,
    )
    return disk


# --- tests ----------------------------------------------------------------------------------


def test_guest_reports_cpus_and_memory(ready_vm: tuple[GuestVM, re.Match[str]]) -> None:
    _, stats = ready_vm
    assert int(stats["cpus"]) == 2
    # -m 256: the guest sees a little less (firmware and kernel reservations).
    assert 128 < int(stats["mem"]) <= 256
    assert float(stats["up"]) > 0


def test_guest_serial_shell_runs_commands(ready_vm: tuple[GuestVM, re.Match[str]]) -> None:
    vm, _ = ready_vm
    # The echoed command line reads "hello-$((6*7))", so only real execution prints hello-42.
    vm.console().send("echo hello-$((6*7))\n")
    vm.console().wait_for(r"hello-42", 30)


def test_guest_lists_virtio_disk(guest_iso: Path, tmp_path: Path) -> None:
    disk = _blank_qcow2(tmp_path)
    with GuestVM(guest_iso, ["-drive", f"file={disk},if=virtio,format=qcow2"]) as vm:
        disks = vm.console().wait_for(rf"{TAG} disks=(.*?)\r?\n", BOOT_TIMEOUT)
        assert disks[1].split() == ["vda"]


def test_guest_powers_off_on_acpi_powerdown(guest_iso: Path) -> None:
    with GuestVM(guest_iso) as vm:
        vm.wait_until_ready()
        vm.monitor().execute("system_powerdown")
        vm.console().wait_for(rf"{TAG} POWER-BUTTON", POWERDOWN_TIMEOUT)
        try:
            returncode = vm.process.wait(timeout=POWERDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"QEMU still running {POWERDOWN_TIMEOUT:.0f} s after system_powerdown")
        assert returncode == 0, vm.stderr_after_exit()


def test_generic_flavour_sees_ahci_disk_and_e1000e_nic(generic_iso: Path, tmp_path: Path) -> None:
    """The cloud kernel lacks AHCI and e1000e; the generic flavour is there for such tests."""
    iso = generic_iso
    disk = _blank_qcow2(tmp_path)
    hardware = [
        "-machine", "q35",  # its built-in ICH9 AHCI controller takes if=ide drives
        "-drive", f"file={disk},if=ide,format=qcow2",
        "-device", "e1000e,netdev=net0", "-netdev", "user,id=net0",
    ]  # fmt: skip
    with GuestVM(iso, hardware) as vm:
        disks = vm.console().wait_for(rf"{TAG} disks=(.*?)\r?\n", BOOT_TIMEOUT)
        nics = vm.console().wait_for(rf"{TAG} nics=(.*?)\r?\n", BOOT_TIMEOUT)
        assert disks[1].split() == ["sda"]
        assert nics[1].split() == ["eth0"]


def _axes(kind: str, **values: int) -> list[dict[str, Any]]:
    """QMP input-send-event events moving the pointer: kind "abs" (0..32767) or "rel"."""
    return [{"type": kind, "data": {"axis": axis, "value": v}} for axis, v in values.items()]


def _button(button: str, *, down: bool) -> list[dict[str, Any]]:
    return [{"type": "btn", "data": {"button": button, "down": down}}]


def _type_on_vga(vm: GuestVM, text: str) -> None:
    """Type text on the guest's keyboard (so into the VGA console's shell), as send-key does."""
    for combo in keys.text_qcodes(text):
        vm.monitor().execute("send-key", keys=keys.qmp_keys(combo))


def test_usb_tablet_events_reach_the_guest_driver(generic_iso: Path) -> None:
    with GuestVM(generic_iso, USB_TABLET_ARGS) as vm:
        vm.wait_until_ready()
        assert vm.guest_command(record_input_command(USB_TABLET, "/tmp/tablet")).startswith("event")
        qmp = vm.monitor()
        qmp.execute("input-send-event", events=_axes("abs", x=1000, y=2000))
        qmp.execute("input-send-event", events=_button("left", down=True))
        qmp.execute("input-send-event", events=_button("left", down=False))
        # 3 reports x (values, MSC_SCAN for the button, SYN_REPORT) = 9 events
        events = vm.input_events("/tmp/tablet", 9)
    assert without_sync(events) == [
        (EV_ABS, ABS_X, 1000),
        (EV_ABS, ABS_Y, 2000),
        (EV_KEY, BTN_LEFT, 1),
        (EV_KEY, BTN_LEFT, 0),
    ], events


def test_ps2_mouse_events_reach_the_guest_driver(generic_vm: GuestVM) -> None:
    generic_vm.guest_command(record_input_command(PS2_MOUSE, "/tmp/mouse"))
    qmp = generic_vm.monitor()
    qmp.execute("input-send-event", events=_axes("rel", x=10, y=-5))
    qmp.execute("input-send-event", events=_button("right", down=True))
    qmp.execute("input-send-event", events=_button("right", down=False))
    events = generic_vm.input_events("/tmp/mouse", 7)  # 3 packets: 2 + 1 + 1 values, 3 SYN
    assert without_sync(events) == [
        (EV_REL, REL_X, 10),
        (EV_REL, REL_Y, -5),
        (EV_KEY, BTN_RIGHT, 1),
        (EV_KEY, BTN_RIGHT, 0),
    ], events


def test_record_input_names_the_devices_it_knows(ready_vm: tuple[GuestVM, re.Match[str]]) -> None:
    vm, _ = ready_vm
    vm.console().send(record_input_command("No Such Mouse", "/tmp/none", wait=0) + "\n")
    result = vm.console().wait_for(result_pattern("record-input"), 60)
    assert result[1] == "failed"
    assert PS2_KEYBOARD in result[2]  # the list of devices the guest has


def test_typing_on_the_vga_console_runs_shell_commands(
    ready_vm: tuple[GuestVM, re.Match[str]],
) -> None:
    vm, _ = ready_vm
    vm.guest_command(record_input_command(PS2_KEYBOARD, "/tmp/keys"))
    _type_on_vga(vm, TYPED_COMMAND)
    # Only the VGA console's shell sees these keys, and it writes the answer to the serial port.
    vm.console().wait_for(TYPED_ANSWER.decode(), 30)
    events = vm.input_events("/tmp/keys", 0)
    presses = [code for kind, code, value in events if kind == EV_KEY and value == 1]
    assert presses[:4] == [KEY_E, KEY_C, KEY_H, KEY_O], presses


def test_ctrl_c_interrupts_a_command_on_the_vga_console(
    ready_vm: tuple[GuestVM, re.Match[str]],
) -> None:
    vm, _ = ready_vm
    _type_on_vga(vm, "echo SLEEPING-$((2*3)) >/dev/ttyS0; sleep 1000\n")
    vm.console().wait_for("SLEEPING-6", 30)
    vm.monitor().execute("send-key", keys=keys.qmp_keys(["ctrl", "c"]))
    _type_on_vga(vm, TYPED_COMMAND)  # runs only once the sleep is gone
    vm.console().wait_for(TYPED_ANSWER.decode(), 30)


def test_load_driver_fails_for_drivers_the_guest_lacks(
    ready_vm: tuple[GuestVM, re.Match[str]],
) -> None:
    vm, _ = ready_vm
    vm.console().send(load_driver_command("bochs") + "\n")  # the cloud kernel has no bochs
    result = vm.console().wait_for(result_pattern("load-driver"), 60)
    assert result[1] == "failed"
    assert re.fullmatch(r"bochs: not in this guest \(have: [a-z_ ]*\)", result[2]), result[2]
    assert "bochs" not in result[2].partition("(have:")[2]


def test_load_driver_bochs_changes_the_screen_size(generic_vm: GuestVM, tmp_path: Path) -> None:
    assert generic_vm.screen_size(tmp_path) == TEXT_MODE_SIZE
    generic_vm.guest_command(load_driver_command("bochs"))
    deadline = time.monotonic() + 30
    while (size := generic_vm.screen_size(tmp_path)) == TEXT_MODE_SIZE:
        assert time.monotonic() < deadline, "the display stayed in text mode"
        time.sleep(0.2)
    assert size[0] > TEXT_MODE_SIZE[0] and size[1] > TEXT_MODE_SIZE[1], size
    # fbcon draws the console on the framebuffer: the guest's text is there, not a black screen.
    pixels = generic_vm.screendump(tmp_path)[-size[0] * size[1] * 3 :]
    assert sum(1 for red in pixels[::3] if red > 100) > 1000
    generic_vm.guest_command(load_driver_command("bochs"))  # loaded: nothing left to do
