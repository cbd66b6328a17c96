"""ZRLE, Raw and Cursor decoding on frames built by an independent naive encoder."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktopvm.rfb import DecodeError, Framebuffer, Rect, decoders
from desktopvm.rfb.decoders import cursor_to_bgra, decode_zrle, unpack_indices
from desktopvm.testing.doubles.rfb.encoder import (
    encode_tile,
    encode_zrle,
    expected_bgrx,
    pattern,
    run_length,
)


def decoded(image, mode) -> bytes:
    h, w = len(image), len(image[0])
    fb = Framebuffer(w, h)
    decode_zrle(fb, Rect(0, 0, w, h), encode_zrle(image, mode))
    return bytes(fb.data)


@pytest.mark.parametrize("size", [(1, 1), (65, 33), (64, 64), (63, 65), (128, 64), (129, 130),
                                  (3, 200)])
@pytest.mark.parametrize("mode", ["raw", "rle", "prle", "packed"])
def test_odd_sizes_and_tile_edges(size, mode):
    w, h = size
    image = pattern(w, h, colours=5)
    assert decoded(image, mode) == expected_bgrx(image)


@pytest.mark.parametrize("colours", [2, 3, 4, 5, 9, 16])
@pytest.mark.parametrize("width", [1, 7, 8, 9, 15, 17, 64])
def test_packed_palettes_use_1_2_4_bits(colours, width):
    image = pattern(width, 11, colours)
    tile = encode_tile(image, "packed")
    bits = 1 if colours == 2 else 2 if colours <= 4 else 4
    if len({p for row in image for p in row}) == colours:
        assert tile[0] == colours
        assert len(tile) == 1 + 3 * colours + ((width * bits + 7) // 8) * 11
    assert decoded(image, "packed") == expected_bgrx(image)


def test_solid_tiles_fill_the_whole_tile():
    image = [[(10, 20, 30)] * 70 for _ in range(66)]
    assert decoded(image, "solid") == expected_bgrx(image)


@pytest.mark.parametrize("run", [1, 2, 255, 256, 257, 510, 511, 512, 4096])
@pytest.mark.parametrize("mode", ["rle", "prle"])
def test_run_lengths_around_255(run, mode):
    # a run of `run` red pixels then blue ones, in one 64x64 tile: runs cross rows
    pixels = [(255, 0, 0)] * run + [(0, 0, 255)] * (4096 - run)
    image = [pixels[i:i + 64] for i in range(0, 4096, 64)]
    assert decoded(image, mode) == expected_bgrx(image)


def test_run_length_encoding_by_construction():
    assert run_length(1) == b"\x00"
    assert run_length(255) == b"\xfe"
    assert run_length(256) == b"\xff\x00"
    assert run_length(511) == b"\xff\xff\x00"


def test_cpixel_is_three_bytes_bgr():
    tile = encode_tile([[(1, 2, 3)]], "raw")
    assert tile == b"\x00\x03\x02\x01"
    fb = Framebuffer(1, 1)
    decode_zrle(fb, Rect(0, 0, 1, 1), tile)
    assert bytes(fb.data) == b"\x03\x02\x01\xff"


def test_mixed_tiles_in_a_rectangle_inside_a_bigger_screen():
    image = pattern(130, 70, colours=12, seed=4)
    fb = Framebuffer(200, 100)
    decode_zrle(fb, Rect(33, 17, 130, 70), encode_zrle(image, ["raw", "rle", "prle", "packed"]))
    expected = expected_bgrx(image)
    assert fb.get(33, 17, 130, 70) == expected
    assert fb.get(0, 0, 200, 17) == b"\x00\x00\x00\xff" * 200 * 17  # untouched


def test_zrle_stream_through_one_zlib_context():
    compressor = zlib.compressobj()
    inflate = zlib.decompressobj()
    fb = Framebuffer(65, 33)
    for seed in (1, 2, 3):
        image = pattern(65, 33, colours=7, seed=seed)
        payload = compressor.compress(encode_zrle(image, "prle")) + compressor.flush(
            zlib.Z_SYNC_FLUSH)
        decode_zrle(fb, Rect(0, 0, 65, 33), inflate.decompress(payload))
        assert bytes(fb.data) == expected_bgrx(image)


@pytest.mark.parametrize("data", [b"\x00\x01\x02", b"\x05", b"\x11", b"\x81",
                                  b"\x80\x01\x02\x03\xff", b"\x01\x01\x02\x03extra"])
def test_broken_tiles_raise_decode_error(data):
    with pytest.raises(DecodeError):
        decode_zrle(Framebuffer(2, 2), Rect(0, 0, 2, 2), data)


def test_run_past_tile_end_is_an_error():
    with pytest.raises(DecodeError):
        decode_zrle(Framebuffer(2, 2), Rect(0, 0, 2, 2), b"\x80\x01\x02\x03\x05")


def test_unpack_indices_drops_row_padding():
    # 3 pixels per row at 2 bits: one byte per row, last 2 bits are padding
    assert unpack_indices(bytes([0b00011011, 0b11100100]), 2, 3, 2) == bytes([0, 1, 2, 3, 2, 1])


def test_cursor_mask_becomes_alpha():
    pixels = b"\x01\x02\x03\x00" * 9 + b"\x04\x05\x06\x00"  # 10 x 1
    mask = bytes([0b10100000, 0b01000000])
    bgra = cursor_to_bgra(pixels, mask, 10, 1)
    assert bgra[3::4] == bytes([255, 0, 255, 0, 0, 0, 0, 0, 0, 255])
    assert bgra[:3] == b"\x01\x02\x03"


def test_framebuffer_copy_rect_overlapping():
    fb = Framebuffer(4, 1)
    fb.put(0, 0, 4, 1, b"".join(bytes((i, i, i, 255)) for i in range(4)))
    fb.copy_rect(0, 0, Rect(1, 0, 3, 1))
    assert fb.data[0::4] == bytes([0, 0, 1, 2])


# -- the array-based palette-RLE parser against the plain loop ---------------------------------

def prle_stream(tokens: list[tuple[int, int]]) -> bytes:
    """Palette-RLE bytes for (index, run) tokens; run 0 means a single-pixel byte."""
    out = bytearray()
    for index, run in tokens:
        if run == 0:
            out.append(index)
        else:
            out.append(128 + index)
            out += run_length(run)
    return bytes(out)


@given(st.lists(st.tuples(st.integers(0, 127), st.sampled_from([0, 0, 1, 2, 3, 8, 127, 128,
                                                                 129, 254, 255, 256, 300, 511,
                                                                 512, 600])),
                min_size=1, max_size=300),
       st.binary(max_size=8), st.integers(0, 9000))
@settings(max_examples=300, deadline=None)
def test_fast_palette_rle_parser_agrees_with_the_loop(tokens, trailer, hint):
    count = sum(max(1, run) for _index, run in tokens)
    data = b"\x07" + prle_stream(tokens) + trailer
    expected, end = decoders._palette_rle(data, 1, count)
    decoders._window_hint = hint  # any guess is correct; small ones make it widen the window
    fast = decoders._palette_rle_fast(data, 1, count)
    assert fast is not None  # valid streams never need the loop
    indices, runs, fast_end = fast
    assert fast_end == end
    assert bytes(np.repeat(indices, runs).astype(np.uint8)) == expected


@pytest.mark.parametrize("stream", [
    prle_stream([(3, 10)])[:-1],  # the run's length is missing
    prle_stream([(127, 300)])[:-1],  # a length chain of 255s that never ends
    prle_stream([(1, 50), (2, 60)]),  # the second run passes the tile's end (count 100)
])
def test_fast_palette_rle_parser_leaves_bad_streams_to_the_loop(stream):
    assert decoders._palette_rle_fast(stream, 0, 100) is None
    with pytest.raises((DecodeError, IndexError)):
        decoders._palette_rle(stream, 0, 100)


def test_palette_rle_tile_with_127_colours_and_long_runs():
    colours = [((i * 2) % 256, i, 255 - i) for i in range(127)]  # 127: the most ZRLE allows
    pixels = [colours[126]] * 700 + [colours[0]] + [colours[125]] * 300 + \
        [colours[i % 127] for i in range(4096 - 1001)]
    image = [pixels[i:i + 64] for i in range(0, 4096, 64)]
    assert decoded(image, "prle") == expected_bgrx(image)
    tile = encode_tile(image, "prle")
    assert tile[0] == 255 and 255 in tile[1 + 3 * 127:]  # run heads and length chains of 255s
