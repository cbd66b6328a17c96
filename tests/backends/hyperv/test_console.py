"""RGB565 to PNG without Pillow, and key names to Windows virtual-key codes."""

from __future__ import annotations

import struct
import zlib

import pytest

from backends.hyperv.console import rgb565_to_png
from backends.hyperv.keys import combo, typeable
from desktopvm.protocol.keys import UnknownKey


def pixels(png: bytes) -> tuple[int, int, bytes]:
    width, height = struct.unpack(">II", png[16:24])
    data = b""
    position = 8
    while position < len(png):
        length = struct.unpack(">I", png[position:position + 4])[0]
        kind = png[position + 4:position + 8]
        body = png[position + 8:position + 8 + length]
        crc = struct.unpack(">I", png[position + 8 + length:position + 12 + length])[0]
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IDAT":
            data += body
        position += 12 + length
    return width, height, zlib.decompress(data)


def test_rgb565_widens_each_channel_to_8_bits():
    raw = b"".join(v.to_bytes(2, "little") for v in (0xF800, 0x07E0, 0x001F, 0x8410, 0x0000,
                                                      0xFFFF))
    width, height, rows = pixels(rgb565_to_png(raw, 3, 2))
    assert (width, height) == (3, 2)
    assert rows == (b"\x00" + bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
                    + b"\x00" + bytes([132, 130, 132, 0, 0, 0, 255, 255, 255]))


def test_a_short_buffer_is_refused():
    with pytest.raises(ValueError, match="not a 2x2"):
        rgb565_to_png(b"\x00" * 6, 2, 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("ctrl-alt-delete", {"CtrlAltDel": True, "Modifiers": [], "Key": 0}),
    ("Ctrl+Alt+Del", {"CtrlAltDel": True, "Modifiers": [], "Key": 0}),
    ("alt+f4", {"CtrlAltDel": False, "Modifiers": [0x12], "Key": 0x73}),
    ("shift-tab", {"CtrlAltDel": False, "Modifiers": [0x10], "Key": 0x09}),
    ("win-r", {"CtrlAltDel": False, "Modifiers": [0x5B], "Key": 0x52}),
    ("Enter", {"CtrlAltDel": False, "Modifiers": [], "Key": 0x0D}),
])
def test_key_combinations(text: str, expected: dict[str, object]):
    assert combo(text) == expected


@pytest.mark.parametrize("text", ["", "ctrl-", "hyper-x", "ctrl-é"])
def test_unknown_keys(text: str):
    with pytest.raises(UnknownKey):
        combo(text)


def test_text_becomes_ascii_runs_and_enters():
    assert typeable("a b\r\nc\n") == [("text", "a b"), ("key", "enter"), ("text", "c"),
                                      ("key", "enter")]
    with pytest.raises(UnknownKey, match="ASCII"):
        typeable("naïve")


def test_long_lines_are_typed_in_pieces_of_512():
    """Review H2: Msvm_Keyboard.TypeText takes at most 512 ASCII characters per call."""
    line = "".join(chr(ord("a") + i % 26) for i in range(1300))
    parts = typeable(line + "\nok")
    assert [len(v) for k, v in parts if k == "text"] == [512, 512, 276, 2]
    assert "".join(v for k, v in parts[:3]) == line
    assert parts[3] == ("key", "enter")
