"""Inspecting an install disc: desktopvm.media vs what a user would run (xorriso, pycdlib).

Run: .venv/bin/python -m bench.media_inspect [--runs 5] [--files 5000]
Builds a DVD-like disc once (BIOS + UEFI El Torito entries, Ubuntu's ids, a tree of small
files as a real DVD's pool has), grows it sparsely to 4 GiB with the volume size patched to
match, then times, each in a fresh process-free call or child process:
  ours      inspect_media + detect_os (descriptors, boot catalog, a few known paths)
  xorriso   `xorriso -indev DISC -report_el_torito plain` (loads the whole directory tree)
  pycdlib   PyCdlib().open() (parses every directory record) — the pure-Python alternative
and prints the medians and the ratios (ours with the media rules already read; the one-off
read of osinfo-db is printed on its own). Timing only; no test asserts on it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from desktopvm.media import detect_os, inspect_media, osinfo
from desktopvm.testing.doubles.media import isos

SIZE = 4 * 1024**3


def build(folder: Path, files: int) -> Path:
    tree = {f"pool/main/p{i // 100:03d}/package-{i:05d}.deb": b"x" for i in range(files)}
    tree[".disk/info"] = isos.UBUNTU_2204_INFO.encode()
    tree["EFI/BOOT/BOOTX64.EFI"] = b"MZ"
    disc = isos.make_iso(folder / "dvd.iso", isos.UBUNTU_2204, tree, bios=True, efi=True)
    with disc.open("r+b") as handle:
        handle.truncate(SIZE)  # sparse: no 4 GiB written
        blocks = SIZE // 2048
        handle.seek(16 * 2048 + 80)  # the volume space size, both byte orders
        handle.write(blocks.to_bytes(4, "little") + blocks.to_bytes(4, "big"))
    return disc


def timed(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        disc = build(Path(tmp), args.files)
        start = time.perf_counter()
        rules = osinfo.rules()  # read once per process: every osinfo-db XML file
        print(f"first detection reads the media rules: {len(rules)} in "
              f"{(time.perf_counter() - start) * 1000:.0f} ms (once per process)")
        found = detect_os(inspect_media(disc))
        print(f"disc: {disc.stat().st_size / 1024**3:.0f} GiB sparse, {args.files} files; "
              f"ours says: {found.summary()}")

        def ours() -> None:
            detect_os(inspect_media(disc))

        def xorriso() -> None:
            subprocess.run(["xorriso", "-indev", str(disc), "-report_el_torito", "plain"],
                           check=True, capture_output=True)

        def pycdlib_open() -> None:
            import pycdlib

            cd = pycdlib.PyCdlib()
            cd.open(str(disc))
            cd.close()

        results = {"ours": timed(ours, args.runs), "xorriso": timed(xorriso, args.runs),
                   "pycdlib": timed(pycdlib_open, args.runs)}
    for name, seconds in results.items():
        ratio = seconds / results["ours"]
        print(f"{name:8} {seconds * 1000:9.1f} ms  ({ratio:5.1f}x ours)")


if __name__ == "__main__":
    main()
