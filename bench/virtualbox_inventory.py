"""VBoxManage calls and process starts per inventory refresh (1, 10, 100 VMs), parser speed.

Run: .venv/bin/python -m bench.virtualbox_inventory [--sizes 1 10 100] [--rounds 3]
Replay mode: the VBoxManage double (tests/backends/virtualbox) stands in for VirtualBox, so
the counts are exact and the times are the double's, not VirtualBox's (a real VBoxManage
start costs more: its VBoxSVC round trip). Side by side, the naive inventory (`list vms`, then
one showvminfo per machine) shows how the count grows with and without the cache.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from backends.virtualbox.parse import (
    parse_blocks,
    parse_machine_readable,
    parse_snapshot_tree,
    parse_vm_list,
)
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from desktopvm.testing.doubles.virtualbox.fakevbox.output import showvminfo
from desktopvm.testing.doubles.virtualbox.fakevbox.state import (
    new_uuid,
    new_vm,
    write_settings_file,
)

# The hand-written VBoxManage samples of the parser tests (data files; bench imports no tests).
SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "vboxmanage"


def populate(fake: FakeVBox, count: int) -> list[str]:
    """`count` powered-off machines written straight into the double's state (fast)."""
    state = fake.state()
    ids = []
    for index in range(count):
        uuid = new_uuid()
        vm = new_vm(f"vm {index:03}", "Linux26_64", uuid, fake.machine_folder / f"vm {index:03}")
        write_settings_file(vm)
        state["vms"][uuid] = vm
        ids.append(uuid)
    fake.set(**state)
    return ids


def measure(runner: VBoxManage, action: Callable[[], object]) -> tuple[int, int, float]:
    """(calls, process starts, seconds) of one action."""
    calls, starts = runner.stats.calls, runner.stats.process_starts
    started = time.perf_counter()
    action()
    return (runner.stats.calls - calls, runner.stats.process_starts - starts,
            time.perf_counter() - started)


def naive_refresh(runner: VBoxManage) -> None:
    """What an inventory without a cache does: list, then ask every machine."""
    for _, uuid in parse_vm_list(runner.run(["list", "vms"]).stdout):
        runner.run(["showvminfo", uuid, "--machinereadable"])


def inventory_table(sizes: list[int], folder: Path) -> None:
    print(f"{'VMs':>4} {'situation':<34} {'calls':>6} {'starts':>6} {'seconds':>8}")
    for size in sizes:
        fake = FakeVBox(folder / f"vbox-{size}")
        ids = populate(fake, size)
        backend = fake.backend()
        backend.os_types()  # asked once per backend, not per refresh
        runner = backend.vbox
        rows: list[tuple[str, Callable[[], object]]] = [
            ("naive: list vms + showvminfo each", functools.partial(naive_refresh, runner)),
            ("first refresh (cold cache)", backend.list_machines),
            ("next refresh (nothing changed)", backend.list_machines)]
        for label, action in rows:
            calls, starts, seconds = measure(runner, action)
            print(f"{size:>4} {label:<34} {calls:>6} {starts:>6} {seconds:>8.3f}")
        runner.run(["startvm", ids[0], "--type=headless"])
        if size > 1:
            runner.run(["modifyvm", ids[1], "--memory=256"])
        label = "1 running" + (" + 1 changed elsewhere" if size > 1 else "")
        calls, starts, seconds = measure(runner, backend.list_machines)
        print(f"{size:>4} {label:<34} {calls:>6} {starts:>6} {seconds:>8.3f}")
        calls, starts, seconds = measure(runner, backend.list_machines)
        print(f"{size:>4} {'then (1 running)':<34} {calls:>6} {starts:>6} {seconds:>8.3f}")


def throughput(label: str, text: str, parse: Callable[[str], object], rounds: int) -> None:
    lines = text.count("\n") * rounds
    started = time.perf_counter()
    for _ in range(rounds):
        parse(text)
    seconds = time.perf_counter() - started
    print(f"{label:<44} {lines / seconds:>12,.0f} lines/s")


def parser_table(rounds: int, folder: Path) -> None:
    fake = FakeVBox(folder / "vbox-parse")
    [uuid] = populate(fake, 1)
    vm = fake.state()["vms"][uuid]
    vm["description"] = 'several\nlines with "quotes"'
    generated = showvminfo(vm, fake.state())
    samples = [p.read_text("utf-8") for p in sorted(SAMPLES.glob("*/showvminfo_*"))]
    listing = "".join(f'"machine {i}" {{{new_uuid()}}}\n' for i in range(1000))
    snapshots = (SAMPLES / "7.0" / "snapshot_list.txt").read_text("utf-8")
    print(f"\n{'parser':<44} {'throughput':>18}")
    throughput("showvminfo --machinereadable (double)", generated, parse_machine_readable,
               rounds)
    throughput("showvminfo samples 6.1-7.2", "".join(samples), parse_machine_readable, rounds)
    throughput("list vms (1000 machines)", listing, parse_vm_list, max(1, rounds // 10))
    throughput("snapshot list + tree", snapshots,
               lambda text: parse_snapshot_tree(parse_machine_readable(text)), rounds)
    throughput("list ostypes blocks", (SAMPLES / "7.1" / "list_ostypes_excerpt.txt")
               .read_text("utf-8"), parse_blocks, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rounds", type=int, default=2000, help="parser repetitions")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vbox-bench-") as folder:
        inventory_table(arguments.sizes, Path(folder))
        parser_table(arguments.rounds, Path(folder))


if __name__ == "__main__":
    main()
