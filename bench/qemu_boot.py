"""Start-to-first-serial-line through the QEMU backend vs the bare command line it builds.

Run: .venv/bin/python -m bench.qemu_boot [--runs 5]
Both sides boot the test guest under TCG with the very same argv; the backend side adds
validation, its files, swtpm/nvram checks and the runtime record. Also prints the latency of
QMP operations through the backend (one connection per call, as the backend does it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from backends.qemu import process, qmp
from backends.qemu.backend import QemuBackend
from backends.qemu.layout import RunFiles
from backends.qemu.plans import LaunchPlan, build_argv
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from desktopvm.testing.guest.build_iso import build_test_iso
from desktopvm.testing.qemu_guest import READY, guest_spec


def read_until(path: Path, needle: bytes, started: float) -> float:
    """Seconds from `started` until `needle` arrives on the serial socket at `path`."""
    while not path.exists():
        time.sleep(0.001)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        seen = b""
        while needle not in seen:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("serial closed before the guest was ready")
            seen += chunk
    return time.perf_counter() - started


def through_backend(backend: QemuBackend, machine_id: str) -> float:
    started = time.perf_counter()
    backend.start(machine_id)
    endpoint = backend.console(machine_id).serial
    assert endpoint is not None
    elapsed = read_until(Path(endpoint.unix_socket), READY, started)
    backend.power_off(machine_id)
    return elapsed


def bare(backend: QemuBackend, machine_id: str, workdir: Path) -> float:
    files = backend.store.files(machine_id)
    spec = backend.store.spec(files)
    run = RunFiles(workdir / "bare-run")
    shutil.rmtree(run.folder, ignore_errors=True)
    run.folder.mkdir(parents=True)
    argv = build_argv(spec, LaunchPlan(binary=backend.binary, accel="tcg", machine_type="q35",
                                       run=run))
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    elapsed = read_until(run.serial(1), READY, started)
    pid = int(run.pid.read_text())
    process.kill(pid)
    process.wait_for_exit(pid, 10)
    return elapsed


def qmp_latency(backend: QemuBackend, machine_id: str, calls: int) -> tuple[float, float]:
    backend.start(machine_id)
    run = backend.lifecycle.require_running(backend.store.files(machine_id), "measure")
    per_call = []
    for _ in range(calls):
        started = time.perf_counter()
        with qmp.connect(run.qmp) as session:
            session.execute("query-status")
        per_call.append(time.perf_counter() - started)
    kept = []
    with qmp.connect(run.qmp) as session:
        for _ in range(calls):
            started = time.perf_counter()
            session.execute("query-status")
            kept.append(time.perf_counter() - started)
    backend.power_off(machine_id)
    return statistics.median(per_call), statistics.median(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--qmp-calls", type=int, default=200)
    args = parser.parse_args()
    os.environ["DESKTOPVM_QEMU_ACCEL"] = "tcg"
    iso = build_test_iso()
    with tempfile.TemporaryDirectory(prefix="dvm-bench-") as tmp:
        workdir = Path(tmp)
        backend = QemuBackend(Settings(library_dir=str(workdir / "lib"), qemu_accel="tcg"))
        machine_id = backend.create(guest_spec("bench", iso), progress=no_progress,
                                    cancel=CancelToken())
        ours, baseline = [], []
        for _ in range(args.runs):  # interleaved, so load changes hit both sides alike
            baseline.append(bare(backend, machine_id, workdir))
            ours.append(through_backend(backend, machine_id))
        b, o = statistics.median(baseline), statistics.median(ours)
        print(f"start -> first serial line (TCG), median of {args.runs}:")
        print(f"  bare qemu-system-x86_64 : {b:.3f} s")
        print(f"  through the backend     : {o:.3f} s")
        print(f"  ratio backend/bare      : {o / b:.3f}  (goal <= 1.10)")
        per_call, kept = qmp_latency(backend, machine_id, args.qmp_calls)
        print(f"QMP query-status, median of {args.qmp_calls}:")
        print(f"  one connection per call (the backend's way): {per_call * 1000:.2f} ms")
        print(f"  one kept connection                         : {kept * 1000:.2f} ms")
        print(f"  ratio                                       : {per_call / kept:.1f}")


if __name__ == "__main__":
    main()
