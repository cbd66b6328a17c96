"""The one door to `qemu-storage-daemon`: an off machine's disks served over QMP for backups.

A running machine's QEMU answers block commands (dirty bitmaps, `blockdev-backup`) on its own
QMP socket; for a machine that is off, the storage daemon opens the same images and answers
the same commands, so backups work the same way whether the machine runs or not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backends.qemu import qmp
from backends.qemu.layout import runtime_root
from desktopvm.protocol import BackendError, BackendUnavailable, CommandFailed, TimedOut

log = logging.getLogger(__name__)

ENV_BINARY = "DESKTOPVM_QEMU_STORAGE_DAEMON"
START_TIMEOUT = 15.0
EXIT_TIMEOUT = 15.0
_LOCKED = '"write" lock'


@dataclass(frozen=True, slots=True)
class ServedImage:
    """One image the daemon opens, under a node name the QMP commands use."""

    node: str
    path: Path
    driver: str  # qemu's format name: "qcow2", "raw", "vpc", ...


def find_daemon() -> str | None:
    """qemu-storage-daemon: $DESKTOPVM_QEMU_STORAGE_DAEMON, else PATH (QEMU 5.0 and later)."""
    configured = os.environ.get(ENV_BINARY, "")
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured)
    return shutil.which("qemu-storage-daemon")


def _blockdev(image: ServedImage) -> str:
    # Our own library's disks: a linked clone's backing file is opened as its header says,
    # read-only, exactly as the machine's QEMU would open it.
    return json.dumps({"driver": image.driver, "node-name": image.node,
                       "file": {"driver": "file", "filename": str(image.path.absolute())}})


@contextmanager
def serving(images: Sequence[ServedImage]) -> Iterator[Path]:
    """The QMP socket of a daemon that has `images` open (read-write), for the block.

    The daemon dies with this process (a killed backup leaves no daemon holding the disks'
    locks) and is asked to quit when the block ends, so it writes the persistent dirty
    bitmaps into the images; if it does not go, it is killed.
    """
    binary = find_daemon()
    if binary is None:
        raise BackendUnavailable("qemu-storage-daemon is not installed",
                                 install_hint="sudo apt-get install qemu-system-x86 "
                                              "(Debian/Ubuntu ship it with QEMU)")
    folder = runtime_root() / f"sd-{secrets.token_hex(4)}"
    folder.mkdir(mode=0o700)
    sock = folder / "qmp.sock"
    argv = [binary]
    for image in images:
        argv += ["--blockdev", _blockdev(image)]
    argv += ["--chardev", f"socket,id=qmp,path={sock},server=on,wait=off",
             "--monitor", "chardev=qmp"]
    stderr_path = folder / "stderr"
    try:
        daemon = _spawn(argv, stderr_path)
        try:
            _wait_for_socket(daemon, sock, stderr_path, argv, images)
            try:
                yield sock
            finally:
                with contextlib.suppress(BackendError), qmp.connect(sock) as session:
                    session.execute("quit")
            try:
                daemon.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("qemu-storage-daemon did not quit; killing it")
        finally:
            _kill(daemon)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _spawn(argv: list[str], stderr_path: Path) -> subprocess.Popen[bytes]:
    command = argv
    if sys.platform.startswith("linux") and (setpriv := shutil.which("setpriv")):
        command = [setpriv, "--pdeathsig", "KILL", "--", *argv]  # dies with us
    log.debug("running %s", argv)
    with stderr_path.open("wb") as stderr:
        try:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=stderr,
                                    env={**os.environ, "LC_ALL": "C"}, start_new_session=True)
        except OSError as error:
            raise BackendUnavailable(f"Cannot run qemu-storage-daemon at {argv[0]}: {error}",
                                     str(error)) from error


def _wait_for_socket(daemon: subprocess.Popen[bytes], sock: Path, stderr_path: Path,
                     argv: list[str], images: Sequence[ServedImage]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not sock.exists():
        if daemon.poll() is not None:
            stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
            if _LOCKED in stderr:
                raise CommandFailed("A disk of this machine is in use by another program "
                                    "(is the machine running?)", command=argv,
                                    exit_code=daemon.returncode, stderr=stderr)
            first = next((line for line in stderr.splitlines() if line.strip()), "")
            raise CommandFailed(
                "qemu-storage-daemon could not open the disks: "
                + (first.split(": ", 1)[-1] or f"exit code {daemon.returncode}"),
                command=argv, exit_code=daemon.returncode, stderr=stderr,
                details="images: " + ", ".join(str(i.path) for i in images))
        if time.monotonic() > deadline:
            raise TimedOut("qemu-storage-daemon did not start", " ".join(argv))
        time.sleep(0.02)


def _kill(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(daemon.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    daemon.wait()
