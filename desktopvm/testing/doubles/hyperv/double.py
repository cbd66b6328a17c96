"""The test side of the PowerShell double: its environment, state file, faults and request log."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FAKE_POWERSHELL = Path(__file__).resolve().parent / "fake_powershell.py"


class FakeHost:
    """A fake Hyper-V host living in `folder` (state file, VM folders, disk files)."""

    def __init__(self, folder: Path) -> None:
        from desktopvm.testing.doubles.hyperv import (
            fake_hyperv,  # the double's own module, stdlib only
        )

        self.folder = folder
        self.state_file = folder / "hyperv-state.json"
        folder.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(fake_hyperv.initial_state(folder)), "utf-8")
        self.environment = {"DESKTOPVM_POWERSHELL": str(FAKE_POWERSHELL),
                            "DESKTOPVM_FAKE_HYPERV": str(self.state_file)}

    def state(self) -> dict[str, Any]:
        """The fake host's current state."""
        result: dict[str, Any] = json.loads(self.state_file.read_text("utf-8"))
        return result

    def update(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the state (between requests)."""
        state = self.state()
        change(state)
        self.state_file.write_text(json.dumps(state), "utf-8")

    def fault(self, op: str, mode: str, times: int = 1, **details: Any) -> None:
        """Queue a fault for the next `times` requests of `op` ('start' = session start)."""
        self.update(lambda s: s["faults"].setdefault(op, []).extend(
            [{"mode": mode, **details}] * times))

    def log(self) -> list[dict[str, Any]]:
        """Every request the double answered: [{'op': ..., 'args': ...}]."""
        entries: list[dict[str, Any]] = self.state()["log"]
        return entries

    def ops(self) -> list[str]:
        """Only the operation names of the log."""
        return [entry["op"] for entry in self.log()]


@contextmanager
def environment(host: FakeHost) -> Iterator[FakeHost]:
    """Point DESKTOPVM_POWERSHELL at the double for the duration (no pytest needed)."""
    saved = {key: os.environ.get(key) for key in host.environment}
    os.environ.update(host.environment)
    try:
        yield host
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
