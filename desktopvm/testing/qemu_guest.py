"""Test helpers around the tiny guest: specs that boot it, its serial console and commands."""

from __future__ import annotations

import re
import shlex
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    OpticalDrive,
    SerialMode,
    SerialPort,
    StorageController,
)
from desktopvm.protocol import Backend

TAG = "DESKTOPVM-TEST-GUEST"
READY = b"DESKTOPVM-TEST-GUEST READY"
PROMPT = b"guest# "
MIB = 1024**2

# Input devices the guest's drivers create (names as in /sys/class/input/input*/name).
PS2_KEYBOARD = "AT Translated Set 2 keyboard"  # both kernel flavours
PS2_MOUSE = "ImExPS/2 Generic Explorer Mouse"  # generic flavour: relative, QEMU's PS/2 mouse
USB_TABLET = "QEMU QEMU USB Tablet"  # generic flavour, spec.usb.tablet: absolute, 0..32767

# struct input_event's type and code values (linux/input-event-codes.h) that tests look at.
EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC = 0, 1, 2, 3, 4
REL_X, REL_Y, REL_WHEEL = 0, 1, 8
ABS_X, ABS_Y = 0, 1
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE = 0x110, 0x111, 0x112
INPUT_EVENT_SIZE = 24  # x86_64: struct timeval (16 bytes), u16 type, u16 code, s32 value

# Typed on the VGA console (tty1 runs a shell), this prints TYPED_ANSWER on the serial port;
# only a command that really ran can print 42, not the echo of what was typed.
TYPED_COMMAND = "echo TYPED-$((6*7)) >/dev/ttyS0\n"
TYPED_ANSWER = b"TYPED-42"

# The VGA console's size in text mode (80x25 characters of 9x16 pixels), as QMP screendump and
# the VNC framebuffer show it. `load-driver bochs` switches to the std VGA's preferred EDID mode
# (1280x800 with QEMU 7.2; the device's xres/yres properties).
TEXT_MODE_SIZE = (720, 400)


def guest_spec(name: str, iso: Path, *, firmware: Firmware = Firmware.BIOS,
               disk_bus: ControllerKind = ControllerKind.VIRTIO) -> MachineSpec:
    """A small machine that boots the test ISO: BIOS, 1 CPU, 256 MiB, a 64 MiB disk, no NIC."""
    controllers = [StorageController(name="disks", kind=disk_bus, disks=(
        Disk(format=DiskFormat.QCOW2, size_bytes=64 * MIB),))]
    controllers.append(StorageController(name="cd", kind=ControllerKind.SATA, optical=(
        OpticalDrive(iso=str(iso)),)))
    return MachineSpec(
        name=name, os="other-linux", firmware=FirmwareSpec(kind=firmware),
        cpu=CpuSpec(count=1), memory=MemorySpec(size_mib=256), storage=tuple(controllers),
        network=(), serial=(SerialPort(number=1, mode=SerialMode.SOCKET),),
        boot_order=(BootDevice.OPTICAL, BootDevice.DISK))


class InputEvent(NamedTuple):
    """One struct input_event, without its timestamp."""

    type: int
    code: int
    value: int


# --- the guest's commands (see desktopvm/testing/guest/README.md); for any serial console ---


def load_driver_command(driver: str) -> str:
    """Shell command loading an on-demand driver (generic flavour: "bochs")."""
    return f"load-driver {shlex.quote(driver)}"


def record_input_command(device: str, file: str = "/tmp/input", wait: int = 30) -> str:
    """Shell command that starts copying the named input device's events into `file`.

    The guest waits up to `wait` seconds for the device to show up.
    """
    return f"record-input {shlex.quote(device)} {shlex.quote(file)} {wait}"


def dump_input_command(file: str = "/tmp/input", count: int = 0) -> str:
    """Shell command printing `file` in hex once it holds `count` events (or after 30 s)."""
    return f"dump-input {shlex.quote(file)} {count}"


def result_pattern(command: str) -> str:
    """Regex of the line a guest command ends with: groups (ok|failed, the rest of the line)."""
    return rf"{TAG} {re.escape(command)} (ok|failed) ([^\r\n]*)\r?\n"


# Regex of dump-input's whole output; group 1 is the hex dump.
DUMP_PATTERN = rf"(?s){TAG} dump-input begin [^\r\n]*\r?\n(.*?){TAG} dump-input end"


def parse_input_dump(output: bytes | str) -> list[InputEvent]:
    """The events in the output of `dump-input` (the last dump in `output`)."""
    data = output.encode() if isinstance(output, str) else output
    dumps = re.findall(DUMP_PATTERN.encode(), data)
    if not dumps:
        raise ValueError(f"no dump-input output in {data[-2000:]!r}")
    raw = bytes(int(word, 16) for word in dumps[-1].split())
    if len(raw) % INPUT_EVENT_SIZE:
        raise ValueError(f"{len(raw)} bytes is not a whole number of input events")
    return [InputEvent(*struct.unpack_from("<HHi", raw, offset + 16))
            for offset in range(0, len(raw), INPUT_EVENT_SIZE)]


def without_sync(events: list[InputEvent]) -> list[InputEvent]:
    """The events other than EV_SYN and EV_MSC (scan codes): what a test usually compares."""
    return [event for event in events if event.type not in (EV_SYN, EV_MSC)]


def image_size(image: bytes) -> tuple[int, int]:
    """Width and height of a PNG (backend screenshot) or binary PPM (QMP screendump)."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        width, height = struct.unpack_from(">II", image, 16)
        return width, height
    header = re.match(rb"P6\s+(\d+)\s+(\d+)\s", image)
    if header is None:
        raise ValueError(f"neither PNG nor PPM: {image[:16]!r}")
    return int(header[1]), int(header[2])


class SerialReader:
    """Reads a machine's serial console and waits for text in it."""

    def __init__(self, backend: Backend, machine_id: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = backend.console(machine_id).serial
            if endpoint is not None and Path(endpoint.unix_socket).exists():
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the machine never offered a serial socket")
            time.sleep(0.05)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(endpoint.unix_socket)
        self.seen = b""

    def wait_for(self, needle: bytes, timeout: float = 90.0, poke: bool = False) -> bytes:
        """Read until `needle` appears; with `poke`, press Enter now and then (for a prompt)."""
        start = len(self.seen)
        self._read_until(lambda: needle in self.seen[start:], repr(needle), timeout, poke)
        return self.seen[start:]

    def _read_until(self, done: Callable[[], object], what: str, timeout: float,
                    poke: bool = False) -> None:
        deadline = time.monotonic() + timeout
        next_poke = 0.0
        while not done():
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{what} not seen; got: {self.seen[-2000:]!r}")
            if poke and now >= next_poke:
                self.sock.sendall(b"\n")
                next_poke = now + 1.0
            self.sock.settimeout(0.25)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError(f"serial console closed; got: {self.seen[-2000:]!r}")
            self.seen += chunk

    def run(self, command: str, marker: bytes, timeout: float = 60.0) -> bytes:
        """Type a command into the guest's shell and wait for `marker` in its output."""
        self.sock.sendall(command.encode() + b"\n")
        return self.wait_for(marker, timeout)

    def run_guest_command(self, command: str, timeout: float = 60.0) -> str:
        """Run one of the guest's commands; return its result line's text, raise if it failed."""
        name = command.split(maxsplit=1)[0]
        pattern = re.compile(result_pattern(name).encode())
        start = len(self.seen)
        self.sock.sendall(command.encode() + b"\n")
        self._read_until(lambda: pattern.search(self.seen, start), f"{name}'s result", timeout)
        match = pattern.search(self.seen, start)
        assert match is not None
        if match[1] != b"ok":
            raise AssertionError(f"{command!r} failed: {match[2].decode(errors='replace')}")
        return match[2].decode(errors="replace")

    def load_driver(self, driver: str, timeout: float = 60.0) -> None:
        """Load an on-demand driver in the guest, e.g. "bochs" (generic flavour only)."""
        self.run_guest_command(load_driver_command(driver), timeout)

    def record_input(self, device: str, file: str = "/tmp/input", wait: int = 30) -> str:
        """Start recording an input device's events in the guest (waits `wait` s for it).

        Returns the event device ("event3"). Every event after this returns is recorded.
        """
        command = record_input_command(device, file, wait)
        return self.run_guest_command(command, timeout=wait + 30).split()[0]

    def input_events(self, file: str = "/tmp/input", count: int = 0,
                     timeout: float = 60.0) -> list[InputEvent]:
        """The events recorded in `file`, once there are at least `count` of them.

        The guest waits at most 30 s for them and then dumps what it has: compare the result,
        the assertion shows what did arrive.
        """
        start = len(self.seen)
        self.sock.sendall(dump_input_command(file, count).encode() + b"\n")
        dump = re.compile(DUMP_PATTERN.encode())
        self._read_until(lambda: dump.search(self.seen, start), "dump-input's output", timeout)
        return parse_input_dump(self.seen[start:])

    def close(self) -> None:
        self.sock.close()


def wait_until_ready(backend: Backend, machine_id: str) -> None:
    """The guest's init has loaded the ACPI button driver once its shell prompt answers."""
    reader = SerialReader(backend, machine_id)
    try:
        reader.wait_for(PROMPT, poke=True)
    finally:
        reader.close()
