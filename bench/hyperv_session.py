"""Benchmark: one long-lived PowerShell session vs one process per call, over the Hyper-V double.

Run: .venv/bin/python -m bench.hyperv_session [refreshes] [vms]

Both ways run side by side in one run against the same fake host (the PowerShell double, a
Python process that starts in about 0.1 s; a real powershell.exe takes 0.25-2 s plus the
Hyper-V module load, so the real gap is wider). Prints process starts and round trips per
100 inventory refreshes, time per refresh, the ratio, and the per-request framing overhead.
Nothing here asserts on time.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.hyperv import plans
from backends.hyperv.framing import encode_request, parse_frame
from backends.hyperv.session import LocalProcessChannel, PowerShellSession
from desktopvm.model import Firmware, FirmwareSpec, MachineSpec
from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost, environment


def new_session() -> PowerShellSession:
    """A session on the double (the same code a real host uses)."""
    return PowerShellSession(lambda: LocalProcessChannel(str(FAKE_POWERSHELL)))


def seed(vms: int) -> None:
    """Create `vms` machines on the fake host."""
    session = new_session()
    try:
        for index in range(vms):
            spec = MachineSpec(name=f"vm {index}", firmware=FirmwareSpec(kind=Firmware.UEFI))
            session.request("create_vm", plans.create(spec, "").args)
    finally:
        session.close()


def with_session(refreshes: int) -> tuple[float, int, int]:
    """All refreshes through one session: (seconds, process starts, round trips)."""
    session = new_session()
    started = time.perf_counter()
    try:
        for _ in range(refreshes):
            session.request("list_vms")
        return time.perf_counter() - started, session.starts, session.requests
    finally:
        session.close()


def per_call(refreshes: int) -> tuple[float, int, int]:
    """A new PowerShell for every refresh, as Vagrant and docker-machine do."""
    starts = trips = 0
    started = time.perf_counter()
    for _ in range(refreshes):
        session = new_session()
        try:
            session.request("list_vms")
            starts += session.starts
            trips += session.requests
        finally:
            session.close()
    return time.perf_counter() - started, starts, trips


def framing_overhead(vms: int, rounds: int = 2000) -> tuple[float, float, int]:
    """Microseconds to encode one request and parse one inventory reply; the reply's size."""
    rows = [{"Id": f"00000000-0000-4000-8000-{i:012d}", "Name": f"vm {i}", "State": "Off",
             "Generation": 2, "ProcessorCount": 2, "MemoryStartup": 2 << 30, "Version": "11.0"}
            for i in range(vms)]
    reply = b"@@DVM@@" + json.dumps({"id": 1, "ok": True, "result": {"VMs": rows}},
                                    separators=(",", ":")).encode() + b"\n"
    started = time.perf_counter()
    for index in range(rounds):
        encode_request(index, "list_vms", {})
    encode = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        parse_frame(reply)
    parse = (time.perf_counter() - started) / rounds * 1e6
    return encode, parse, len(reply)


def main(refreshes: int = 100, vms: int = 20) -> None:
    with tempfile.TemporaryDirectory() as folder, environment(FakeHost(Path(folder))):
        seed(vms)
        new_session().close()  # warm the file cache once for both ways
        session_time, session_starts, session_trips = with_session(refreshes)
        call_time, call_starts, call_trips = per_call(refreshes)
    print(f"{refreshes} inventory refreshes of {vms} VMs, PowerShell double (Python)")
    print(f"{'':24}{'starts':>8}{'round trips':>13}{'total s':>10}{'ms/refresh':>12}")
    for label, seconds, starts, trips in (("one session", session_time, session_starts,
                                           session_trips),
                                          ("one process per call", call_time, call_starts,
                                           call_trips)):
        print(f"{label:24}{starts:>8}{trips:>13}{seconds:>10.2f}"
              f"{seconds / refreshes * 1000:>12.2f}")
    print(f"ratio (per call / session): {call_time / session_time:.1f}x time, "
          f"{call_starts / max(session_starts, 1):.0f}x process starts")
    encode, parse, size = framing_overhead(vms)
    print(f"framing: encode request {encode:.1f} us, parse a {size}-byte inventory reply "
          f"{parse:.1f} us; round trip through the double "
          f"{session_time / refreshes * 1000:.2f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
