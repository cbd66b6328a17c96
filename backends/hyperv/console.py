"""Hyper-V consoles: vmconnect and serial pipes, thumbnails as PNG (zlib only), keys and text."""

from __future__ import annotations

import base64
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from functools import cache

from backends.hyperv import keys, parsers
from backends.hyperv.plans import Call
from backends.hyperv.runner import Runner
from desktopvm.model import MachineSpec
from desktopvm.protocol import ConsoleEndpoints, SerialEndpoint, UnsupportedOperation
from desktopvm.protocol.keys import UnknownKey

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@cache
def _rgb565_table() -> list[bytes]:
    """Every 16-bit RGB565 value as its 3 RGB bytes (5/6 bits widened to 8)."""
    table = []
    for value in range(65536):
        red, green, blue = value >> 11, (value >> 5) & 0x3F, value & 0x1F
        table.append(bytes(((red << 3) | (red >> 2), (green << 2) | (green >> 4),
                            (blue << 3) | (blue >> 2))))
    return table


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def rgb565_to_png(data: bytes, width: int, height: int) -> bytes:
    """A PNG of a raw little-endian RGB565 frame (what GetVirtualSystemThumbnailImage returns)."""
    if width <= 0 or height <= 0 or len(data) < width * height * 2:
        raise ValueError(f"{len(data)} bytes are not a {width}x{height} RGB565 image")
    pixels = array("H")
    pixels.frombytes(data[: width * height * 2])
    if sys.byteorder == "big":
        pixels.byteswap()
    table = _rgb565_table()
    rows = []
    for row in range(height):
        line = pixels[row * width:(row + 1) * width]
        rows.append(b"\x00" + b"".join([table[p] for p in line]))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + _chunk(b"IEND", b""))


def endpoints(runner: Runner, vm_id: str, spec: MachineSpec) -> ConsoleEndpoints:
    """vmconnect for the screen; on this computer also the first COM port's named pipe."""
    serial = None
    if runner.local:
        serial = next((SerialEndpoint(pipe=p.path) for p in sorted(
            spec.serial, key=lambda p: p.number) if p.path), None)
    return ConsoleEndpoints(serial=serial, native_viewer=("vmconnect.exe", runner.host,
                                                          spec.name))


def screenshot(runner: Runner, vm_id: str) -> bytes:
    """The VM's thumbnail at full size, as a PNG."""
    row = runner.run(Call("thumbnail", {"Id": vm_id, "Width": 0, "Height": 0}))
    return rgb565_to_png(base64.b64decode(row["ImageData"]), parsers.as_int(row["Width"]),
                         parsers.as_int(row["Height"]))


def type_text(runner: Runner, vm_id: str, text: str) -> None:
    """TypeText for each run of a line, Enter between lines."""
    try:
        parts = keys.typeable(text)
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    for kind, value in parts:
        if kind == "text":
            runner.run(Call("type_text", {"Id": vm_id, "Text": value}))
        else:
            runner.run(Call("type_keys", {"Id": vm_id, "Combos": [keys.combo(value)]}))


def send_keys(runner: Runner, vm_id: str, combos: Sequence[str]) -> None:
    """Every combination in one request (checked before the host sees it)."""
    try:
        planned = [keys.combo(combo) for combo in combos]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    runner.run(Call("type_keys", {"Id": vm_id, "Combos": planned}))
