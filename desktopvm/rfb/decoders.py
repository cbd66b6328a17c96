"""Rectangle decoders: Raw, ZRLE (tiles, CPIXELs, packed palettes, RLE) and the Cursor shape."""

from __future__ import annotations

from desktopvm.rfb.framebuffer import BPP, OPAQUE, Framebuffer, Rect

TILE = 64
_ALPHA = b"\xff"


class DecodeError(ValueError):
    """The server sent a rectangle we cannot make sense of."""


def _shift_tables(bits: int) -> list[bytes]:
    """For each index position in a packed byte, a table byte -> that index (MSB first)."""
    per_byte, mask = 8 // bits, (1 << bits) - 1
    return [bytes((b >> (8 - bits * (k + 1))) & mask for b in range(256))
            for k in range(per_byte)]


UNPACK = {bits: _shift_tables(bits) for bits in (1, 2, 4)}
_ZERO_PAD = [bytes(256 - n) for n in range(257)]


def cpixels_to_bgrx(cpixels: bytes, count: int) -> bytearray:
    """Turn `count` 3-byte CPIXELs (B, G, R) into 4-byte opaque BGRX pixels."""
    out = bytearray(OPAQUE * count)
    out[0::4] = cpixels[0::3]
    out[1::4] = cpixels[1::3]
    out[2::4] = cpixels[2::3]
    return out


def unpack_indices(packed: bytes, bits: int, width: int, height: int) -> bytes:
    """Palette indices of a packed tile: `bits` per pixel, MSB first, rows padded to bytes."""
    per_byte = 8 // bits
    expanded = bytearray(len(packed) * per_byte)
    for k, table in enumerate(UNPACK[bits]):
        expanded[k::per_byte] = packed.translate(table)
    row = ((width * bits + 7) // 8) * per_byte
    if row == width:
        return bytes(expanded)
    return b"".join(expanded[r:r + width] for r in range(0, row * height, row))


def map_palette(indices: bytes, palette: bytes, count: int) -> bytearray:
    """BGRX pixels for palette indices; `palette` holds `count` CPIXELs."""
    pad = _ZERO_PAD[count]
    out = bytearray(OPAQUE * len(indices))
    out[0::4] = indices.translate(palette[0::3] + pad)
    out[1::4] = indices.translate(palette[1::3] + pad)
    out[2::4] = indices.translate(palette[2::3] + pad)
    return out


def _runs(data: bytes, pos: int) -> tuple[int, int]:
    """A ZRLE run length (1 + sum of bytes, 255 continues) and the position after it."""
    run = 1
    while True:
        value = data[pos]
        pos += 1
        run += value
        if value != 255:
            return run, pos


def _plain_rle(data: bytes, pos: int, count: int) -> tuple[bytes, int]:
    parts: list[bytes] = []
    remaining = count
    while remaining > 0:
        pixel = data[pos:pos + 3] + _ALPHA
        run = 1
        value = data[pos + 3]
        pos += 4
        while True:  # inlined _runs: this is the hottest loop of RLE tiles
            run += value
            if value != 255:
                break
            value = data[pos]
            pos += 1
        parts.append(pixel * run)
        remaining -= run
    if remaining:
        raise DecodeError("ZRLE run goes past the end of its tile")
    return b"".join(parts), pos


def _palette_rle(data: bytes, pos: int, count: int) -> tuple[bytes, int]:
    parts: list[bytes] = []
    remaining = count
    singles = [bytes((i,)) for i in range(128)]
    while remaining > 0:
        index = data[pos]
        pos += 1
        if index < 128:
            parts.append(singles[index])
            remaining -= 1
            continue
        run, pos = _runs(data, pos)
        parts.append(singles[index - 128] * run)
        remaining -= run
    if remaining:
        raise DecodeError("ZRLE run goes past the end of its tile")
    return b"".join(parts), pos


def decode_zrle(fb: Framebuffer, rect: Rect, data: bytes) -> None:
    """Decode one ZRLE rectangle (already inflated) into the framebuffer."""
    x, y, w, h = rect.x, rect.y, rect.w, rect.h
    pos = 0
    try:
        for ty in range(y, y + h, TILE):
            th = min(TILE, y + h - ty)
            for tx in range(x, x + w, TILE):
                tw = min(TILE, x + w - tx)
                pos = _decode_tile(fb, Rect(tx, ty, tw, th), data, pos)
    except IndexError as error:
        raise DecodeError("ZRLE data ends inside a tile") from error
    if pos != len(data):
        raise DecodeError(f"ZRLE rectangle has {len(data) - pos} bytes left over")


def _decode_tile(fb: Framebuffer, tile: Rect, data: bytes, pos: int) -> int:
    tx, ty, tw, th = tile.x, tile.y, tile.w, tile.h
    sub = data[pos]
    pos += 1
    count = tw * th
    if sub == 1:
        fb.fill(tx, ty, tw, th, data[pos:pos + 3] + _ALPHA)
        return pos + 3
    if sub == 0:
        end = pos + 3 * count
        if end > len(data):
            raise IndexError(end)
        fb.put(tx, ty, tw, th, cpixels_to_bgrx(data[pos:end], count))
        return end
    if 2 <= sub <= 16:
        palette = data[pos:pos + 3 * sub]
        pos += 3 * sub
        bits = 1 if sub == 2 else 2 if sub <= 4 else 4
        end = pos + ((tw * bits + 7) // 8) * th
        if end > len(data):
            raise IndexError(end)
        indices = unpack_indices(data[pos:end], bits, tw, th)
        fb.put(tx, ty, tw, th, map_palette(indices, palette, sub))
        return end
    if sub == 128:
        pixels, pos = _plain_rle(data, pos, count)
        fb.put(tx, ty, tw, th, pixels)
        return pos
    if sub >= 130:
        size = sub - 128
        palette = data[pos:pos + 3 * size]
        pos += 3 * size
        indices, pos = _palette_rle(data, pos, count)
        if max(indices) >= size:
            raise DecodeError("ZRLE palette index out of range")
        fb.put(tx, ty, tw, th, map_palette(indices, palette, size))
        return pos
    raise DecodeError(f"unknown ZRLE sub-encoding {sub}")


def cursor_to_bgra(pixels: bytes, mask: bytes, w: int, h: int) -> bytes:
    """The Cursor pseudo-encoding (BGRX pixels + 1-bit mask) as BGRA with 0/255 alpha."""
    out = bytearray(pixels[:w * h * BPP])
    if w and h:
        alpha = unpack_indices(mask, 1, w, h).translate(bytes([0, 255]) + bytes(254))
        out[3::4] = alpha
    return bytes(out)
