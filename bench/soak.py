"""Soak: random CLI operations on several QEMU machines, with random kills, for N minutes.

Run: .venv/bin/python -m bench.soak --minutes 30 [--machines 3] [--seed 1]

What a user scripting `desktopvm-cli` would do, in a random order: create, start, pause,
resume, save, power off, shut down, snapshots (take, restore, delete), full and linked
clones, export and import, disk conversion, delete. One operation in five has the CLI
killed with SIGKILL after a random delay; now and then a running machine's QEMU is killed.
After every step the library is checked:

- crashes: a CLI run that ended in a Python traceback (a clear error is not a crash);
- inconsistencies: `list --json` failing or unreadable, a listed machine `show` cannot read,
  a machine folder without a readable record, partial files (`.part-*`, `.making`) still
  there after a command that completed;
- leaks: a qemu-system process whose machine is not listed as running, a qemu-img process
  whose CLI is gone.

The run ends with one line of counts; the exit code is non-zero when any is not zero.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CLI = str(Path(sys.executable).with_name("desktopvm-cli"))
KILL_SHARE = 0.2
QEMU_KILL_SHARE = 0.05


@dataclass
class Tally:
    """What the soak saw."""

    operations: int = 0
    kills: int = 0
    qemu_kills: int = 0
    refused: int = 0  # clear errors (a wrong state, a name in use): expected, not failures
    crashes: list[str] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)


class Soak:
    """One soak run in its own DESKTOPVM_HOME."""

    def __init__(self, home: Path, machines: int, rng: random.Random) -> None:
        self.home = home
        self.library = home / "machines"
        self.out = home / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        # TCG: this host's /dev/kvm kills guests after about a minute (see README).
        self.env = {"DESKTOPVM_QEMU_ACCEL": "tcg", **os.environ, "DESKTOPVM_HOME": str(home)}
        self.machines = machines
        self.rng = rng
        self.tally = Tally()
        self.counter = 0

    def cli(self, *args: str, kill_after: float | None = None) -> tuple[int, str]:
        """Run the CLI; with `kill_after`, SIGKILL it after that many seconds if still running."""
        process = subprocess.Popen([CLI, *args], env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            out, err = process.communicate(timeout=kill_after if kill_after else 900)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                process.kill()
                process.communicate()
                self.tally.inconsistencies.append(f"{args[0]} hung for 15 minutes")
                return -1, ""
            process.send_signal(signal.SIGKILL)
            process.communicate()
            self.tally.kills += 1
            return -9, ""
        if "Traceback (most recent call last)" in err:
            self.tally.crashes.append(f"{' '.join(args)}: {err.strip().splitlines()[-1]}")
        elif process.returncode != 0:
            self.tally.refused += 1
        return process.returncode, out

    def listing(self) -> list[dict[str, object]]:
        code, out = self.cli("list", "--json")
        if code != 0:
            self.tally.inconsistencies.append("list failed")
            return []
        try:
            machines: list[dict[str, object]] = json.loads(out)["machines"]
        except (ValueError, KeyError, TypeError):
            self.tally.inconsistencies.append("list --json printed something unreadable")
            return []
        return [m for m in machines if m.get("backend") == "qemu"]

    def new_name(self) -> str:
        self.counter += 1
        return f"soak-{self.counter}"

    def step(self) -> None:
        machines = self.listing()
        names = [str(m["name"]) for m in machines]
        running = [str(m["name"]) for m in machines if m.get("state") == "running"]
        choices: list[tuple[str, ...]] = []
        if len(names) < self.machines:
            choices.append(("create", "--backend", "qemu", "--name", self.new_name(),
                            "--disk", "1G", "--memory", "128M"))
        for name in names:
            choices += [("start", name), ("poweroff", name), ("shutdown", name),
                        ("pause", name), ("resume", name), ("save", name),
                        ("snapshot", "take", name, f"s{self.rng.randrange(5)}"),
                        ("snapshot", "restore", name, f"s{self.rng.randrange(5)}"),
                        ("snapshot", "delete", name, f"s{self.rng.randrange(5)}"),
                        ("clone", name, self.new_name()),
                        ("clone", "--linked", name, self.new_name()),
                        ("export", name, str(self.out / f"{self.new_name()}.ova"))]
            if len(names) > 1:
                choices.append(("delete", "--yes", "--delete-disks", name))
        for package in self.out.glob("*.ova"):
            choices.append(("import", str(package), "--name", self.new_name()))
        if not choices:
            return
        args = self.rng.choice(choices)
        kill_after = self.rng.uniform(0.05, 0.8) if self.rng.random() < KILL_SHARE else None
        self.tally.operations += 1
        code, _ = self.cli(*args, kill_after=kill_after)
        if running and self.rng.random() < QEMU_KILL_SHARE:
            self.kill_a_qemu()
        for package in list(self.out.glob("*.ova"))[3:]:  # keep the output folder small
            package.unlink()
        if code != -9:
            self.check()

    def kill_a_qemu(self) -> None:
        pids = self.qemu_pids()
        if pids:
            os.kill(self.rng.choice(list(pids)), signal.SIGKILL)
            self.tally.qemu_kills += 1

    def qemu_pids(self) -> dict[int, str]:
        """qemu-system processes of this soak's library: pid -> command line."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "qemu-system" in cmdline and str(self.library) in cmdline:
                found[int(entry.name)] = cmdline
        return found

    def check(self) -> None:
        machines = self.listing()
        for machine in machines:
            code, _ = self.cli("show", str(machine["id"]))
            if code != 0:
                self.tally.inconsistencies.append(f"show {machine['name']} failed")
        listed = {str(m["id"]) for m in machines}
        for folder in self.library.iterdir() if self.library.is_dir() else ():
            if folder.is_dir() and not folder.name.startswith(".") and \
                    folder.name not in listed and (folder / "machine.json").exists():
                self.tally.inconsistencies.append(f"{folder.name} is on disk but not listed")
        leftovers = [p for p in self.library.rglob("*")
                     if p.name.startswith(".part-") or p.name == ".making"]
        if leftovers:
            self.tally.inconsistencies.append(f"left behind: {leftovers[0]}")
        running = {str(m["id"]) for m in machines if m.get("state") in ("running", "paused")}
        for pid, cmdline in self.qemu_pids().items():
            if not any(machine_id in cmdline for machine_id in running):
                self.tally.leaks.append(f"qemu {pid} runs for no listed running machine")
                os.kill(pid, signal.SIGKILL)
        for pid in self.orphan_qemu_imgs():
            self.tally.leaks.append(f"qemu-img {pid} runs for nobody")
            os.kill(pid, signal.SIGKILL)

    def orphan_qemu_imgs(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if b"qemu-img" in cmdline and str(self.home).encode() in cmdline and parent == 1:
                found.append(int(entry.name))
        return found

    def stop_everything(self) -> None:
        for pid in self.qemu_pids():
            os.kill(pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the soak's folder")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="desktopvm-soak-"))
    soak = Soak(home, args.machines, random.Random(args.seed))
    deadline = time.monotonic() + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            soak.step()
    finally:
        soak.stop_everything()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    tally = soak.tally
    print(f"soak {args.minutes:g} min, seed {args.seed}: {tally.operations} operations, "
          f"{tally.kills} CLI kills, {tally.qemu_kills} QEMU kills, {tally.refused} clear "
          f"refusals; crashes {len(tally.crashes)}, leaks {len(tally.leaks)}, "
          f"inconsistencies {len(tally.inconsistencies)}")
    for kind, items in (("crash", tally.crashes), ("leak", tally.leaks),
                        ("inconsistency", tally.inconsistencies)):
        for item in items[:20]:
            print(f"  {kind}: {item}")
    return 1 if tally.crashes or tally.leaks or tally.inconsistencies else 0


if __name__ == "__main__":
    sys.exit(main())
