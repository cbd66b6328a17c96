"""GUI benchmarks: start-up to first paint, refreshing 10,000 machines, memory per machine.

Run: .venv/bin/python -m bench.gui [--runs N] [--against OTHER_CHECKOUT]
Each number is printed beside a baseline measured in the same run:
- start-up: the real app's main window vs a bare QMainWindow, both in fresh processes (and,
  with --against, the main window of another checkout, e.g. `git archive HEAD | tar -x`);
- refresh: applying a diff (1% of rows changed) vs rebuilding the model with a reset;
- memory: the model and view holding 10,000 machines vs the machine list alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import sys, time
started = time.perf_counter()
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])  # the checkout whose app to start
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
class Painted(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            print(f"{time.perf_counter() - started:.6f}", flush=True)
            app.quit()
        return False
if sys.argv[1] == "app":
    from desktopvm.jobs import JobRunner
    from desktopvm.registry import Registry
    from desktopvm.settings import Settings
    from desktopvm.ui.main_window import MainWindow
    window = MainWindow(Registry(Settings()), JobRunner())
else:
    window = QMainWindow()
    window.resize(1200, 760)
painted = Painted()
app.installEventFilter(painted)  # the first paint of any widget of the window
window.show()
app.exec()
"""


def child_environment() -> dict[str, str]:
    """The children's environment: Python byte code in a private cache that a warm-up round
    fills. An installed app never compiles at start-up (pip and the installer ship .pyc);
    without this, a checkout run with PYTHONDONTWRITEBYTECODE (as CI sets it) would count
    compiling whichever modules were edited lately."""
    environment = {**os.environ, "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="bench-pyc-")}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def first_paint(kind: str, environment: dict[str, str], checkout: Path = ROOT) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, kind, str(checkout)], check=True,
                   capture_output=True, env=environment, cwd=tempfile.gettempdir())
    return time.perf_counter() - started


def startup(runs: int, against: Path | None) -> None:
    environment = child_environment()
    sides: dict[str, tuple[str, Path]] = {"bare QMainWindow": ("bare", ROOT),
                                          "DesktopVM main window": ("app", ROOT)}
    if against is not None:
        sides["the --against window"] = ("app", against)
    for kind, checkout in sides.values():  # warm-up: byte code, disk cache
        first_paint(kind, environment, checkout)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):  # interleaved so background load hits every side alike
        for name, (kind, checkout) in sides.items():
            times[name].append(first_paint(kind, environment, checkout))
    bare = statistics.median(times["bare QMainWindow"])
    print(f"start-up to first paint (process start included), median of {runs}:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<22}: {median * 1000:7.1f} ms  ratio {median / bare:5.2f}")
    print("  (goal: DesktopVM main window <= 2 x bare QMainWindow)")


def refresh_and_memory() -> None:
    from PySide6.QtWidgets import QApplication, QTreeView

    from desktopvm.protocol import MachineSummary, PowerState
    from desktopvm.ui.inventory_model import InventoryModel
    from desktopvm.ui.inventory_view import MachineFilter

    app = QApplication.instance() or QApplication([])
    n = 10_000
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    machines = [MachineSummary("qemu", f"id-{i:05d}", f"machine {i}", PowerState.OFF,
                               os="debian12", cpus=2, memory_mib=2048) for i in range(n)]
    gc.collect()
    rss_list = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = InventoryModel()
    proxy = MachineFilter()
    proxy.setSourceModel(model)
    view = QTreeView()
    view.setUniformRowHeights(True)
    view.setSortingEnabled(True)
    view.setModel(proxy)
    view.resize(1000, 700)
    view.show()
    model.apply(("localhost", "qemu"), "QEMU", machines)
    view.expandAll()
    app.processEvents()
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    diffs, resets = [], []
    for round_ in range(7):
        changed = list(machines)
        for i in range(round_, n, 100):  # 1% of the machines change state
            m = changed[i]
            changed[i] = MachineSummary(m.backend, m.id, m.name, PowerState.RUNNING
                                        if m.state is PowerState.OFF else PowerState.OFF,
                                        os=m.os, cpus=m.cpus, memory_mib=m.memory_mib)
        started = time.perf_counter()
        model.apply(("localhost", "qemu"), "QEMU", changed)
        app.processEvents()
        diffs.append(time.perf_counter() - started)
        machines = changed
        started = time.perf_counter()
        model.beginResetModel()  # the naive way: throw everything away and rebuild
        model.endResetModel()
        view.expandAll()
        app.processEvents()
        resets.append(time.perf_counter() - started)
    d, r = statistics.median(diffs), statistics.median(resets)
    print(f"refresh of {n:,} machines, 1% changed, median of {len(diffs)} (sorted view):")
    print(f"  diff apply (ours)     : {d * 1000:7.1f} ms  (goal <= 50 ms)")
    print(f"  model reset + expand  : {r * 1000:7.1f} ms")
    print(f"  ratio ours/reset      : {d / r:7.2f}")
    per_row = (rss_model - rss_list) * 1024 / n
    print(f"memory with {n:,} machines listed (max RSS):")
    print(f"  the MachineSummary list alone: {(rss_list - rss_start) / 1024:7.1f} MiB")
    print(f"  model + proxy + view on top  : {(rss_model - rss_list) / 1024:7.1f} MiB "
          f"({per_row:.0f} bytes per machine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--against", type=Path, help="also start this checkout's main window")
    args = parser.parse_args()
    startup(args.runs, args.against.resolve() if args.against else None)
    refresh_and_memory()
    os._exit(0)  # skip PySide teardown, which can crash at exit with 10,000 rows alive


if __name__ == "__main__":
    main()
