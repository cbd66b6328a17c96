"""The machines each local backend listed last, kept across runs: a backend gone at start-up
still shows its machines (greyed, with the reason) instead of nothing."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from desktopvm.paths import atomic_write_text, state_root
from desktopvm.protocol import MachineSummary, PowerState

log = logging.getLogger(__name__)
_FIELDS = ("backend", "id", "name", "host", "os", "cpus", "memory_mib")
_lock = threading.Lock()
_written: dict[Path, dict[str, list[dict[str, object]]]] = {}  # what each file holds now


def default_file() -> Path:
    """Where the last listings are kept."""
    return state_root() / "last-seen.json"


def remember(connection: str, machines: list[MachineSummary], file: Path | None = None) -> None:
    """Keep `connection`'s listing; writes only when it differs from what the file holds
    (the list is refreshed every few seconds). Never raises: this is a convenience."""
    path = file or default_file()
    rows = [{name: getattr(m, name) for name in _FIELDS} for m in machines]
    with _lock:
        kept = _written.get(path)
        if kept is None:
            kept = _read(path)
        if kept.get(connection) == rows:
            _written[path] = kept
            return
        kept = {**kept, connection: rows}
        try:
            atomic_write_text(path, json.dumps(kept, indent=1, sort_keys=True))
        except OSError as error:
            log.warning("could not keep the machine list in %s: %s", path, error)
            return
        _written[path] = kept


def recall(connection: str, file: Path | None = None) -> list[MachineSummary]:
    """`connection`'s machines as last listed, in state UNKNOWN (nobody can ask now)."""
    with _lock:
        rows = _read(file or default_file()).get(connection, [])
    machines = []
    for row in rows:
        try:
            machines.append(MachineSummary(
                backend=str(row["backend"]), id=str(row["id"]), name=str(row["name"]),
                state=PowerState.UNKNOWN, host=str(row["host"]), os=str(row["os"]),
                cpus=int(row["cpus"]), memory_mib=int(row["memory_mib"])))  # type: ignore[call-overload]
        except (KeyError, TypeError, ValueError):
            continue  # a row from an older or damaged file: skipped, the rest shown
    return machines


def _read(path: Path) -> dict[str, list[dict[str, object]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("ignoring the unreadable machine list %s: %s", path, error)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list)
            and all(isinstance(row, dict) for row in v)}
