"""ESXi/vCenter inventory refresh at 1,000 machines: one property collection vs a read per VM.

Run: .venv/bin/python -m bench.esxi_inventory [--hosts 50] [--vms 10] [--rounds 3]
(needs the simulator built by .ci/vcsim). One run starts govmomi's simulator as a vCenter
(VPX model: a cluster of `--hosts` hosts and one standalone host, `--vms` machines in each
of their two root resource pools: 1,000 machines by default) on a loopback port and, side by
side in one process:
- ours: EsxiBackend.list_machines(), one RetrievePropertiesEx over the session's container
  view asking for the summary's properties only;
- per VM: what straightforward pyVmomi code does at best — the view's member list, then one
  RetrievePropertiesEx per machine for the same properties (attribute access, `vm.name`,
  `vm.runtime.powerState`..., costs one call per property per machine, so it is slower still).
Every SOAP request pyVmomi sends is counted (its stub's InvokeMethod). Times are the
simulator's on this computer over loopback TLS, where a call costs well under a millisecond
and both ways spend most of their time parsing the same answer; a real vCenter adds a network
round trip and its own work to every call. `--latency MS` has the simulator add that many
milliseconds to each call (its DelayConfig) to show the ratio at such a cost per call.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.esxi import open_remote
from backends.esxi.inventory import SUMMARY_PATHS
from backends.esxi.session import SoapStubAdapter, vim, vmodl
from desktopvm.testing.doubles.esxi import sim

PC = vmodl.query.PropertyCollector


class Counter:
    """Counts the SOAP requests pyVmomi sends (every method and property access)."""

    def __init__(self) -> None:
        self.calls = 0
        self._original = SoapStubAdapter.InvokeMethod

    def __enter__(self) -> Counter:
        original = self._original

        def counted(stub: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(stub, *args, **kwargs)

        SoapStubAdapter.InvokeMethod = counted
        return self

    def __exit__(self, *_: object) -> None:
        SoapStubAdapter.InvokeMethod = self._original


def per_vm(backend: Any) -> int:
    """The machine list read one machine at a time; the number of machines."""
    session = backend.session

    def read(si: Any) -> int:
        view = session.vm_view(si)
        members = session.retrieve(si, [PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=False)],
            propSet=[PC.PropertySpec(type=vim.view.ContainerView, pathSet=["view"])])])
        machines = members[0].propSet[0].val
        for machine in machines:
            session.retrieve(si, [PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=machine, skip=False)],
                propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=SUMMARY_PATHS)])])
        return len(machines)

    return int(session.run(read))


def measure(label: str, action: Callable[[], int], rounds: int) -> tuple[float, int, int]:
    """Median seconds, SOAP calls per refresh, machines seen."""
    action()  # warm: login, the container view, the service content
    times, calls, seen = [], 0, 0
    for _ in range(rounds):
        with Counter() as counter:
            started = time.perf_counter()
            seen = action()
            times.append(time.perf_counter() - started)
        calls = counter.calls
    median = statistics.median(times)
    print(f"  {label:<34} {seen:>6} VMs  {calls:>6} calls  {median * 1000:>9.1f} ms")
    return median, calls, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50, help="hosts in the cluster")
    parser.add_argument("--vms", type=int, default=500, help="machines per root resource pool")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=int, default=0,
                        help="milliseconds the simulator adds to every call")
    args = parser.parse_args()
    reason = sim.missing_reason()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as scratch:
        running = sim.start(Path(scratch), "-vpx", "-host", str(args.hosts), "-vm",
                            str(args.vms), "-delay", str(args.latency))
        try:
            backend = open_remote(running.host(), password=sim.PASSWORD)
            try:
                print(f"vcsim VPX, {args.hosts} hosts in a cluster, {args.latency} ms added "
                      f"per call, {args.rounds} rounds (median):")
                ours, ours_calls, n = measure("one RetrievePropertiesEx (ours)",
                                              lambda: len(backend.list_machines()),
                                              args.rounds)
                naive, naive_calls, m = measure("a RetrievePropertiesEx per VM",
                                                lambda: per_vm(backend), args.rounds)
            finally:
                backend.close()
        finally:
            running.stop()
    print(f"  machines listed: {n} (ours, templates left out) / {m} (per VM)")
    print(f"  calls: {ours_calls} vs {naive_calls}; time ratio: {naive / ours:.1f}x")


if __name__ == "__main__":
    main()
