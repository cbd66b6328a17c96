"""Decode throughput of full 1920x1080 RFB frames (Raw and ZRLE) with desktopvm.rfb."""

from __future__ import annotations

import time
import zlib

from desktopvm.rfb import Framebuffer, Rect
from desktopvm.rfb.decoders import decode_zrle
from tests.rfb.encoder import Image, encode_tile

W, H = 1920, 1080


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


def main() -> None:
    data = bytearray()
    for ty in range(0, H, 64):
        for tx in range(0, W, 64):
            tile, mode = desktop_tile(tx, ty, min(64, W - tx), min(64, H - ty))
            data += encode_tile(tile, mode)
    compressed = zlib.compress(bytes(data))
    raw = bytes(range(256)) * (W * H * 4 // 256)
    fb = Framebuffer(W, H)
    for name, work in (("Raw", lambda: fb.put(0, 0, W, H, raw)),
                       ("ZRLE", lambda: decode_zrle(fb, Rect(0, 0, W, H),
                                                    zlib.decompress(compressed)))):
        runs, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < 2.0:
            work()
            runs += 1
        wall, cpu_used = time.perf_counter() - start, time.process_time() - cpu
        print(f"{name:5s} 1920x1080: {runs / wall:7.1f} fps, "
              f"{1000 * cpu_used / runs:6.2f} ms CPU/frame")
    print(f"ZRLE frame: {len(compressed)} bytes compressed, {len(data)} inflated")


if __name__ == "__main__":
    main()
