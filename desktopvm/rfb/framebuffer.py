"""The client-side framebuffer: 32-bit BGRX pixels in one bytearray, plus rectangle blits."""

from __future__ import annotations

from dataclasses import dataclass

BPP = 4  # bytes per pixel of the framebuffer and of the pixel format we ask servers for
OPAQUE = b"\x00\x00\x00\xff"


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in framebuffer pixels."""

    x: int
    y: int
    w: int
    h: int

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, x1 - x0, y1 - y0)


class Framebuffer:
    """Pixels as little-endian 0xffRRGGBB words (Qt's RGB32 layout), row after row."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.stride = width * BPP
        self.data = bytearray(OPAQUE * (width * height))

    def resize(self, width: int, height: int) -> None:
        """Start over at a new size (the server repaints everything after a resize)."""
        self.__init__(width, height)  # type: ignore[misc]

    def clip(self, x: int, y: int, w: int, h: int) -> bool:
        """Whether the rectangle lies inside the framebuffer."""
        return x >= 0 and y >= 0 and w >= 0 and h >= 0 and x + w <= self.width \
            and y + h <= self.height

    def put(self, x: int, y: int, w: int, h: int, pixels: bytes | bytearray | memoryview) -> None:
        """Copy tightly packed BGRX rows into the rectangle."""
        data, stride, row = self.data, self.stride, w * BPP
        if x == 0 and w == self.width:
            start = y * stride
            data[start:start + row * h] = pixels
            return
        offset = y * stride + x * BPP
        source = 0
        for _ in range(h):
            data[offset:offset + row] = pixels[source:source + row]
            offset += stride
            source += row

    def fill(self, x: int, y: int, w: int, h: int, pixel: bytes) -> None:
        """Fill the rectangle with one BGRX pixel."""
        line = pixel * w
        data, stride, row = self.data, self.stride, w * BPP
        offset = y * stride + x * BPP
        for _ in range(h):
            data[offset:offset + row] = line
            offset += stride

    def copy_rect(self, src_x: int, src_y: int, target: Rect) -> None:
        """CopyRect: move pixels within the framebuffer (overlap safe)."""
        block = self.get(src_x, src_y, target.w, target.h)
        self.put(target.x, target.y, target.w, target.h, block)

    def get(self, x: int, y: int, w: int, h: int) -> bytes:
        """The rectangle's pixels, tightly packed."""
        data, stride, row = self.data, self.stride, w * BPP
        if x == 0 and w == self.width:
            return bytes(data[y * stride:(y + h) * stride])
        offset = y * stride + x * BPP
        return b"".join(bytes(data[o:o + row]) for o in range(offset, offset + h * stride, stride))
