"""Decode and paint throughput of full 1920x1080 RFB frames (Raw and ZRLE) with desktopvm.rfb.

Besides our decoders it runs, on the same bytes, a naive straightforward pure-Python ZRLE
decoder (kept below as the baseline: what a first implementation without tricks looks like)
and prints frames per second for each and their ratio. "paint" is what the GUI thread does per
update: wrap the framebuffer in a QImage, copy the dirty region out, draw it into the view's
image (`VncSession.take_changes` + `VncView._apply_changes`).

Run: python -m bench.rfb_decode
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable

from desktopvm.rfb import Framebuffer, Rect
from desktopvm.rfb.decoders import decode_zrle
from desktopvm.testing.doubles.rfb.encoder import Image, encode_tile

W, H = 1920, 1080
SECONDS = 2.0


def desktop_tile(tx: int, ty: int, tw: int, th: int) -> tuple[Image, str]:
    """A desktop-like mix: solid background, text-like 2-colour tiles, palette RLE, photo."""
    kind = (tx // 64 + ty // 64 * 3) % 4
    if kind == 0:
        return [[(40, 60, 90)] * tw for _ in range(th)], "solid"
    if kind == 1:
        return [[(255, 255, 255) if (x * 7 + y * 3) % 11 < 3 else (0, 0, 0) for x in range(tw)]
                for y in range(th)], "packed"
    if kind == 2:
        return [[((x // 8) * 40 % 256, 100, (y // 16) * 30 % 256) for x in range(tw)]
                for y in range(th)], "prle"
    return [[((x * 5 + y) % 256, (x * y) % 256, (y * 3) % 256) for x in range(tw)]
            for y in range(th)], "raw"


# -- the baseline: a naive, straightforward ZRLE decoder ---------------------------------------

def _naive_run(data: bytes, pos: int) -> tuple[int, int]:
    run = 1
    while True:
        value = data[pos]
        pos += 1
        run += value
        if value != 255:
            return run, pos


def naive_decode_zrle(fb: Framebuffer, rect: Rect, data: bytes) -> None:  # noqa: PLR0912
    """ZRLE the obvious way: per pixel, a palette list, runs appended pixel by pixel."""
    pos = 0
    for ty in range(rect.y, rect.y + rect.h, 64):
        th = min(64, rect.y + rect.h - ty)
        for tx in range(rect.x, rect.x + rect.w, 64):
            tw = min(64, rect.x + rect.w - tx)
            count = tw * th
            sub = data[pos]
            pos += 1
            pixels: list[bytes] = []
            if sub == 0:
                for _ in range(count):
                    pixels.append(data[pos:pos + 3] + b"\xff")
                    pos += 3
            elif sub == 1:
                pixels = [data[pos:pos + 3] + b"\xff"] * count
                pos += 3
            elif sub <= 16:
                palette = [data[pos + 3 * i:pos + 3 * i + 3] + b"\xff" for i in range(sub)]
                pos += 3 * sub
                bits = 1 if sub == 2 else 2 if sub <= 4 else 4
                for _ in range(th):
                    shift, byte = 8, 0
                    for _ in range(tw):
                        if shift == 8:
                            byte, shift = data[pos], 0
                            pos += 1
                        shift += bits
                        pixels.append(palette[(byte >> (8 - shift)) & ((1 << bits) - 1)])
            elif sub == 128:
                while len(pixels) < count:
                    pixel = data[pos:pos + 3] + b"\xff"
                    run, pos = _naive_run(data, pos + 3)
                    pixels.extend([pixel] * run)
            else:
                size = sub - 128
                palette = [data[pos + 3 * i:pos + 3 * i + 3] + b"\xff" for i in range(size)]
                pos += 3 * size
                while len(pixels) < count:
                    index = data[pos]
                    pos += 1
                    if index < 128:
                        pixels.append(palette[index])
                    else:
                        run, pos = _naive_run(data, pos)
                        pixels.extend([palette[index - 128]] * run)
            for row in range(th):
                offset = (ty + row) * fb.stride + tx * 4
                fb.data[offset:offset + tw * 4] = b"".join(pixels[row * tw:(row + 1) * tw])


# -- measuring -----------------------------------------------------------------------------------

def rate(work: Callable[[], object]) -> tuple[float, float]:
    """Frames per second and CPU milliseconds per frame of `work`, run for SECONDS."""
    work()  # warm up
    runs, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < SECONDS:
        work()
        runs += 1
    wall, cpu_used = time.perf_counter() - start, time.process_time() - cpu
    return runs / wall, 1000 * cpu_used / runs


def painter(fb: Framebuffer) -> Callable[[], None]:
    """What the GUI thread does with one full-screen update."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImage, QPainter

    app = QGuiApplication.instance() or QGuiApplication([])
    view = QImage(fb.width, fb.height, QImage.Format.Format_RGB32)

    def paint() -> None:
        whole = QImage(fb.data, fb.width, fb.height, fb.stride, QImage.Format.Format_RGB32)
        region = whole.copy(0, 0, fb.width, fb.height)
        canvas = QPainter(view)
        canvas.drawImage(0, 0, region)
        canvas.end()

    paint.app = app  # type: ignore[attr-defined]  # keep the application alive
    return paint


def main() -> None:
    data = bytearray()
    for ty in range(0, H, 64):
        for tx in range(0, W, 64):
            tile, mode = desktop_tile(tx, ty, min(64, W - tx), min(64, H - ty))
            data += encode_tile(tile, mode)
    compressed = zlib.compress(bytes(data))
    raw = bytes(range(256)) * (W * H * 4 // 256)
    fb, naive_fb = Framebuffer(W, H), Framebuffer(W, H)
    whole = Rect(0, 0, W, H)
    decode_zrle(fb, whole, bytes(data))
    naive_decode_zrle(naive_fb, whole, bytes(data))
    assert fb.data == naive_fb.data, "the baseline decodes differently"
    paint = painter(fb)
    results: dict[str, float] = {}

    def decode_and_paint() -> None:
        decode_zrle(fb, whole, zlib.decompress(compressed))
        paint()

    for name, work in (
            ("Raw decode", lambda: fb.put(0, 0, W, H, raw)),
            ("ZRLE decode (inflate + decode)",
             lambda: decode_zrle(fb, whole, zlib.decompress(compressed))),
            ("paint (region -> QImage -> view)", paint),
            ("ZRLE decode + paint", decode_and_paint),
            ("baseline naive ZRLE decode",
             lambda: naive_decode_zrle(naive_fb, whole, zlib.decompress(compressed)))):
        fps, cpu = rate(work)
        results[name] = fps
        print(f"{name:34s} 1920x1080: {fps:7.1f} fps, {cpu:6.2f} ms CPU/frame")
    ratio = results["ZRLE decode (inflate + decode)"] / results["baseline naive ZRLE decode"]
    print(f"ZRLE decode vs naive baseline: {ratio:.1f}x")
    print(f"ZRLE frame: {len(compressed)} bytes compressed, {len(data)} inflated")


if __name__ == "__main__":
    main()
