"""The machine library: VM folders with their specs, and each machine's power state.

State comes from the runtime record, process liveness and QMP `query-status`. A QEMU that
exits cleanly removes its sockets; one that died (killed, crashed) leaves them behind —
that is how an unexpected death is told apart and shown as `aborted`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from backends.qemu import process, qmp
from backends.qemu.layout import MachineFiles, RunFiles, runtime_root
from backends.qemu.records import Runtime, Unreadable, load_book, load_runtime, set_aside
from desktopvm.model import MachineSpec, SpecFileError, load_spec, save_spec
from desktopvm.protocol import (
    BackendError,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    PowerState,
)

log = logging.getLogger(__name__)

QMP_STATUS = {
    "running": PowerState.RUNNING,
    "paused": PowerState.PAUSED,
    "suspended": PowerState.PAUSED,
    "prelaunch": PowerState.STARTING,
    "inmigrate": PowerState.STARTING,
    "restore-vm": PowerState.STARTING,
    "finish-migrate": PowerState.STOPPING,
    "postmigrate": PowerState.STOPPING,
    "save-vm": PowerState.RUNNING,
    "shutdown": PowerState.STOPPING,
    "internal-error": PowerState.ABORTED,
    "guest-panicked": PowerState.ABORTED,
    "io-error": PowerState.PAUSED,
    "watchdog": PowerState.PAUSED,
    "colo": PowerState.RUNNING,
    "debug": PowerState.PAUSED,
}
STATUS_TIMEOUT = 2.0


LOCK_WAIT = 30.0


@dataclass
class _Cached:
    stamp: tuple[int, int, int]  # mtime, inode, size: an atomic replace changes the inode
    spec: MachineSpec


@contextmanager
def _flocked(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (other processes and other threads alike: each call
    opens its own file description). Waits up to LOCK_WAIT, then InvalidState."""
    try:
        import fcntl
    except ImportError:  # Windows: the per-process lock below is what we have
        with _THREAD_LOCKS.setdefault(str(path), threading.Lock()):
            yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InvalidState(busy) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


_THREAD_LOCKS: dict[str, threading.Lock] = {}


class MachineStore:
    """Reads and writes machines in one library folder."""

    def __init__(self, library: Path) -> None:
        self.library = library.expanduser().resolve()  # disk paths are compared resolved
        self._specs: dict[Path, _Cached] = {}

    def files(self, machine_id: str) -> MachineFiles:
        """The files of a machine that exists (MachineNotFound otherwise)."""
        if not machine_id or "/" in machine_id or "\\" in machine_id or machine_id in (".", ".."):
            raise MachineNotFound(f"No QEMU machine with id {machine_id!r}")
        files = MachineFiles(self.library / machine_id)
        if not files.spec.is_file():
            raise MachineNotFound(f"No QEMU machine with id {machine_id!r}",
                                  f"looked in {files.folder}")
        return files

    def all_files(self) -> list[MachineFiles]:
        """Every machine folder in the library."""
        if not self.library.is_dir():
            return []
        return [MachineFiles(p.parent) for p in sorted(self.library.glob("*/machine.json"))]

    def spec(self, files: MachineFiles) -> MachineSpec:
        """The machine's spec, re-read only when its file changed."""
        info = files.spec.stat()
        stamp = (info.st_mtime_ns, info.st_ino, info.st_size)
        cached = self._specs.get(files.spec)
        if cached is None or cached.stamp != stamp:
            cached = _Cached(stamp, load_spec(files.spec))
            self._specs[files.spec] = cached
        return cached.spec

    def locked(self, files: MachineFiles) -> AbstractContextManager[None]:
        """One changing operation at a time on a machine, across threads and processes."""
        return _flocked(files.lock, "Another operation (in this app or another program) is "
                        "still busy with this machine; try again when it has finished")

    def library_locked(self) -> AbstractContextManager[None]:
        """For what touches several machines' files at once: linked clones, base clean-up."""
        self.library.mkdir(parents=True, exist_ok=True)
        return _flocked(self.library / ".lock", "Another operation is changing the library's "
                        "shared disk images; try again in a moment")

    def save_spec(self, files: MachineFiles, spec: MachineSpec) -> None:
        """Write the spec file (atomically); a full disk is a backend error, in words."""
        try:
            save_spec(files.spec, spec)
        except OSError as error:
            raise CommandFailed(f"Cannot write the settings of {spec.name}: "
                                f"{error.strerror or error}", details=repr(error)) from error
        finally:
            self._specs.pop(files.spec, None)

    def sweep_abandoned(self) -> None:
        """Remove what killed operations left in the library (review D7).

        A folder still marked as being made, whose maker is gone, without a record, goes;
        so does an import's scratch folder whose importer is gone. A folder with a record
        is a machine: only its stale mark goes.
        """
        if not self.library.is_dir():
            return
        for mark in [*self.library.glob(f"*/{MAKING}"), *self.library.glob(f".import-*/{MAKING}")]:
            folder = mark.parent
            try:
                pid = int(mark.read_text(encoding="ascii").strip())
            except (OSError, ValueError):
                continue
            if process.pid_alive(pid):
                continue
            if (folder / "machine.json").exists() and not folder.name.startswith(".import-"):
                mark.unlink(missing_ok=True)
            else:
                log.warning("removing %s, left half-made by a killed operation", folder)
                shutil.rmtree(folder, ignore_errors=True)

    def readable(self) -> list[tuple[MachineFiles, MachineSpec]]:
        """Every machine whose spec file can be read; broken ones are logged and skipped."""
        return [(files, spec) for files, spec in self.listing() if isinstance(spec, MachineSpec)]

    def listing(self) -> list[tuple[MachineFiles, MachineSpec | str]]:
        """Every machine folder with its spec, or why its spec cannot be read (in words), so
        a damaged record is shown rather than silently missing (review D5, #21 §4)."""
        self.sweep_abandoned()
        result: list[tuple[MachineFiles, MachineSpec | str]] = []
        for files in self.all_files():
            try:
                result.append((files, self.spec(files)))
            except (SpecFileError, OSError) as error:
                log.warning("cannot read machine folder %s: %s", files.folder, error)
                result.append((files, f"Its record cannot be read ({error}); DesktopVM "
                                      "changes nothing in that folder"))
        return result

    # -- state ------------------------------------------------------------------------------
    def state(self, files: MachineFiles) -> PowerState:
        """The machine's power state right now (cleans up after a dead QEMU)."""
        try:
            runtime = load_runtime(files.runtime)
        except Unreadable as damaged:
            found = self._recovered_runtime(files, str(damaged))
            if found is None:
                return PowerState.UNKNOWN
            runtime = found or None
        if runtime is None:
            runtime = self._unrecorded_runtime(files)
        if runtime is not None:
            run = run_files(files, runtime)
            if process.pid_alive(runtime.pid, files.id):
                return self._live_state(run)
            died = run.qmp.exists()  # a clean exit removes the socket
            self.forget_runtime(files, runtime, aborted=died)
            if died:
                log.warning("QEMU of machine %s (pid %d) died unexpectedly; what it said is in "
                            "%s", files.id, runtime.pid, files.log)
        if files.aborted_marker.exists():
            return PowerState.ABORTED
        if files.saved_state.exists() or _pending_loadvm(files):
            return PowerState.SAVED
        return PowerState.OFF

    @staticmethod
    def _unrecorded_runtime(files: MachineFiles) -> Runtime | None:
        """A QEMU that runs without a runtime record: its start was killed (kill -9, a power
        cut of the terminal) after QEMU had daemonized and before the record was written.

        Found by the pid file in the machine's run folder (QEMU writes it as it starts),
        and believed only if that process is this machine's QEMU; so the machine shows as
        running and can be powered off, instead of "off" with a QEMU running for nobody.
        Not written to runtime.json here: a start still in progress writes the full record.
        """
        run = RunFiles(files.run_dir())
        try:
            pid = int(run.pid.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        if not process.pid_alive(pid, files.id):
            return None
        log.warning("QEMU of machine %s (pid %d) runs without a record (its start was "
                    "interrupted); taking it as running", files.id, pid)
        return Runtime(pid=pid, run_dir=str(run.folder), accel="", started="")

    @staticmethod
    def _recovered_runtime(files: MachineFiles, why: str) -> Runtime | Literal[False] | None:
        """runtime.json is damaged: find this machine's QEMU by its command line instead.

        A Runtime for a QEMU that runs (in the machine's own run folder); False when none
        runs (the damaged record is set aside); None when this system cannot tell — then the
        state is unknown, never off, and nothing is started or deleted (review D4).
        """
        pid = process.find_by_marker(files.id)
        if pid is None:
            log.warning("%s; cannot tell whether its QEMU runs", why)
            return None
        if pid:
            log.warning("%s; its QEMU (pid %d) still runs", why, pid)
            return Runtime(pid=pid, run_dir=str(files.run_dir()), accel="", started="")
        set_aside(files.runtime)
        return False

    @staticmethod
    def _live_state(run: RunFiles) -> PowerState:
        try:
            with qmp.connect(run.qmp, timeout=STATUS_TIMEOUT) as session:
                status = session.execute("query-status", timeout=STATUS_TIMEOUT)
        except BackendError as error:
            log.info("no status from %s: %s", run.qmp, error.summary)
            return PowerState.UNKNOWN
        return QMP_STATUS.get(str(status.get("status")), PowerState.UNKNOWN)

    @staticmethod
    def forget_runtime(files: MachineFiles, runtime: Runtime, *, aborted: bool) -> None:
        """QEMU is gone: remove its runtime record and sockets; remember an unexpected death."""
        if aborted:
            files.aborted_marker.write_text(f"QEMU exited unexpectedly; see {files.log}\n",
                                            encoding="utf-8")
        run = run_files(files, runtime)
        with contextlib.suppress(OSError, ValueError):
            process.kill_if_ours(int(run.swtpm_pid.read_text().strip()), str(run.swtpm_socket))
        shutil.rmtree(run.folder, ignore_errors=True)
        files.runtime.unlink(missing_ok=True)

    def running_runtime(self, files: MachineFiles) -> Runtime | None:
        """The runtime record of a machine whose QEMU is alive, else None."""
        try:
            runtime = load_runtime(files.runtime)
        except Unreadable as damaged:
            runtime = self._recovered_runtime(files, str(damaged)) or None
        runtime = runtime or self._unrecorded_runtime(files)
        if runtime is not None and process.pid_alive(runtime.pid, files.id):
            return runtime
        return None


    def require_running(self, files: MachineFiles, verb: str) -> RunFiles:
        """The run files of a machine whose QEMU is alive, else InvalidState."""
        runtime = self.running_runtime(files)
        if runtime is None:
            raise InvalidState(f"Cannot {verb} {self.spec(files).name}: it is not running")
        return run_files(files, runtime)

MAKING = ".making"  # in a folder being made, until it is complete: the maker's pid


def claim(folder: Path) -> Path:
    """Make `folder` (which must not exist), marked as being made by this process."""
    folder.mkdir(parents=True)
    (folder / MAKING).write_text(str(os.getpid()), encoding="ascii")
    return folder


def finished(folder: Path) -> None:
    """The folder is complete: it is no longer swept as abandoned."""
    (folder / MAKING).unlink(missing_ok=True)


def _pending_loadvm(files: MachineFiles) -> bool:
    """Whether a restored memory snapshot waits for the next start (unreadable: no)."""
    try:
        return bool(load_book(files.snapshots).pending_loadvm)
    except Unreadable:
        return False


def run_files(files: MachineFiles, runtime: Runtime) -> RunFiles:
    """The runtime folder a record names, if it is one of ours; else the machine's own."""
    recorded = Path(runtime.run_dir)
    if recorded.parent == runtime_root():
        return RunFiles(recorded)
    log.warning("ignoring run_dir %s of %s: not in the runtime folder", recorded, files.id)
    return RunFiles(files.run_dir())
