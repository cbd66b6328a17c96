"""Test-side control of the VBoxManage double: its state folder, faults, recorded calls."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from backends.virtualbox.backend import VirtualBoxBackend
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.settings import Settings

FAKE = Path(__file__).resolve().with_name("fake_vboxmanage.py")
VERSIONS = {"6.1": "6.1.50r161033", "7.0": "7.0.20r163906", "7.1": "7.1.6r167084",
            "7.2": "7.2.0r168464"}


def launcher(folder: Path) -> str:
    """The text of an executable VBoxManage that runs the double on the state in `folder`.

    A Python script whose shebang is this interpreter with -S (no site-packages scan: the
    double is stdlib only) and -E; without a shell in between each call costs ~30 ms. Where
    the interpreter's path cannot go into a shebang, a tiny sh wrapper does the same.
    """
    python = sys.executable
    if " " not in python and len(python) < 120:
        return (f"#!{python} -SE\n"
                "import os, sys\n"
                f"os.environ['FAKE_VBOX_STATE'] = {str(folder)!r}\n"
                f"sys.path.insert(0, {str(FAKE.parents[4])!r})\n"
                "from desktopvm.testing.doubles.virtualbox.fakevbox.main import main\n"
                "main()\n")
    return ("#!/bin/sh\n"
            f"FAKE_VBOX_STATE={shlex.quote(str(folder))} exec {shlex.quote(python)} "
            f"-S -E {shlex.quote(str(FAKE))} \"$@\"\n")


class FakeVBox:
    """A fake VirtualBox in `folder`: `executable` is a VBoxManage that runs the double."""

    def __init__(self, folder: Path, version: str = "7.0", *, cpus: int = 4,
                 memory_mib: int = 8192) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.machine_folder = folder / "VirtualBox VMs"  # a space in it, as on real hosts
        state = {"version": VERSIONS.get(version, version),
                 "machine_folder": str(self.machine_folder),
                 "host": {"cpus": cpus, "memory": memory_mib}, "vms": {}, "media": {},
                 "unregistered": {}, "progress_delay": 0.0}
        (folder / "state.json").write_text(json.dumps(state), encoding="utf-8")
        (folder / "faults.json").write_text("[]", encoding="utf-8")
        self.executable = folder / "VBoxManage"
        self.executable.write_text(launcher(folder), encoding="utf-8")
        self.executable.chmod(0o755)

    # -- faults -----------------------------------------------------------------------------
    def fault(self, when: list[str], **rule: Any) -> None:
        """Add a fault rule (see fakevbox/main.py): stdout, stderr, exit, sleep, times, run."""
        faults = json.loads((self.folder / "faults.json").read_text(encoding="utf-8"))
        faults.append({"when": when, **rule})
        (self.folder / "faults.json").write_text(json.dumps(faults), encoding="utf-8")

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        (self.folder / "faults.json").write_text("[]", encoding="utf-8")

    def set(self, **values: Any) -> None:
        """Change top-level state (e.g. progress_delay)."""
        state = self.state()
        state.update(values)
        (self.folder / "state.json").write_text(json.dumps(state), encoding="utf-8")

    # -- inspection -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The double's whole state."""
        state: dict[str, Any] = json.loads((self.folder / "state.json").read_text("utf-8"))
        return state

    def calls(self) -> list[list[str]]:
        """Every argv the double received, in order."""
        path = self.folder / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["argv"] for line in path.read_text("utf-8").splitlines()]

    def call_records(self) -> list[dict[str, Any]]:
        """Every call with the locale it ran in."""
        path = self.folder / "calls.jsonl"
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()] \
            if path.exists() else []

    def forget_calls(self) -> None:
        """Start counting calls afresh."""
        (self.folder / "calls.jsonl").unlink(missing_ok=True)

    # -- backends ---------------------------------------------------------------------------
    def runner(self, **options: Any) -> VBoxManage:
        """The real door, pointed at the double (fast retries for tests)."""
        options.setdefault("lock_retry_delay", 0.01)
        options.setdefault("interrupt_grace", 2.0)
        return VBoxManage(str(self.executable), **options)

    def backend(self, **options: Any) -> VirtualBoxBackend:
        """A VirtualBoxBackend over the double."""
        return VirtualBoxBackend(Settings(), vbox=self.runner(**options))
