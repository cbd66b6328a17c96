"""Starting and stopping QEMU machines, and saving/restoring their state over QMP migration."""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backends.qemu import firmware_state, first_boot, process, qmp, snapshots
from backends.qemu.disks import Disks
from backends.qemu.inventory import MachineStore
from backends.qemu.inventory import run_files as store_run_files
from backends.qemu.layout import MachineFiles, RunFiles
from backends.qemu.plans import LaunchPlan, build_argv
from backends.qemu.records import Runtime
from desktopvm.model import MachineSpec, catalog
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    InvalidState,
    OperationCancelled,
    PowerState,
    Progress,
    TimedOut,
    states,
)
from desktopvm.protocol.states import Operation

log = logging.getLogger(__name__)

EXIT_TIMEOUT = 30.0
MIGRATION_TIMEOUT = 120.0


@dataclass(frozen=True)
class Launcher:
    """What starting a machine needs besides its files: the binary and how to run it."""

    binary: str
    accel: Callable[[], str]  # asked at each start: the first call probes the host
    check: Callable[[MachineSpec], None]  # raises InvalidSpec (an ISO or disk may have gone)
    vnc_password: bool


class Lifecycle:
    """Power operations of the QEMU backend."""

    def __init__(self, store: MachineStore, disks: Disks, launcher: Launcher) -> None:
        self.store = store
        self.disks = disks
        self.launcher = launcher

    @staticmethod
    def run_files(runtime: Runtime, files: MachineFiles | None = None) -> RunFiles:
        if files is not None:
            return store_run_files(files, runtime)
        return RunFiles(Path(runtime.run_dir))

    def require_running(self, files: MachineFiles, verb: str) -> RunFiles:
        """The run files of a machine whose QEMU is alive, else InvalidState."""
        return self.store.require_running(files, verb)

    def _require(self, files: MachineFiles, operation: Operation) -> RunFiles:
        states.require(operation, self.store.state(files), self.store.spec(files).name)
        return self.require_running(files, operation.value)

    def command(self, files: MachineFiles, command: str, operation: Operation) -> None:
        """A one-shot QMP command, if the machine's state allows `operation`."""
        run = self._require(files, operation)
        with qmp.connect(run.qmp) as session:
            session.execute(command)

    # -- start ------------------------------------------------------------------------------
    def start(self, files: MachineFiles) -> None:
        """Boot the machine (or resume its saved state) in a detached QEMU."""
        state = self.store.state(files)
        spec = self.store.spec(files)
        states.require(Operation.START, state, spec.name)
        self.launcher.check(spec)  # an ISO or disk may have gone since it was created
        files.aborted_marker.unlink(missing_ok=True)
        run = RunFiles(files.run_dir())
        shutil.rmtree(run.folder, ignore_errors=True)
        run.folder.mkdir(mode=0o700, parents=True)
        uefi = self.disks.firmware(spec)
        # Before a fresh store or TPM is made in place of one a killed restore left aside
        # (ensure_nvram does it too; a BIOS machine may still have a TPM).
        firmware_state.recover(files)
        self.disks.ensure_nvram(files, spec)
        if spec.firmware.tpm:
            process.start_swtpm(files.tpm_state, run.swtpm_socket, run.swtpm_pid,
                                files.folder / "swtpm.log")
        book = snapshots.load(files, self.disks.qemu_img)
        restoring = files.saved_state.exists()
        entry = catalog().get(spec.os)
        # An installer's one boot (Debian's unattended install): its kernel, initrd and
        # command line; dropped here when it was used before (first_boot.py).
        installer = first_boot.arguments(
            files, resuming=restoring or bool(book.pending_loadvm))
        plan = LaunchPlan(
            binary=self.launcher.binary,
            accel=self.launcher.accel(),
            machine_type=entry.backend_ids.get("qemu", "q35") if entry else "q35",
            run=run,
            nvram=files.nvram if uefi else None,
            uefi=uefi,
            tpm=spec.firmware.tpm,
            incoming="defer" if restoring else "",
            loadvm="" if restoring else book.pending_loadvm,
            vnc_password=self.launcher.vnc_password,
            log=files.log,
            extra=tuple(installer),
        )
        try:
            process.launch(build_argv(spec, plan), log=files.log)
            pid = int(run.pid.read_text().strip())
        except BaseException:
            self._kill_swtpm(run)
            shutil.rmtree(run.folder, ignore_errors=True)
            raise
        if installer:
            first_boot.launched(files)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        # VNC passwords are at most 8 characters; a new one each start.
        password = secrets.token_urlsafe(6)[:8] if plan.vnc_password else ""
        Runtime(pid=pid, run_dir=str(run.folder), accel=plan.accel, started=started,
                vnc_password=password).save(files.runtime)
        if password:
            with qmp.connect(run.qmp) as session:
                session.execute("set_password", {"protocol": "vnc", "password": password})
        if restoring:
            self._restore_saved_state(files, run)
        if book.pending_loadvm:
            book.pending_loadvm = ""
            book.save(files.snapshots)

    @staticmethod
    def _kill_swtpm(run: RunFiles) -> None:
        with contextlib.suppress(OSError, ValueError):
            process.kill_if_ours(int(run.swtpm_pid.read_text().strip()), str(run.swtpm_socket))

    # -- stop -------------------------------------------------------------------------------
    def power_off(self, files: MachineFiles) -> None:
        """Pull the plug (a clean QEMU exit). On a saved machine, discard the saved state."""
        state = self.store.state(files)
        book = snapshots.load(files, self.disks.qemu_img)
        stale_state = files.saved_state.exists() or bool(book.pending_loadvm)
        if state is PowerState.SAVED or (state is PowerState.ABORTED and stale_state):
            # Discard the saved state (also one that failed to resume and left it aborted).
            files.aborted_marker.unlink(missing_ok=True)
            files.saved_state.unlink(missing_ok=True)
            if book.pending_loadvm:
                book.pending_loadvm = ""
                book.save(files.snapshots)
            return
        states.require(Operation.POWER_OFF, state, self.store.spec(files).name)
        runtime = self.store.running_runtime(files)
        if runtime is None:
            raise InvalidState(f"Cannot power off {self.store.spec(files).name}: its QEMU "
                               "has already ended")
        self._quit(files, runtime)

    def _quit(self, files: MachineFiles, runtime: Runtime) -> None:
        run = self.run_files(runtime, files)
        try:
            with qmp.connect(run.qmp) as session:
                session.execute("quit")
        except BackendError as error:  # QEMU may drop the line before answering quit
            log.info("quit over QMP: %s", error.summary)
        if not process.wait_for_exit(runtime.pid, EXIT_TIMEOUT, files.id):
            process.kill_if_ours(runtime.pid, files.id)
            process.wait_for_exit(runtime.pid, EXIT_TIMEOUT, files.id)
        self.store.forget_runtime(files, runtime, aborted=False)

    # -- save / restore state ---------------------------------------------------------------
    def save_state(self, files: MachineFiles, progress: Progress, cancel: CancelToken) -> None:
        """Stop the CPUs, stream the machine's state to a file, and quit QEMU."""
        run = self._require(files, Operation.SAVE_STATE)
        runtime = self.store.running_runtime(files)
        assert runtime is not None
        partial = files.saved_state.with_name(files.saved_state.name + ".partial")
        run.migration.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(run.migration))
        listener.listen(1)
        listener.settimeout(MIGRATION_TIMEOUT)
        try:
            with qmp.connect(run.qmp) as session:
                was_running = session.execute("query-status").get("running", False)
                session.execute("stop")
                try:
                    progress(None, "Saving memory")
                    session.execute("migrate", {"uri": f"unix:{run.migration}"})
                    connection, _ = listener.accept()
                    with connection, partial.open("wb") as out:
                        connection.settimeout(MIGRATION_TIMEOUT)
                        while chunk := connection.recv(1 << 20):
                            if cancel.cancelled:
                                session.execute("migrate_cancel")
                                raise OperationCancelled()
                            out.write(chunk)
                    self._wait_migration(session)
                except BaseException:
                    partial.unlink(missing_ok=True)
                    if was_running:
                        with contextlib.suppress(Exception):
                            session.execute("cont")
                    raise
            partial.replace(files.saved_state)
        except (TimeoutError, OSError) as error:
            partial.unlink(missing_ok=True)
            raise CommandFailed("Saving the machine's state failed", details=repr(error)) \
                from error
        finally:
            listener.close()
            run.migration.unlink(missing_ok=True)
        progress(0.95, "Stopping QEMU")
        self._quit(files, runtime)

    @staticmethod
    def _wait_migration(session: qmp.Qmp) -> None:
        deadline = time.monotonic() + MIGRATION_TIMEOUT
        while True:
            status = session.execute("query-migrate").get("status", "")
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise CommandFailed(f"QEMU could not save the machine's state ({status})")
            if time.monotonic() > deadline:
                raise TimedOut("Saving the machine's state took too long")
            time.sleep(0.05)

    def _restore_saved_state(self, files: MachineFiles, run: RunFiles) -> None:
        """Feed the saved state to a QEMU started with `-incoming defer`, then resume."""
        try:
            self._feed_saved_state(files, run)
        except OSError as error:
            raise CommandFailed("QEMU could not resume the saved state (it may not match the "
                                "machine any more); Discard saved state lets it start afresh",
                                details=repr(error)) from error

    def _feed_saved_state(self, files: MachineFiles, run: RunFiles) -> None:
        with qmp.connect(run.qmp) as session:
            session.execute("migrate-incoming", {"uri": f"unix:{run.migration}"})
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sender, \
                    files.saved_state.open("rb") as state:
                sender.settimeout(MIGRATION_TIMEOUT)
                sender.connect(str(run.migration))
                sender.sendfile(state)
            deadline = time.monotonic() + MIGRATION_TIMEOUT
            while session.execute("query-status").get("status") == "inmigrate":
                if time.monotonic() > deadline:
                    raise TimedOut("Restoring the machine's saved state took too long")
                time.sleep(0.05)
            if not session.execute("query-status").get("running", False):
                session.execute("cont")
        files.saved_state.unlink(missing_ok=True)
