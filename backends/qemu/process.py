"""The one door to `qemu-system-x86_64` and `swtpm`: find, probe, launch detached, signal."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from desktopvm.protocol import BackendUnavailable, CommandFailed, TimedOut

log = logging.getLogger(__name__)

QEMU_ENV = "DESKTOPVM_QEMU"
ACCEL_ENV = "DESKTOPVM_QEMU_ACCEL"
PROBE_TIMEOUT = 15.0
LAUNCH_TIMEOUT = 60.0
LOG_KEEP = 1 << 20  # bytes of the previous run's log kept in `<log>.1`
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ")  # what `-msg timestamp=on` adds
# QEMU's last words that only say *that* something failed; the cause is a line above them
# (e.g. "Size mismatch: pc.ram: 0x4000000 != 0x8000000: Invalid argument" above "Error -22
# while loading VM state", as real QEMU 7.2 writes it when a snapshot's memory size differs).
_WRAPPERS = re.compile(r"^(Error -?\d+ while loading VM state"
                       r"|error while loading state (for instance|section id)\b.*"
                       r"|load of migration failed\b.*"
                       r"|Could not load snapshot\b.*)$", re.IGNORECASE)


def install_hint() -> str:
    """How to get QEMU on this OS."""
    if sys.platform.startswith("linux"):
        return ("sudo apt-get install qemu-system-x86 qemu-utils ovmf swtpm "
                "(Debian/Ubuntu; dnf install qemu-kvm edk2-ovmf swtpm on Fedora)")
    if sys.platform == "darwin":
        return "brew install qemu"
    return "install QEMU for Windows (qemu.org/download) and enable WHPX"


def find_qemu(configured: str = "") -> str | None:
    """The emulator binary: setting, then $DESKTOPVM_QEMU, then PATH."""
    for candidate in (configured, os.environ.get(QEMU_ENV, "")):
        if candidate:
            return candidate if Path(candidate).is_file() else shutil.which(candidate)
    return shutil.which("qemu-system-x86_64")


def find_swtpm() -> str | None:
    """The TPM emulator, if installed."""
    return shutil.which("swtpm")


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", argv)
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False, env={**os.environ, "LC_ALL": "C"},
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as error:
        raise BackendUnavailable(f"{argv[0]} is not installed", str(error),
                                 install_hint=install_hint()) from error
    except subprocess.TimeoutExpired as error:
        raise TimedOut(f"{Path(argv[0]).name} did not answer within {timeout:.0f} s",
                       " ".join(argv)) from error


def qemu_version(binary: str) -> str:
    """'7.2.22' from `qemu-system-x86_64 --version`."""
    result = _run([binary, "--version"], PROBE_TIMEOUT)
    if result.returncode != 0:
        raise CommandFailed("QEMU does not start", command=[binary, "--version"],
                            exit_code=result.returncode, stderr=result.stderr)
    first = result.stdout.splitlines()[0] if result.stdout else ""
    words = first.split()
    return words[words.index("version") + 1] if "version" in words else first


def accelerators(binary: str) -> set[str]:
    """Accelerators this QEMU was built with (`-accel help`)."""
    result = _run([binary, "-accel", "help"], PROBE_TIMEOUT)
    names = {line.strip() for line in result.stdout.splitlines()[1:] if line.strip()}
    return names or {"tcg"}


def launch(argv: Sequence[str], log: Path | None = None,
           timeout: float = LAUNCH_TIMEOUT) -> None:
    """Start QEMU with `-daemonize`: returns once the VM runs detached (it outlives us).

    QEMU's foreground parent exits only after the machine is set up, with a non-zero code if
    anything in the command line or the images was wrong. Its message is on stderr, or — when
    the command line names `log` with `-D` — in that log, where a daemonized QEMU also keeps
    writing what it says later (which would otherwise go to /dev/null). QEMU truncates the log
    when it opens it, so the previous run's log is kept first as `<log>.1`.
    """
    if log is not None:
        rotate_log(log)
    result = _run(argv, timeout)
    if result.returncode != 0:
        output = result.stderr
        if log is not None:
            output = "\n".join(part for part in (output.strip(), read_log_tail(log)) if part)
        summary = _summary(output.strip().splitlines(), argv[0]) or \
            f"exit code {result.returncode}"
        raise CommandFailed(f"QEMU could not start the machine: {summary}", command=argv,
                            exit_code=result.returncode, stderr=output,
                            details=f"QEMU's log: {log}" if log is not None else "")


def _summary(lines: Sequence[str], binary: str) -> str:
    """QEMU's last message; when that only wraps an error ("Error -22 while loading VM
    state"), the cause above it first, the wrapper after it in brackets."""
    messages = [m for m in (_message(line, binary).strip() for line in lines) if m]
    if not messages:
        return ""
    last = messages[-1]
    if not _WRAPPERS.match(last):
        return last
    cause = next((m for m in reversed(messages[:-1])
                  if not _WRAPPERS.match(m) and not m.lower().startswith("warning:")), "")
    return f"{cause} ({last})" if cause else last


def _message(line: str, binary: str) -> str:
    """A QEMU message without its timestamp and program name."""
    line = _TIMESTAMP.sub("", line)
    for prefix in (f"{binary}: ", f"{Path(binary).name}: "):
        line = line.removeprefix(prefix)
    return line


def rotate_log(log: Path, keep: int = LOG_KEEP) -> None:
    """Move a non-empty `log` to `<log>.1`, keeping at most its last `keep` bytes."""
    try:
        size = log.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    previous = log.with_name(log.name + ".1")
    if size > keep:
        with log.open("rb") as source:
            source.seek(size - keep)
            tail = source.read()
        previous.write_bytes(tail[tail.find(b"\n") + 1:])  # start at a whole line
        log.unlink()
    else:
        log.replace(previous)


def read_log_tail(log: Path, size: int = 64 * 1024) -> str:
    """The end of a log ('' when there is none)."""
    try:
        with log.open("rb") as source:
            source.seek(max(source.seek(0, os.SEEK_END) - size, 0))
            return source.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def start_swtpm(state_dir: Path, control_socket: Path, pid_file: Path, log_file: Path) -> None:
    """A TPM 2.0 emulator for one VM, detached; it ends when QEMU closes the connection."""
    binary = find_swtpm()
    if binary is None:
        raise BackendUnavailable("swtpm is not installed, so this machine's TPM cannot run",
                                 install_hint="sudo apt-get install swtpm")
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "socket", "--tpm2", "--tpmstate", f"dir={state_dir}",
            "--ctrl", f"type=unixio,path={control_socket}", "--pid", f"file={pid_file}",
            "--log", f"file={log_file}", "--terminate", "--daemon"]
    result = _run(argv, PROBE_TIMEOUT)
    if result.returncode != 0:
        raise CommandFailed("The TPM emulator did not start", command=argv,
                            exit_code=result.returncode, stderr=result.stderr)


def _proc_state(stat: Path) -> str:
    """The state letter of a /proc/.../stat file ("" when it is gone)."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def pid_alive(pid: int, marker: str = "") -> bool:
    """Whether the process runs (and, with `marker`, is ours: its command line contains it).

    A zombie counts as dead (some init systems never reap). The marker guards against a pid
    reused by an unrelated process after a reboot or crash left a stale record behind.
    """
    if marker and not _command_line_has(pid, marker):
        return False
    if pid <= 0:
        return False
    status = Path(f"/proc/{pid}/stat")
    if status.parent.parent.is_dir() and Path("/proc/self").exists():
        if _proc_state(status) not in ("Z", "X", ""):
            return True
        # A killed multi-threaded process shows its first thread as a zombie while the others
        # still exit; its files (and QEMU's image locks) are released only when all are gone.
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            return False
        return any(_proc_state(task / "stat") not in ("Z", "X", "") for task in tasks)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command_line_has(pid: int, marker: str) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self/cmdline").exists():
        return True  # no /proc (macOS, Windows): fall back to the pid alone
    try:
        return marker.encode() in cmdline.read_bytes()
    except OSError:
        return False


def find_by_marker(marker: str) -> int | None:
    """The pid of a live QEMU whose command line carries `marker`; 0 if there is none.

    None when this system cannot tell (no /proc): the caller must not assume "none".
    """
    proc = Path("/proc")
    if not (proc / "self" / "cmdline").exists():
        return None
    needle = marker.encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # A QEMU only: swtpm's or a CLI's command line may carry the same id.
        found = b"qemu-system" in Path(argv[0].decode("utf-8", "replace")).name.encode() \
            and any(needle in arg for arg in argv)
        if found and pid_alive(int(entry.name)):
            return int(entry.name)
    return 0


def kill_if_ours(pid: int, marker: str) -> None:
    """Kill the process only if its command line still carries `marker`."""
    if pid_alive(pid, marker):
        kill(pid)


def kill(pid: int) -> None:
    """Kill a process at once (SIGKILL where there is one)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def accel_override() -> str:
    """`$DESKTOPVM_QEMU_ACCEL` (tests set `tcg`), or ''."""
    return os.environ.get(ACCEL_ENV, "").strip()


def accel_usable(accel: str) -> bool:
    """Whether this user can use the accelerator (KVM needs read/write access to /dev/kvm)."""
    if accel == "kvm":
        return os.access("/dev/kvm", os.R_OK | os.W_OK)
    return accel in ("whpx", "hvf")


def wait_for_exit(pid: int, timeout: float, marker: str = "") -> bool:
    """Wait until the process is gone; True if it went within `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while pid_alive(pid, marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
