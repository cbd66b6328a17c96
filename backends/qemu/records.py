"""What the QEMU backend remembers beside a machine's spec: runtime facts and the snapshot tree."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from desktopvm.paths import atomic_write_text
from desktopvm.protocol import CommandFailed, Snapshot

log = logging.getLogger(__name__)


class Record(BaseModel):
    """Tolerant JSON records: unknown keys from newer versions are ignored."""

    model_config = ConfigDict(extra="ignore")

    def save(self, path: Path) -> None:
        """Write atomically; a full disk or a refused write is a backend error, in words."""
        try:
            atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        except OSError as error:
            raise CommandFailed(f"Cannot write {path.name}: {error.strerror or error}",
                                details=f"{path}: {error!r}") from error


class Runtime(Record):
    """Written when QEMU starts, removed when it is known to have stopped."""

    pid: int
    run_dir: str
    accel: str
    started: str
    vnc_password: str = ""
    paused_for_save: bool = False


class SnapshotRecord(Record):
    """One snapshot. `tag` is the internal qcow2 snapshot name (never user text)."""

    id: str
    tag: str
    name: str
    description: str = ""
    created: str = ""
    has_memory: bool = False
    parent: str = ""
    # The machine's spec when the snapshot was taken (a spec file's JSON): restoring brings
    # the hardware back too. Empty for snapshots taken before DesktopVM kept it.
    spec: dict[str, Any] = {}


class SnapshotBook(Record):
    """The tree QEMU itself does not keep: parents, names, descriptions, the current one."""

    current: str = ""
    snapshots: list[SnapshotRecord] = []
    pending_loadvm: str = ""  # a memory snapshot restored while off: start resumes from it

    def find(self, snapshot_id: str) -> SnapshotRecord | None:
        return next((s for s in self.snapshots if s.id == snapshot_id), None)

    def tree(self) -> tuple[Snapshot, ...]:
        def children(parent: str) -> tuple[Snapshot, ...]:
            return tuple(Snapshot(s.id, s.name, s.description, s.created, s.has_memory,
                                  children(s.id)) for s in self.snapshots if s.parent == parent)
        return children("")

    def remove(self, snapshot_id: str) -> None:
        record = self.find(snapshot_id)
        if record is None:
            return
        for other in self.snapshots:
            if other.parent == snapshot_id:
                other.parent = record.parent
        self.snapshots = [s for s in self.snapshots if s.id != snapshot_id]
        if self.current == snapshot_id:
            self.current = record.parent
        if self.pending_loadvm == record.tag:
            self.pending_loadvm = ""


class Unreadable(Exception):
    """A record exists but cannot be read (damaged, cut short, or nested absurdly deep)."""


def _read(path: Path) -> Any:
    """The JSON in `path`; FileNotFoundError when absent, Unreadable when damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise Unreadable(f"{path}: {reason}") from None


def load_runtime(path: Path) -> Runtime | None:
    """The runtime record; None when absent; Unreadable when it exists but cannot be read.

    An unreadable record is no proof that QEMU stopped: callers must look further.
    """
    try:
        return Runtime.model_validate(_read(path))
    except FileNotFoundError:
        return None
    except ValidationError as error:
        raise Unreadable(f"{path}: {error}") from None


def load_book(path: Path) -> SnapshotBook:
    """The snapshot tree: empty when absent; Unreadable when it exists but cannot be read."""
    try:
        return SnapshotBook.model_validate(_read(path))
    except FileNotFoundError:
        return SnapshotBook()
    except ValidationError as error:
        raise Unreadable(f"{path}: {error}") from None


def set_aside(path: Path) -> Path:
    """Rename a damaged record to `NAME.damaged-<time>` (kept for the user), return the new path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        path.replace(target)
    except FileNotFoundError:  # another reader (the app, the CLI) set it aside first
        return target
    log.warning("%s was damaged; kept as %s", path, target.name)
    return target
