"""The one door to VBoxManage: find it, run it with argv lists, time out, cancel, type errors.

Every VBoxManage process of the VirtualBox backend starts here. Rules (from Vagrant's
`driver/base.rb`, Packer's `driver_4_2.go` and VirtualBox's own sources):

- an argument list, never a shell string; machines are addressed by UUID by the callers;
- the C language (untranslated messages) with a UTF-8 code set where the host has one, so
  names with non-ASCII characters are not turned into `?` by VBoxManage's code-set conversion;
- `VBoxManage: error:` on stderr is a failure even with exit code 0; `startvm`'s success
  text wins over its exit code (some hosts return 1 after a successful start);
- VBOX_E_OBJECT_NOT_FOUND while finding a machine -> MachineNotFound; a locked session is
  retried a bounded number of times, then InvalidState; other invalid-state codes ->
  InvalidState at once;
- progress (`0%...10%...`) is read from stderr as it arrives;
- cancel first interrupts (VBoxManage cancels its progress object on SIGINT / Ctrl+Break, so
  VirtualBox stops the operation too) and kills after a grace period.
"""

from __future__ import annotations

import codecs
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.virtualbox.parse import (
    ProgressParser,
    VBoxError,
    normalise,
    parse_error,
    split_driver_warning,
)
from backends.virtualbox.versions import VBoxVersion, parse_version
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    TimedOut,
)

log = logging.getLogger(__name__)

ENV_OVERRIDE = "DESKTOPVM_VBOXMANAGE"
DEFAULT_TIMEOUT = 60.0
PROBE_TIMEOUT = 20.0
LOCK_RETRIES = 5
LOCK_RETRY_DELAY = 0.5
INTERRUPT_GRACE = 10.0
STARTED_TEXT = "has been successfully started"
# A failing call that says this is a broken installation, not a bad request. (A missing
# kernel driver is not: the launcher warns, and everything but starting machines works.)
BROKEN_INSTALL_TEXT = ("Failed to create the VirtualBox object",)
NOT_FOUND_CODES = {"VBOX_E_OBJECT_NOT_FOUND"}
STATE_CODES = {"VBOX_E_INVALID_OBJECT_STATE", "VBOX_E_INVALID_VM_STATE",
               "VBOX_E_INVALID_SESSION_STATE"}

ProgressCallback = Callable[[float, int], None]  # (fraction of the current run, run number)


def install_hint() -> str:
    """How to get VirtualBox on this OS."""
    if sys.platform.startswith("linux"):
        return ("Install VirtualBox from https://www.virtualbox.org/wiki/Linux_Downloads "
                "(or your distribution's package), then load its kernel module")
    if sys.platform == "darwin":
        return "Install VirtualBox from https://www.virtualbox.org/wiki/Downloads"
    return "Install VirtualBox from https://www.virtualbox.org/wiki/Downloads"


def _windows_install_dirs() -> list[str]:
    """Where the VirtualBox MSI says it installed itself (environment, then registry)."""
    dirs: list[str] = []
    for variable in ("VBOX_MSI_INSTALL_PATH", "VBOX_INSTALL_PATH"):
        dirs += [d for d in os.environ.get(variable, "").split(";") if d]
    if sys.platform == "win32":  # the guard also tells type checkers winreg exists here
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Oracle\VirtualBox") as key:
                dirs.append(str(winreg.QueryValueEx(key, "InstallDir")[0]))
        except OSError:
            pass
    program_files = os.environ.get("PROGRAMFILES", r"C:\Program Files")
    dirs.append(str(Path(program_files) / "Oracle" / "VirtualBox"))
    return dirs


def candidate_paths() -> list[str]:
    """Every place VBoxManage is looked for, in order (after the override and the setting)."""
    found = [shutil.which("VBoxManage"), shutil.which("vboxmanage")]
    if sys.platform == "win32":
        found += [str(Path(d) / "VBoxManage.exe") for d in _windows_install_dirs()]
    elif sys.platform == "darwin":
        found += ["/Applications/VirtualBox.app/Contents/MacOS/VBoxManage",
                  "/usr/local/bin/VBoxManage"]
    else:
        found += ["/usr/bin/VBoxManage", "/usr/local/bin/VBoxManage",
                  "/usr/lib/virtualbox/VBoxManage"]
    return [path for path in found if path]


def find_vboxmanage(configured: str = "") -> str | None:
    """$DESKTOPVM_VBOXMANAGE (overrides everything), the setting, then the usual places."""
    for explicit in (os.environ.get(ENV_OVERRIDE, ""), configured):
        if explicit:
            return explicit if Path(explicit).is_file() else shutil.which(explicit)
    return next((p for p in candidate_paths() if Path(p).is_file()), None)


def tool_environment(platform: str = sys.platform) -> dict[str, str]:
    """The environment VBoxManage runs in: untranslated messages, UTF-8 where possible.

    macOS has no C.UTF-8, and under plain C IPRT's conversion to the locale's code set
    (ASCII) turns non-ASCII into '?' (review V5, unverified on a Mac): en_US.UTF-8 is on
    every macOS and keeps English messages. Windows ignores these (see output_encoding).
    """
    if platform.startswith("linux"):
        locale = "C.UTF-8"
    elif platform == "darwin":
        locale = "en_US.UTF-8"
    else:
        locale = "C"
    return {**os.environ, "LANG": locale, "LC_ALL": locale, "LANGUAGE": ""}


def output_encoding(platform: str = sys.platform, ansi_code_page: int | None = None) -> str:
    """The encoding VBoxManage writes its output in (review V1).

    IPRT converts its UTF-8 text to the process code set; on Windows that is the ANSI code
    page ("If the ANSI codepage (CP_ACP) is UTF-8, no translation is needed", VirtualBox
    `src/VBox/Runtime/r3/win/utf8-win.cpp`), so José comes out as cp1252 and Japanese names
    as cp932. Elsewhere tool_environment() asks for a UTF-8 locale.
    """
    if platform != "win32":
        return "utf-8"
    if ansi_code_page is None:
        ansi_code_page = _windows_ansi_code_page()
    if ansi_code_page in (0, 65001):
        return "utf-8"
    name = f"cp{ansi_code_page}"
    try:
        codecs.lookup(name)
    except LookupError:
        return "mbcs"  # Windows' own converter for the ANSI code page
    return name


def _windows_ansi_code_page() -> int:
    if sys.platform == "win32":  # the guard also tells type checkers windll exists here
        import ctypes

        return int(ctypes.windll.kernel32.GetACP())
    return 0


CREATE_NEW_PROCESS_GROUP = 0x00000200  # Windows process creation flags (winbase.h)
CREATE_NO_WINDOW = 0x08000000
CTRL_BREAK_EVENT = 1
_CONSOLE_LOCK = threading.Lock()
_KEEP: list[object] = []  # the console control handler, kept alive for the process


def windows_creation_flags(has_console: bool) -> int:
    """How VBoxManage is started on Windows so that Ctrl+Break can reach it (review V2).

    Always its own process group (the break goes to it alone). A console event reaches only
    processes "attached to the same console as the process that called
    GenerateConsoleCtrlEvent" (Microsoft, Console Process Groups): with a console of our own
    (the CLI) VBoxManage shares it; without one (the app) it gets its own hidden console, which
    _send_ctrl_break attaches to for the moment of the break.
    """
    return CREATE_NEW_PROCESS_GROUP | (0 if has_console else CREATE_NO_WINDOW)


def _has_console() -> bool:
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        return bool(kernel32.GetConsoleWindow() or kernel32.GetConsoleCP())
    return False


def _send_ctrl_break(pid: int) -> bool:
    """Ctrl+Break to VBoxManage's process group (it then cancels VirtualBox's IProgress)."""
    if sys.platform != "win32":
        return False
    import ctypes

    kernel32 = ctypes.windll.kernel32
    if _has_console():  # VBoxManage shares our console (windows_creation_flags)
        return bool(kernel32.GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid))
    with _CONSOLE_LOCK:
        if not _KEEP:  # should the break reach us too, it must not end the app
            handler = ctypes.WINFUNCTYPE(ctypes.c_int, ctypes.c_uint)(
                lambda event: 1 if event == CTRL_BREAK_EVENT else 0)
            kernel32.SetConsoleCtrlHandler(handler, 1)
            _KEEP.append(handler)
        if not kernel32.AttachConsole(pid):
            return False
        try:
            return bool(kernel32.GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid))
        finally:
            kernel32.FreeConsole()


@dataclass(frozen=True)
class Result:
    """One finished VBoxManage run."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error(self) -> VBoxError | None:
        """The `VBoxManage: error:` lines, parsed."""
        return parse_error(self.stderr)


@dataclass
class CallStats:
    """Counts for the benchmark and for tests: logical calls and processes started."""

    calls: int = 0
    process_starts: int = 0
    retries: int = 0


def _is_lock(error: VBoxError) -> bool:
    return error.code in STATE_CODES and "locked" in " ".join(error.messages).lower()


def failure_for(result: Result) -> BackendError | None:
    """The typed error a finished run stands for, or None if it succeeded."""
    if result.argv[1:2] == ("startvm",) and STARTED_TEXT in result.stdout:
        return None  # the success text wins over the exit code
    error = result.error
    if error is None and result.exit_code == 0:
        return None
    command = list(result.argv)
    output = result.stdout + result.stderr
    if result.exit_code in (126, 127) or any(text in output for text in BROKEN_INSTALL_TEXT):
        return BackendUnavailable("VirtualBox is not installed correctly",
                                  f"command: {' '.join(command)}\n{result.stderr}",
                                  install_hint=install_hint())
    summary = error.summary if error else (normalise(result.stderr).strip().splitlines() or
                                           [f"exit code {result.exit_code}"])[-1]
    details = CommandFailed("", command=command, exit_code=result.exit_code,
                            stderr=result.stderr).details
    if error and error.code in NOT_FOUND_CODES and _names_a_machine(error):
        return MachineNotFound(summary, details)
    if error and error.code in STATE_CODES:
        return InvalidState(summary, details)
    return CommandFailed(f"VBoxManage {' '.join(result.argv[1:2])} failed: {summary}",
                         command=command, exit_code=result.exit_code, stderr=result.stderr)


def _names_a_machine(error: VBoxError) -> bool:
    text = " ".join(error.messages)
    return "FindMachine" in text or "registered machine" in text or "find a machine" in text


class VBoxManage:
    """Runs VBoxManage. Thread-safe; one instance per backend."""

    def __init__(self, executable: str, *, default_timeout: float = DEFAULT_TIMEOUT,
                 lock_retries: int = LOCK_RETRIES, lock_retry_delay: float = LOCK_RETRY_DELAY,
                 interrupt_grace: float = INTERRUPT_GRACE, encoding: str = "") -> None:
        self.executable = executable
        self.encoding = encoding or output_encoding()
        self.default_timeout = default_timeout
        self.lock_retries = lock_retries
        self.lock_retry_delay = lock_retry_delay
        self.interrupt_grace = interrupt_grace
        self.stats = CallStats()
        self._lock = threading.Lock()
        self._version: VBoxVersion | None = None
        self.driver_warning = ""  # the launcher's "no kernel driver" warning, once seen

    def _saw_driver_warning(self, line: str) -> None:
        with self._lock:
            first = not self.driver_warning
            self.driver_warning = self.driver_warning or line
        if first:
            log.warning("VirtualBox machines cannot start on this computer: its kernel driver "
                        "is missing (%s) Creating and changing machines still works.", line)

    def version(self) -> VBoxVersion:
        """The installed version, asked once."""
        if self._version is None:
            result = self.run(["--version"], timeout=PROBE_TIMEOUT, check=False)
            if any(text in result.stdout + result.stderr for text in BROKEN_INSTALL_TEXT):
                lines = (result.stdout + result.stderr).strip().splitlines()
                raise BackendUnavailable(f"VirtualBox cannot run: {lines[0] if lines else ''}",
                                         result.stdout + result.stderr,
                                         install_hint=install_hint())
            try:
                self._version = parse_version(result.stdout)
            except ValueError as error:
                raise BackendUnavailable("VBoxManage did not say its version", str(error),
                                         install_hint=install_hint()) from error
        return self._version

    def run(self, args: Sequence[str], *, timeout: float | None = None,
            cancel: CancelToken | None = None, on_progress: ProgressCallback | None = None,
            check: bool = True, retry_locked: bool = True) -> Result:
        """Run `VBoxManage *args`; raise the typed error on failure when `check`.

        `timeout` None means the default; long operations pass a generous value and rely on
        `cancel`. A locked session is retried `lock_retries` times with growing pauses.
        """
        if any(not isinstance(a, str) for a in args):
            raise TypeError(f"VBoxManage arguments must be strings: {args!r}")
        with self._lock:
            self.stats.calls += 1
        attempt = 0
        while True:
            result = self._run_once(args, timeout or self.default_timeout, cancel, on_progress)
            failure = failure_for(result)
            error = result.error
            locked = failure is not None and error is not None and _is_lock(error)
            if locked and retry_locked and attempt < self.lock_retries:
                delay = self.lock_retry_delay * (2 ** attempt)
                attempt += 1
                with self._lock:
                    self.stats.retries += 1
                log.info("VBoxManage %s: session locked, retry %d in %.1f s", args[:1], attempt,
                         delay)
                if cancel is not None and cancel.wait(delay):
                    raise OperationCancelled()
                if cancel is None:
                    time.sleep(delay)
                continue
            if failure is not None and check:
                raise failure
            return result

    def raise_for(self, result: Result) -> None:
        """Raise the typed error of a run made with check=False (if it failed)."""
        failure = failure_for(result)
        if failure is not None:
            raise failure

    # -- one process ------------------------------------------------------------------------
    def _run_once(self, args: Sequence[str], timeout: float, cancel: CancelToken | None,
                  on_progress: ProgressCallback | None) -> Result:
        argv = (self.executable, *args)
        log.debug("running %s", list(argv))
        if cancel is not None:
            cancel.raise_if_cancelled()
        flags = 0
        if sys.platform == "win32":  # so Ctrl+Break reaches VBoxManage alone (review V2)
            flags = windows_creation_flags(_has_console())
        started = time.monotonic()
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env=tool_environment(),
                                       creationflags=flags)
        except OSError as error:
            raise BackendUnavailable(f"VBoxManage cannot be started: {error.strerror or error}",
                                     f"command: {' '.join(argv)}",
                                     install_hint=install_hint()) from error
        with self._lock:
            self.stats.process_starts += 1
        stdout_chunks: list[bytes] = []
        stderr_text: list[str] = []
        readers = [
            threading.Thread(target=_read_all, args=(process.stdout, stdout_chunks), daemon=True),
            threading.Thread(target=_read_progress, args=(process.stderr, stderr_text,
                                                         on_progress, self.encoding),
                             daemon=True),
        ]
        for reader in readers:
            reader.start()
        cancelled = threading.Event()

        def stop_for_cancel() -> None:
            cancelled.set()
            threading.Thread(target=self._stop, args=(process,), daemon=True).start()

        unregister = cancel.on_cancel(stop_for_cancel) if cancel is not None else (lambda: None)
        # A timer ends an overdue process; wait() then blocks without polling (Popen.wait with
        # a timeout polls in up to 50 ms steps, which would add to every call).
        timed_out = threading.Event()

        def stop_for_timeout() -> None:
            timed_out.set()
            self._stop(process, grace=min(2.0, self.interrupt_grace))

        timer = threading.Timer(timeout, stop_for_timeout)
        timer.daemon = True
        timer.start()
        try:
            process.wait()
        finally:
            timer.cancel()
            unregister()
            for reader in readers:
                reader.join(10)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        if timed_out.is_set():
            raise TimedOut(f"VBoxManage {' '.join(args[:1])} did not finish within "
                           f"{timeout:.0f} s", " ".join(argv))
        stdout, warning = split_driver_warning(
            normalise(b"".join(stdout_chunks).decode(self.encoding, errors="replace")))
        stderr, warned_on_stderr = split_driver_warning(normalise("".join(stderr_text)))
        if warning or warned_on_stderr:
            self._saw_driver_warning(warning or warned_on_stderr)
        result = Result(tuple(argv), process.returncode, stdout, stderr,
                        time.monotonic() - started)
        if cancelled.is_set():
            raise OperationCancelled(details=f"command: {' '.join(argv)}\n{result.stderr}")
        return result

    def _stop(self, process: subprocess.Popen[bytes], grace: float | None = None) -> None:
        """Interrupt (VBoxManage then cancels VirtualBox's operation), kill after `grace`."""
        if process.poll() is not None:
            return
        try:
            if sys.platform == "win32":
                if not _send_ctrl_break(process.pid):
                    log.warning("could not send Ctrl+Break to VBoxManage %d; killing it, "
                                "VirtualBox may finish the operation", process.pid)
                    process.kill()
            else:
                process.send_signal(signal.SIGINT)
            process.wait(self.interrupt_grace if grace is None else grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            process.kill()


def _read_all(stream: object, chunks: list[bytes]) -> None:
    read = stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read(65536)
        if not chunk:
            return
        chunks.append(chunk)


def _read_progress(stream: object, text: list[str], on_progress: ProgressCallback | None,
                   encoding: str = "utf-8") -> None:
    """Collect stderr and report progress as soon as each chunk arrives (not at exit)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    parser = ProgressParser()
    read1 = getattr(stream, "read1", None) or stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read1(4096)
        if not chunk:
            text.append(decoder.decode(b"", final=True))
            return
        piece = decoder.decode(chunk)
        text.append(piece)
        if on_progress is not None:
            for fraction in parser.feed(piece):
                try:
                    on_progress(fraction, parser.run)
                except Exception:  # a broken progress callback must not kill the reader
                    log.exception("progress callback failed")
