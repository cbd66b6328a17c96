"""Test-side control of the VMware stand-in: its folder, launchers, state and recorded calls."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from backends.vmware.backend import VMwareBackend
from backends.vmware.locate import Installation
from desktopvm.settings import Settings

FAKE = Path(__file__).resolve().with_name("fakevmware.py")
TOOLS = ("vmrun", "vmware-vdiskmanager", "vmware-vmx", "vmware")


def launcher(state: Path) -> str:
    """An executable that runs the stand-in on the state in `state` (python -S -E: stdlib
    only, ~30 ms a call); a sh wrapper where the interpreter's path cannot be a shebang."""
    python = sys.executable
    if " " not in python and len(python) < 120:
        return (f"#!{python} -SE\n"
                "import os, sys\n"
                f"os.environ['FAKE_VMWARE_STATE'] = {str(state)!r}\n"
                f"sys.path.insert(0, {str(FAKE.parent)!r})\n"
                "from fakevmware import main\n"
                "main()\n")
    return ("#!/bin/sh\n"
            f"FAKE_VMWARE_STATE={shlex.quote(str(state))} exec {shlex.quote(python)} -S -E -c "
            f"\"import sys; sys.argv[0] = '$0'; sys.path.insert(0, {str(FAKE.parent)!r}); "
            "from fakevmware import main; main()\" \"$@\"\n")


class FakeVMware:
    """A fake VMware product in `folder`: bin/ holds vmrun, vmware-vdiskmanager, vmware-vmx and
    vmware (the window); home/ is the user's (home/.vmware/inventory.vmls); home/vmware the
    default VM folder. `close()` ends the VNC servers (or guests) of machines left running."""

    def __init__(self, folder: Path, *, product: str = "ws", windows: bool = False,
                 version: str = "17.6.2") -> None:
        self.folder = folder
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.home = folder / "home"
        (self.home / ".vmware").mkdir(parents=True, exist_ok=True)
        self.default_folder = self.home / "vmware"
        self.default_folder.mkdir(exist_ok=True)
        self.product = product
        self.windows = windows
        state = {"running": [], "paused": [], "other_user": [], "tools": True,
                 "product": product, "version": version, "delay": {}, "disk_delay": 0.0,
                 # vmrun commands that fail with the given `Error:` text (faults for tests)
                 "fail": {},
                 # VMware's VNC server for machines whose .vmx turns it on (fakedisplay.py)
                 "display": "picture", "displays": {}}
        (folder / "state.json").write_text(json.dumps(state), "utf-8")
        for tool in TOOLS:
            path = self.bin / tool
            path.write_text(launcher(folder), "utf-8")
            path.chmod(0o755)

    def installation(self) -> Installation:
        inventory = None if self.product == "player" else self.home / ".vmware" / "inventory.vmls"
        return Installation(self.product, str(self.bin / "vmrun"),
                            str(self.bin / "vmware-vdiskmanager"), str(self.bin / "vmware-vmx"),
                            "", inventory, self.home / ".vmware" / "preferences",
                            self.default_folder, windows=self.windows)

    def backend(self) -> VMwareBackend:
        return VMwareBackend(Settings(), installation=self.installation(),
                             own_list=self.folder / "desktopvm-vmware.txt")

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.folder / "state.json").read_text("utf-8"))
        return state

    def set(self, **values: Any) -> None:
        state = self.state()
        state.update(values)
        (self.folder / "state.json").write_text(json.dumps(state), "utf-8")

    def calls(self, tool: str = "vmrun") -> list[list[str]]:
        path = self.folder / "calls.jsonl"
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        return [entry["argv"] for entry in map(json.loads, lines) if entry["tool"] == tool]

    def vnc_keys(self) -> list[dict[str, Any]]:
        """The key events the picture VNC servers received (fakevnc.py), oldest first."""
        path = self.folder / "vnc-keys.jsonl"
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def close(self) -> None:
        """Power off, as far as VNC goes: end every display process the stand-in started."""
        state = self.state()
        for pid in state.get("displays", {}).values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        self.set(displays={})
