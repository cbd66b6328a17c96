"""Test helpers around the tiny guest: specs that boot it, and reading its serial console."""

from __future__ import annotations

import socket
import time
from pathlib import Path

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

READY = b"DESKTOPVM-TEST-GUEST READY"
PROMPT = b"guest# "
MIB = 1024**2


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
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        next_poke = 0.0
        while needle not in self.seen[start:]:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{needle!r} not seen; got: {self.seen[-2000:]!r}")
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
        return self.seen[start:]

    def run(self, command: str, marker: bytes, timeout: float = 60.0) -> bytes:
        """Type a command into the guest's shell and wait for `marker` in its output."""
        self.sock.sendall(command.encode() + b"\n")
        return self.wait_for(marker, timeout)

    def close(self) -> None:
        self.sock.close()


def wait_until_ready(backend: Backend, machine_id: str) -> None:
    """The guest's init has loaded the ACPI button driver once its shell prompt answers."""
    reader = SerialReader(backend, machine_id)
    try:
        reader.wait_for(PROMPT, poke=True)
    finally:
        reader.close()
