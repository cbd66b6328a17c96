"""QEMU backups vs `qemu-img convert -c` of the whole disk: time and bytes written, one run.

Run: .venv/bin/python -m bench.backup [--size-mib 2048] [--changed 0.01] [--runs 1]
A machine that is off has a qcow2 disk full of data (half random, half text: roughly what an
installed system holds). Side by side in the same run:
  1. baseline: `qemu-img convert -c -O qcow2` of the whole disk;  full: backend.capture()
  2. 1% of the disk rewritten at random places (64 KiB pieces, as a guest writes);
     baseline again (the same whole-disk convert);  incremental: capture(since=full point)
Prints each measurement and the ratios to the baseline; the goals (#20) are an incremental
≥ 20x faster and ≥ 20x smaller than the full convert, and a full backup within 1.2x of it.
No goal is asserted: the figures go to docs/qemu.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from backends.qemu.backend import QemuBackend
from desktopvm.model import ControllerKind, Disk, DiskFormat, MachineSpec, StorageController
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings

MIB = 1 << 20
PIECE = 64 * 1024


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def make_disk(folder: Path, size_mib: int) -> Path:
    """A qcow2 whose every MiB holds data: random and text MiBs taking turns."""
    raw = folder / "data.raw"
    text = (b"The quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet. "
            * 15_000)[:MIB]
    with raw.open("wb") as out:
        for n in range(size_mib):
            out.write(os.urandom(MIB) if n % 2 else text)
    assert raw.stat().st_size == size_mib * MIB
    disk = folder / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk)],
                   check=True)
    raw.unlink()
    return disk


def change(disk: Path, fraction: float, size_mib: int, seed: int) -> int:
    """Rewrite `fraction` of the disk with random data in 64 KiB pieces; bytes changed."""
    pieces = int(size_mib * MIB * fraction) // PIECE
    rng = random.Random(seed)
    offsets = rng.sample(range(size_mib * MIB // PIECE), pieces)
    source = disk.with_name("piece.bin")
    source.write_bytes(os.urandom(PIECE))
    commands: list[str] = []
    for offset in offsets:
        commands += ["-c", f"write -s {source} {offset * PIECE} {PIECE}"]
    done = subprocess.run(["qemu-io", "-f", "qcow2", *commands, str(disk)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:  # qemu-io says what went wrong on stdout
        failed = [line for line in done.stdout.splitlines() if not line.startswith(
            ("wrote ", "64 KiB"))]
        raise RuntimeError(f"qemu-io failed: {' / '.join(failed[:3])} {done.stderr[-300:]}")
    return pieces * PIECE


def baseline(disk: Path, out: Path) -> tuple[float, int]:
    """Seconds and bytes of `qemu-img convert -c` of the whole disk."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(["qemu-img", "convert", "-c", "-O", "qcow2", str(disk), str(out)],
                   check=True)
    elapsed = time.perf_counter() - started
    size = allocated(out)
    out.unlink()
    return elapsed, size


def backup(backend: QemuBackend, machine: str, folder: Path, since: str = "") \
        -> tuple[float, int, str, bool]:
    """Seconds, bytes, the new point and whether the disk was incremental."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    started = time.perf_counter()
    result = backend.capture(machine, folder, since=since, progress=no_progress,
                             cancel=CancelToken())
    elapsed = time.perf_counter() - started
    return elapsed, allocated(result.disks[0].path), result.point, result.disks[0].incremental


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as scratch:
        root = Path(scratch)
        print(f"making a {args.size_mib} MiB qcow2 disk full of data ...", flush=True)
        disk = make_disk(root, args.size_mib)
        backend = QemuBackend(Settings(library_dir=str(root / "library")))
        spec = MachineSpec(name="bench", os="other-linux", storage=(StorageController(
            name="disks", kind=ControllerKind.VIRTIO, disks=(
                Disk(path=str(disk), existing=True, format=DiskFormat.QCOW2),)),))
        machine = backend.create(spec, progress=no_progress, cancel=CancelToken())
        rows: dict[str, list[tuple[float, int]]] = {k: [] for k in
                                                    ("convert", "full", "convert'", "incr")}
        for run in range(args.runs):
            backend.forget_capture_points(machine)
            rows["convert"].append(baseline(disk, root / "convert.qcow2"))
            seconds, size, point, _ = backup(backend, machine, root / "full")
            rows["full"].append((seconds, size))
            changed = change(disk, args.changed, args.size_mib, seed=run)
            rows["convert'"].append(baseline(disk, root / "convert.qcow2"))
            seconds, size, _, incremental = backup(backend, machine, root / "incr", point)
            assert incremental, "the second backup was not incremental"
            rows["incr"].append((seconds, size))
        print(f"disk {args.size_mib} MiB, {changed / MIB:.0f} MiB changed, "
              f"median of {args.runs} run(s):")
        median = {k: (statistics.median(t for t, _ in v),
                      float(statistics.median(b for _, b in v))) for k, v in rows.items()}
        names = {"convert": "qemu-img convert -c (baseline)", "full": "full backup",
                 "convert'": "qemu-img convert -c after the change", "incr": "incremental backup"}
        for key, (secs, written) in median.items():
            print(f"  {names[key]:38} {secs:8.2f} s {written / MIB:10.1f} MiB")
        full_t, full_b = median["full"]
        base_t, base_b = median["convert"]
        incr_t, incr_b = median["incr"]
        again_t, again_b = median["convert'"]
        print(f"full backup / convert:        time {full_t / base_t:.2f}x (goal <= 1.2x), "
              f"bytes {full_b / base_b:.2f}x")
        print(f"convert / incremental backup: {again_t / incr_t:.1f}x faster (goal >= 20x), "
              f"{again_b / incr_b:.1f}x smaller (goal >= 20x)")


if __name__ == "__main__":
    main()
