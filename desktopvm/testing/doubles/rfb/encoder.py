"""A deliberately naive ZRLE/Raw encoder, written independently of the decoder, for tests."""

from __future__ import annotations

import zlib

Pixel = tuple[int, int, int]  # (r, g, b)
Image = list[list[Pixel]]


def cpixel(p: Pixel) -> bytes:
    r, g, b = p
    return bytes((b, g, r))


def bgrx(p: Pixel) -> bytes:
    r, g, b = p
    return bytes((b, g, r, 255))


def run_length(run: int) -> bytes:
    """ZRLE run length: (run - 1) as 255, 255, ..., remainder."""
    n = run - 1
    out = bytearray()
    while n >= 255:
        out.append(255)
        n -= 255
    out.append(n)
    return bytes(out)


def runs(pixels: list[Pixel]) -> list[tuple[Pixel, int]]:
    result: list[tuple[Pixel, int]] = []
    for p in pixels:
        if result and result[-1][0] == p:
            result[-1] = (p, result[-1][1] + 1)
        else:
            result.append((p, 1))
    return result


def encode_tile(rows: Image, mode: str) -> bytes:  # noqa: PLR0912
    pixels = [p for row in rows for p in row]
    palette = list(dict.fromkeys(pixels))
    if mode in ("packed", "prle") and len(palette) == 1:
        mode = "solid"
    if mode == "raw":
        return b"\x00" + b"".join(cpixel(p) for p in pixels)
    if mode == "solid":
        assert len(palette) == 1
        return b"\x01" + cpixel(palette[0])
    if mode == "packed":
        assert 2 <= len(palette) <= 16
        bits = 1 if len(palette) == 2 else 2 if len(palette) <= 4 else 4
        out = bytearray([len(palette)]) + b"".join(cpixel(p) for p in palette)
        for row in rows:
            acc, nbits = 0, 0
            for p in row:
                acc = (acc << bits) | palette.index(p)
                nbits += bits
                if nbits == 8:
                    out.append(acc)
                    acc, nbits = 0, 0
            if nbits:
                out.append(acc << (8 - nbits))
        return bytes(out)
    if mode == "rle":
        return b"\x80" + b"".join(cpixel(p) + run_length(n) for p, n in runs(pixels))
    if mode == "prle":
        assert 2 <= len(palette) <= 127
        out = bytearray([128 + len(palette)]) + b"".join(cpixel(p) for p in palette)
        for p, n in runs(pixels):
            if n == 1:
                out.append(palette.index(p))
            else:
                out.append(128 + palette.index(p))
                out += run_length(n)
        return bytes(out)
    raise ValueError(mode)


def encode_zrle(image: Image, mode: str | list[str], tile: int = 64) -> bytes:
    """Uncompressed ZRLE data of the whole image, tiles left to right, top to bottom."""
    h, w = len(image), len(image[0])
    out = bytearray()
    index = 0
    for ty in range(0, h, tile):
        for tx in range(0, w, tile):
            rows = [row[tx:tx + tile] for row in image[ty:ty + tile]]
            chosen = mode if isinstance(mode, str) else mode[index % len(mode)]
            out += encode_tile(rows, chosen)
            index += 1
    return bytes(out)


def zrle_message(image: Image, mode: str | list[str], compressor: zlib._Compress) -> bytes:
    """The length-prefixed, zlib-compressed ZRLE payload of a rectangle."""
    data = compressor.compress(encode_zrle(image, mode)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return len(data).to_bytes(4, "big") + data


def expected_bgrx(image: Image) -> bytes:
    return b"".join(bgrx(p) for row in image for p in row)


def pattern(w: int, h: int, colours: int, seed: int = 1) -> Image:
    """An image using exactly min(colours, w*h) colours, with runs of varied length."""
    palette = [((i * 37 + seed) % 256, (i * 91 + 3) % 256, (i * 53 + 7 * seed) % 256)
               for i in range(colours)]
    image: Image = []
    k = 0
    for y in range(h):
        row = []
        for x in range(w):
            row.append(palette[((x // (1 + y % 5)) + y * 3 + k) % colours])
        image.append(row)
        k += y % 3
    # make sure every colour appears
    flat = [(x, y) for y in range(h) for x in range(w)]
    for i, (x, y) in enumerate(flat[:colours]):
        image[y][x] = palette[i]
    return image
